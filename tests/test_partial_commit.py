"""Partial commits (docs/contract.md#operations, "Partial commits"): CommitPending with `lines` posts those
amounts of a pending entry and releases the rest of its reservation; every rule broken is its fault, on
SOAP 1.1 and 1.2, over SQLite and PostgreSQL; a retry returns the committed entry, the journal keeps the
committed lines and stays intact; and a partial commit racing a void and the entry's expiry on the 4-worker
PostgreSQL server ends with exactly one of them. (The client package's part is in tests/test_client.py.)
"""
from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from zeep.exceptions import Fault

from conftest import fault_detail, unique
from test_pending import _race, balance_of, sql

ZERO = Decimal("0.00")
FUND = [("cash", "DEBIT", "100.00"), ("sales", "CREDIT", "100.00")]
# 30.00 reserved on expense (debit) and cash (credit), the expense split over two lines.
HOLD = [("expense", "DEBIT", "10.00"), ("expense", "DEBIT", "20.00"), ("cash", "CREDIT", "30.00")]


def lines(*given: tuple) -> dict:
    return {"line": [{"account": account, "side": side, "amount": amount} for account, side, amount in given]}


def shown(entry) -> list[tuple]:
    return [(line.account, line.side, line.amount) for line in entry.lines.line]


def held_book(server, version: str):
    book = server.new_book(version, cash=("ASSET", "USD", True), sales=("INCOME", "USD"),
                           expense=("EXPENSE", "USD"))
    book.post("FUND", FUND, effective="2026-03-01")
    book.post("HOLD-1", HOLD, effective="2026-03-05", pending=True, pendingTimeoutSeconds=3600)
    return book


def fault_of(call, *args) -> tuple[str, str | None]:
    with pytest.raises(Fault) as caught:
        call(*args)
    detail = fault_detail(caught.value)
    return detail["code"], detail.get("field")


def sealed_records(server, book, kind: str) -> list[str]:
    """The content of the book's journal records of `kind`, once the queue (PostgreSQL) is sealed."""
    queued = "SELECT count(*) FROM journal_queue q JOIN books b ON b.id = q.book_id WHERE b.code = :book"
    deadline = time.monotonic() + 20
    while server.database_url.startswith("postgresql") and sql(server, queued, book=book.code) != [(0,)]:
        assert time.monotonic() < deadline, "queued records left unsealed"
        time.sleep(0.1)
    return [content for content, in sql(server, "SELECT r.content FROM journal_records r JOIN books b ON "
                                                "b.id = r.book_id WHERE b.code = :book AND r.kind = :kind "
                                                "ORDER BY r.sequence", book=book.code, kind=kind)]


@pytest.fixture(params=["11", "12"])
def version(request) -> str:
    return request.param


def test_a_partial_commit_posts_its_lines_and_releases_the_rest(server, version):
    book = held_book(server, version)
    assert balance_of(book, "cash") == (Decimal("100.00"), ZERO, ZERO, Decimal("30.00"), Decimal("100.00"),
                                        Decimal("70.00"))
    assert balance_of(book, "expense") == (ZERO, ZERO, Decimal("30.00"), ZERO, ZERO, ZERO)

    committed = book.service.CommitPending(book.code, "HOLD-1", lines(
        ("expense", "DEBIT", "12.5"), ("cash", "CREDIT", "12.50")))
    assert (committed.reference, committed.status, committed.effectiveDate) == ("HOLD-1", "POSTED", date(2026, 3, 5))
    assert shown(committed) == [("expense", "DEBIT", Decimal("12.50")), ("cash", "CREDIT", Decimal("12.50"))]
    assert shown(book.service.GetEntry(book.code, "HOLD-1")) == shown(committed)
    # 12.50 posted; the 17.50 left of the reservation is released on both accounts
    assert balance_of(book, "cash") == (Decimal("100.00"), Decimal("12.50"), ZERO, ZERO, Decimal("87.50"),
                                        Decimal("87.50"))
    assert balance_of(book, "expense") == (Decimal("12.50"), ZERO, ZERO, ZERO, Decimal("12.50"), Decimal("12.50"))
    page = book.service.GetStatement(book.code, "cash", date(2026, 3, 1), date(2026, 3, 31))
    assert [(line.reference, line.side, line.amount) for line in page.lines.line] == [
        ("FUND", "DEBIT", Decimal("100.00")), ("HOLD-1", "CREDIT", Decimal("12.50"))]

    # the same partial commit again (amounts in another notation) returns the entry and posts nothing;
    # so does a commit without lines; other lines, or a void, are too late
    again = book.service.CommitPending(book.code, "HOLD-1", lines(
        ("expense", "DEBIT", "12.500"), ("cash", "CREDIT", "12.5")))
    assert (again.id, again.status, shown(again)) == (committed.id, "POSTED", shown(committed))
    assert shown(book.service.CommitPending(book.code, "HOLD-1")) == shown(committed)
    assert fault_of(book.service.CommitPending, book.code, "HOLD-1", lines(
        ("expense", "DEBIT", "13.00"), ("cash", "CREDIT", "13.00"))) == ("NotPending", "reference")
    assert fault_of(book.service.VoidPending, book.code, "HOLD-1", None) == ("NotPending", "reference")
    assert balance_of(book, "cash")[:4] == (Decimal("100.00"), Decimal("12.50"), ZERO, ZERO)

    # the journal records the committed lines (in minor units), and rebuilding it from the rows agrees
    assert book.service.VerifyJournal(book.code, None, None).intact is True
    [content] = sealed_records(server, book, "PendingCommitted")
    assert [(line["account"], line["side"], line["amount"]) for line in json.loads(content)["lines"]] == [
        ("expense", "DEBIT", "1250"), ("cash", "CREDIT", "1250")]


def test_lines_on_one_account_and_side_share_what_the_entry_holds_there(server, version):
    book = held_book(server, version)
    # the entry holds 10.00 + 20.00 on expense's debit side: 25.00 fits, in one line or in two
    committed = book.service.CommitPending(book.code, "HOLD-1", lines(
        ("expense", "DEBIT", "5.00"), ("expense", "DEBIT", "20.00"), ("cash", "CREDIT", "25.00")))
    assert shown(committed) == [("expense", "DEBIT", Decimal("5.00")), ("expense", "DEBIT", Decimal("20.00")),
                                ("cash", "CREDIT", Decimal("25.00"))]
    assert balance_of(book, "expense") == (Decimal("25.00"), ZERO, ZERO, ZERO, Decimal("25.00"), Decimal("25.00"))
    assert balance_of(book, "cash") == (Decimal("100.00"), Decimal("25.00"), ZERO, ZERO, Decimal("75.00"),
                                        Decimal("75.00"))
    assert book.service.VerifyJournal(book.code, None, None).intact is True


REFUSALS = {
    "more than held on the account and side": (
        [("expense", "DEBIT", "30.01"), ("cash", "CREDIT", "30.01")], ("InvalidAmount", "lines[0].amount")),
    "two lines together more than held": (
        [("expense", "DEBIT", "20.00"), ("expense", "DEBIT", "10.01"), ("cash", "CREDIT", "30.01")],
        ("InvalidAmount", "lines[1].amount")),
    "an account the entry does not hold on": (
        [("sales", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00")], ("InvalidAmount", "lines[0].account")),
    "the other side of an account it holds on": (
        [("expense", "DEBIT", "1.00"), ("cash", "DEBIT", "1.00")], ("InvalidAmount", "lines[1].amount")),
    "an account not in the book": (
        [("nowhere", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00")], ("InvalidAmount", "lines[0].account")),
    "a zero amount": ([("expense", "DEBIT", "0"), ("cash", "CREDIT", "0")], ("InvalidAmount", "lines[0].amount")),
    "a negative amount": (
        [("expense", "DEBIT", "5.00"), ("cash", "CREDIT", "-5.00")], ("InvalidAmount", "lines[1].amount")),
    "finer than cents": (
        [("expense", "DEBIT", "1.005"), ("cash", "CREDIT", "1.005")], ("InvalidAmount", "lines[0].amount")),
    "unbalanced": ([("expense", "DEBIT", "10.00"), ("cash", "CREDIT", "9.00")], ("Unbalanced", "lines")),
    "one line": ([("expense", "DEBIT", "10.00")], ("TooFewLines", "lines")),
    "no line": ([], ("TooFewLines", "lines")),
    "more than 1000 lines": ([("expense", "DEBIT", "0.01")] * 1001, ("TooManyLines", "lines")),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_partial_commit_breaking_a_rule_is_refused_and_changes_nothing(server, version, case):
    book = held_book(server, version)
    given, expected = REFUSALS[case]
    assert fault_of(book.service.CommitPending, book.code, "HOLD-1", lines(*given)) == expected
    assert book.service.GetEntry(book.code, "HOLD-1").status == "PENDING"
    assert balance_of(book, "cash") == (Decimal("100.00"), ZERO, ZERO, Decimal("30.00"), Decimal("100.00"),
                                        Decimal("70.00"))
    # the entry can still be committed, in part
    assert book.service.CommitPending(book.code, "HOLD-1", lines(
        ("expense", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00"))).status == "POSTED"


def test_an_amount_that_is_no_number_is_a_schema_fault(server, version):
    book = held_book(server, version)
    assert fault_of(book.service.CommitPending, book.code, "HOLD-1", {"line": [
        {"account": "expense", "side": "DEBIT", "amount": "1.00"},
        {"account": "cash", "side": "CREDIT", "amount": "lots"}]}) == ("SchemaValidation", "lines[1].amount")


def test_a_partial_commit_of_what_cannot_be_committed(server, version):
    book = held_book(server, version)
    some = lines(("expense", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00"))
    assert fault_of(book.service.CommitPending, book.code, "FUND", some) == ("NotPending", "reference")
    assert fault_of(book.service.CommitPending, book.code, "NO-SUCH", some) == ("EntryNotFound", "reference")
    book.post("HOLD-2", HOLD, effective="2026-03-05", pending=True)
    book.service.VoidPending(book.code, "HOLD-2", None)
    assert fault_of(book.service.CommitPending, book.code, "HOLD-2", some) == ("NotPending", "reference")
    book.post("HOLD-3", HOLD, effective="2026-03-05", pending=True, pendingTimeoutSeconds=1)
    time.sleep(1.2)
    assert fault_of(book.service.CommitPending, book.code, "HOLD-3", some) == ("PendingExpired", "reference")
    assert balance_of(book, "cash")[2:4] == (ZERO, Decimal("30.00"))


# --- a partial commit racing a void and the expiry, on PostgreSQL with four workers ---

RACE_ROUNDS = 10


@pytest.mark.postgres
def test_a_partial_commit_a_void_and_the_expiry_racing_end_with_exactly_one(postgres_live):
    server = postgres_live
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", [("cash", "DEBIT", "1000.00"), ("sales", "CREDIT", "1000.00")])
    committers = [server.zeep().service for _ in range(2)]
    voiders = [server.zeep().service for _ in range(2)]
    part = lines(("expense", "DEBIT", "4.00"), ("cash", "CREDIT", "4.00"))
    finals, references = [], []
    for round_ in range(RACE_ROUNDS):
        reference = unique("HOLD-")
        references.append(reference)
        expires_at = book.post(reference, [("expense", "DEBIT", "10.00"), ("cash", "CREDIT", "10.00")],
                               pending=True, pendingTimeoutSeconds=1).pendingExpiresAt
        # From 250 ms before the entry lapses to 250 ms after: the rounds near the instant race the clock.
        aim = expires_at + timedelta(milliseconds=-250 + 500 * round_ / (RACE_ROUNDS - 1))
        time.sleep(max(0.0, (aim - datetime.now(timezone.utc)).total_seconds()))
        outcomes = _race([lambda s=s: s.CommitPending(book.code, reference, part).status for s in committers] +
                         [lambda s=s: s.VoidPending(book.code, reference, None).status for s in voiders])
        final = book.service.GetEntry(book.code, reference).status
        finals.append(final)
        expected = {"POSTED": ["POSTED", "POSTED", "NotPending", "NotPending"],
                    "VOIDED": ["NotPending", "NotPending", "VOIDED", "VOIDED"],
                    "EXPIRED": ["PendingExpired"] * 4}[final]
        assert outcomes == expected, (round_, final, outcomes)
    assert "EXPIRED" in finals and {"POSTED", "VOIDED"} & set(finals), finals
    spent = Decimal("4.00") * finals.count("POSTED")
    assert balance_of(book, "cash") == (Decimal("1000.00"), spent, ZERO, ZERO, Decimal("1000.00") - spent,
                                        Decimal("1000.00") - spent)
    assert balance_of(book, "expense") == (spent, ZERO, ZERO, ZERO, spent, spent)
    # the journal says each entry was settled once, as it ended (an expiry is recorded when something
    # releases the lapsed reservation, which may not have happened yet)
    settled = dict(sql(server, "SELECT e.reference, string_agg(r.kind, ',') FROM entries e JOIN books b "
                               "ON b.id = e.book_id LEFT JOIN journal_records r ON r.entry_id = e.id "
                               "AND r.kind <> 'EntryRecorded' WHERE b.code = :book AND e.status = 'PENDING' "
                               "GROUP BY e.reference ORDER BY min(e.id)", book=book.code))
    recorded = [settled[reference] for reference in references]
    for final, kinds in zip(finals, recorded):
        assert kinds in {"POSTED": {"PendingCommitted"}, "VOIDED": {"PendingVoided"},
                         "EXPIRED": {None, "PendingExpired"}}[final], (finals, recorded)
    assert book.service.VerifyJournal(book.code, None, None).intact is True

