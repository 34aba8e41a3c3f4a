"""PostEntries (docs/contract.md#operations, #faults): batches of up to 1000 entries, judged in order, atomic or not,
idempotent through their references, over real HTTP with zeep on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

import psycopg
import pytest
import requests
from lxml import etree
from zeep.exceptions import Fault

from conftest import TNS, envelope, fault_detail, post_raw


def entry(reference: str, *lines: tuple[str, str, str], effective: str = "2026-02-01", **extra) -> dict:
    return {"reference": reference, "effectiveDate": effective, **extra,
            "lines": {"line": [{"account": a, "side": s, "amount": amount} for a, s, amount in lines]}}


def transfer(reference: str, debit: str, credit: str, amount: str, **extra) -> dict:
    return entry(reference, (debit, "DEBIT", amount), (credit, "CREDIT", amount), **extra)


def post_entries(book, entries: list[dict], atomic: bool):
    # zeep hands the results/result wrapper back as the list of its items.
    return book.service.PostEntries(book.code, {"entry": entries}, atomic)


def outcome(result) -> tuple:
    """(reference, 'entry', entry id) or (reference, fault code, field, index)."""
    assert (result.entry is None) != (result.fault is None), result
    if result.entry is not None:
        return result.reference, "entry", result.entry.id
    return result.reference, result.fault.code, result.fault.field, result.fault.index


def test_a_mixed_batch_gets_one_result_per_entry_in_order(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), bank=("ASSET", "USD"))
    original = book.post("OLD-1", [("cash", "DEBIT", "5.00"), ("sales", "CREDIT", "5.00")], effective="2026-02-01")

    results = post_entries(book, [
        transfer("B-0", "cash", "sales", "10.00"),                                   # posts
        entry("B-1", ("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "2.00")),         # Unbalanced
        transfer("B-2", "bank", "cash", "15.00"),     # cash holds 5 + 10 only because of B-0: posts
        transfer("B-3", "bank", "cash", "0.01"),      # cash is at zero after B-2: InsufficientBalance
        transfer("OLD-1", "cash", "sales", "5.00"),   # replay of an existing entry: the original
        transfer("OLD-1", "cash", "sales", "6.00"),   # the existing reference with other content
        transfer("B-0", "cash", "sales", "10.00"),    # same reference, same content, in the batch
        transfer("B-0", "cash", "sales", "11.00"),    # same reference, other content
        transfer("B-8", "nowhere", "sales", "1.00"),  # AccountNotFound
        transfer("B-9", "sales", "bank", "2.50", description="last"),
    ], atomic=False)

    assert len(results) == 10
    got = [outcome(r) for r in results]
    first = got[0][2]
    assert got[0] == ("B-0", "entry", first)
    assert got[1] == ("B-1", "Unbalanced", "entry.lines", 1)
    assert got[2][:2] == ("B-2", "entry")
    assert got[3] == ("B-3", "InsufficientBalance", "entry.lines[1].amount", 3)
    assert got[4] == ("OLD-1", "entry", original.id)
    assert got[5] == ("OLD-1", "ReferenceConflict", "entry.reference", 5)
    assert got[6] == ("B-0", "entry", first)
    assert got[7] == ("B-0", "ReferenceConflict", "entry.reference", 7)
    assert got[8] == ("B-8", "AccountNotFound", "entry.lines[0].account", 8)
    assert got[9][:2] == ("B-9", "entry")
    assert results[9].entry.description == "last" and results[9].entry.status == "POSTED"
    assert [(l.account, l.side, l.amount, l.currency) for l in results[2].entry.lines.line] == [
        ("bank", "DEBIT", Decimal("15.00"), "USD"), ("cash", "CREDIT", Decimal("15.00"), "USD")]
    assert results[3].fault.message

    assert book.balance("cash").balance == Decimal("0.00")
    assert book.balance("bank").balance == Decimal("12.50")
    assert book.balance("sales").balance == Decimal("12.50")
    assert book.service.GetEntry(book.code, "B-2").id == got[2][2]
    for missing in ("B-1", "B-3", "B-8"):
        with pytest.raises(Fault):
            book.service.GetEntry(book.code, missing)
    trial = book.service.GetTrialBalance(book.code)
    assert [(t.currency, t.debit, t.credit) for t in trial.totals.total] == [
        ("USD", Decimal("12.50"), Decimal("12.50"))]


def test_an_atomic_batch_with_one_bad_entry_writes_nothing(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"))
    with pytest.raises(Fault) as caught:
        post_entries(book, [
            transfer("A-0", "cash", "sales", "10.00"),
            transfer("A-1", "sales", "cash", "4.00"),
            transfer("A-2", "sales", "cash", "7.00"),  # cash would hold -1.00
            transfer("A-3", "cash", "sales", "1.00"),
        ], atomic=True)
    assert fault_detail(caught.value) == {"code": "InsufficientBalance", "message": caught.value.message,
                                          "field": "entry.lines[1].amount", "index": "2"}
    assert book.balance("cash").balance == Decimal("0.00")
    with pytest.raises(Fault):
        book.service.GetEntry(book.code, "A-0")

    results = post_entries(book, [transfer("A-0", "cash", "sales", "10.00"), transfer("A-1", "sales", "cash", "4.00")],
                           atomic=True)
    assert [outcome(r)[:2] for r in results] == [("A-0", "entry"), ("A-1", "entry")]
    assert book.balance("cash").balance == Decimal("6.00")


def test_more_than_1000_entries_is_batch_too_large(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    entries = [transfer(f"L-{i}", "cash", "sales", "1.00") for i in range(1001)]
    for atomic in (False, True):
        with pytest.raises(Fault) as caught:
            post_entries(book, entries, atomic)
        assert fault_detail(caught.value)["code"] == "BatchTooLarge"
    assert book.balance("cash").balance == Decimal("0.00")


def test_a_retried_batch_posts_nothing_twice(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    entries = [transfer(f"R-{i}", "cash", "sales", f"{i + 1}.00") for i in range(20)]
    first = [outcome(r) for r in post_entries(book, entries, atomic=False)]
    again = [outcome(r) for r in post_entries(book, entries, atomic=True)]
    assert again == first and all(kind == "entry" for _, kind, _ in first)
    assert book.balance("cash").balance == Decimal(sum(range(1, 21))).quantize(Decimal("0.01"))


def test_the_result_validates_against_the_contract_and_an_empty_batch_is_empty(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    body = (f"<l:PostEntries><l:book>{book.code}</l:book><l:entries>"
            "<l:entry><l:reference>V-1</l:reference><l:effectiveDate>2026-02-01</l:effectiveDate><l:lines>"
            "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1</l:amount></l:line>"
            "<l:line><l:account>sales</l:account><l:side>CREDIT</l:side><l:amount>1</l:amount></l:line>"
            "</l:lines></l:entry>"
            "<l:entry><l:reference>V-2</l:reference><l:effectiveDate>2026-02-01</l:effectiveDate><l:lines>"
            "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1</l:amount></l:line>"
            "</l:lines></l:entry>"
            "</l:entries><l:atomic>false</l:atomic></l:PostEntries>")
    response = post_raw(server, envelope("11", body))
    assert response.status_code == 200, response.text
    document = etree.fromstring(response.content)
    results = document.find(f".//{{{TNS}}}PostEntriesResponse")
    schema = etree.XMLSchema(etree.fromstring(etree.tostring(etree.fromstring(
        server_wsdl(server)).find("{http://schemas.xmlsoap.org/wsdl/}types/{http://www.w3.org/2001/XMLSchema}schema"))))
    schema.assertValid(results)
    fault = results.find(f"{{{TNS}}}results/{{{TNS}}}result/{{{TNS}}}fault")
    assert [(child.tag.split("}")[1], child.text) for child in fault] == [
        ("code", "TooFewLines"), ("message", fault[1].text), ("field", "entry.lines"), ("index", "1")]
    assert not post_entries(book, [], atomic=True)  # an empty results wrapper, which zeep reads as None


def server_wsdl(server) -> bytes:
    return requests.get(f"{server.endpoint('11')}?wsdl", timeout=30).content


def test_a_1000_entry_batch_is_one_fast_request(server):
    book = server.new_book(cash=("ASSET", "USD"), bank=("ASSET", "USD"), sales=("INCOME", "USD"),
                           fees=("EXPENSE", "USD"))
    entries = [entry(f"K-{i}", ("cash" if i % 2 else "bank", "DEBIT", "1.50"), ("fees", "DEBIT", "0.50"),
                     ("sales", "CREDIT", "2.00"), effective=f"2026-01-{i % 28 + 1:02d}") for i in range(1000)]
    started = time.perf_counter()
    results = post_entries(book, entries, atomic=True)
    batch_seconds = time.perf_counter() - started
    assert len(results) == 1000 and all(r.entry is not None for r in results)
    assert len({r.entry.id for r in results}) == 1000
    assert book.balance("sales").balance == Decimal("2000.00")
    assert book.balance("cash").balance == Decimal("750.00")
    statement = book.service.GetStatement(book.code, "fees", "2026-01-01", "2026-01-31", 1000)
    assert len(statement.lines.line) == 1000 and statement.closingBalance == Decimal("500.00")

    singles = [transfer(f"S-{i}", "cash", "sales", "1.00") for i in range(200)]
    started = time.perf_counter()
    for single in singles:
        book.service.PostEntry(book.code, single)
    single_seconds = (time.perf_counter() - started) * 1000 / len(singles)
    print(f"\n[{server.database_url.split(':')[0]}] 1000-entry PostEntries: {batch_seconds:.2f} s; "
          f"1000 PostEntry calls (extrapolated from {len(singles)}): {single_seconds:.2f} s")


@pytest.mark.postgres
def test_overlapping_concurrent_batches_post_each_reference_once(postgres_live):
    book = postgres_live.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), bank=("ASSET", "USD"))
    # Every batch shares references with the others, in different orders and with different accounts' locks.
    batches = []
    for n in range(6):
        refs = [f"C-{(n * 7 + i) % 60}" for i in range(40)]
        batches.append([transfer(ref, "cash" if int(ref[2:]) % 2 else "bank", "sales", "1.00") for ref in refs])
    outcomes, errors = [], []
    barrier = threading.Barrier(len(batches))

    def run(entries):
        service = postgres_live.zeep().service
        try:
            barrier.wait(60)
            results = service.PostEntries(book.code, {"entry": entries}, False)
            outcomes.append({r.reference: r.entry.id for r in results if r.entry is not None})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    references = {e["reference"] for b in batches for e in b}
    ids: dict[str, set] = {}
    assert len(outcomes) == len(batches)
    for seen in outcomes:
        for reference, entry_id in seen.items():
            ids.setdefault(reference, set()).add(entry_id)
    assert set(ids) == references and all(len(v) == 1 for v in ids.values())
    with psycopg.connect(postgres_live.database_url) as connection:
        rows = connection.execute(
            "SELECT e.reference, count(*) FROM entries e JOIN books b ON b.id = e.book_id WHERE b.code = %s "
            "GROUP BY e.reference", (book.code,)).fetchall()
    assert sorted(rows) == sorted((reference, 1) for reference in references)
    assert book.balance("sales").balance == Decimal(len(references)).quantize(Decimal("0.01"))
