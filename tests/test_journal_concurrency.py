"""The journal under concurrent writers (docs/contract.md#journal): eight threads write into one book for
some seconds on the 4-worker PostgreSQL server, through accounts they all share and accounts of their
own: single entries, atomic and non-atomic batches, pending entries that two threads race to commit and
to void, pending entries left to expire, reversals. Afterwards the book's journal numbers its records
1..head with no gap, its head is its last record, it verifies intact, every entry and every pending
outcome has exactly one record, and there are exactly as many records as the changes the writers made.
And a new book's first two sealers, the second finding records the first did not, take turns; and a
queue longer than one transaction seals is sealed in order by several.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
import pytest
from zeep.exceptions import Fault

from conftest import fault_detail, start_server
from ledger_service.service_layer.journal import SEALED_AT_ONCE
from test_logs import log_records

WRITERS = 8
OPERATIONS_PER_WRITER = 120
SECONDS = 12
HOT = ("hot-cash", "hot-sales")
# LEDGER_JOURNAL_SEAL_SECONDS as the shared server has it (its default).
SEAL_SECONDS = 1.0


@dataclass
class Tally:
    """The changes one writer made, as the service answered them."""

    entries: int = 0
    settled: Counter = field(default_factory=Counter)  # PendingCommitted / PendingVoided
    lapsing: int = 0  # pending entries left to expire
    contested: int = 0
    posted: list[str] = field(default_factory=list)  # references of posted entries it may reverse


def entry(reference: str, debit: str, credit: str, **extra) -> dict:
    lines = [{"account": debit, "side": "DEBIT", "amount": "1.00"},
             {"account": credit, "side": "CREDIT", "amount": "1.00"}]
    return {"reference": reference, "effectiveDate": "2026-06-01", **extra, "lines": {"line": lines}}


def settle(call, *args) -> bool:
    """True when this settlement won, False when the other one had (NotPending)."""
    try:
        call(*args)
        return True
    except Fault as fault:
        assert fault_detail(fault)["code"] == "NotPending", fault
        return False


def race_to_settle(service, rival, book: str, reference: str) -> str:
    """Commits a pending entry while another thread voids it, both let go at once; the kind of record
    that the one that won made."""
    start, voided = threading.Barrier(2), []

    def void():
        start.wait(30)
        try:
            voided.append(settle(rival.VoidPending, book, reference, "raced"))
        except Exception as error:  # shown by the assertion below: lost with this thread otherwise
            voided.append(error)
    voiding = threading.Thread(target=void)
    voiding.start()
    start.wait(30)
    committed = settle(service.CommitPending, book, reference)
    voiding.join(60)
    assert not voiding.is_alive(), f"VoidPending of {reference} unanswered after 60 s"
    assert voided == [not committed], (reference, committed, voided)
    return "PendingCommitted" if committed else "PendingVoided"


def writer(server, book: str, number: int, deadline: float) -> Tally:
    service, rival = server.zeep().service, server.zeep().service
    rng = random.Random(number)
    cold = (f"cold-cash-{number}", f"cold-sales-{number}")
    tally = Tally()
    for n in range(OPERATIONS_PER_WRITER):
        if time.monotonic() > deadline:
            break
        debit, credit = HOT if rng.random() < 0.6 else cold
        reference = f"W{number}-{n}"
        choice = rng.random()
        if choice < 0.3:
            service.PostEntry(book, entry(reference, debit, credit))
            tally.entries += 1
            tally.posted.append(reference)
        elif choice < 0.45:
            atomic = rng.random() < 0.5
            batch = [entry(f"{reference}-{i}", debit, credit) for i in range(3)]
            if rng.random() < 0.5:  # one entry the book refuses: an atomic batch posts none then
                batch[1] = entry(f"{reference}-1", debit, "no-such-account")
            try:
                results = service.PostEntries(book, {"entry": batch}, atomic)
                tally.entries += sum(result.entry is not None for result in results)
            except Fault as fault:
                assert atomic and fault_detail(fault)["code"] == "AccountNotFound", fault
        elif choice < 0.65:
            service.PostEntry(book, entry(reference, debit, credit, pending=True))
            tally.entries += 1
            tally.contested += 1
            tally.settled[race_to_settle(service, rival, book, reference)] += 1
        elif choice < 0.8:
            service.PostEntry(book, entry(reference, debit, credit, pending=True, pendingTimeoutSeconds=1))
            tally.entries += 1
            tally.lapsing += 1
        elif tally.posted:
            original = tally.posted.pop(rng.randrange(len(tally.posted)))
            service.ReverseEntry(book, original, f"REV-{original}", None, None)
            tally.entries += 1
    return tally


def rows(server, query: str, *parameters) -> list[tuple]:
    with psycopg.connect(server.database_url) as connection:
        return connection.execute(query, parameters).fetchall()


def test_concurrent_writers_leave_one_gapless_chain_with_a_record_per_change(postgres_live):
    server = postgres_live
    accounts = {HOT[0]: ("ASSET", "USD"), HOT[1]: ("INCOME", "USD")}
    for number in range(WRITERS):
        accounts[f"cold-cash-{number}"], accounts[f"cold-sales-{number}"] = ("ASSET", "USD"), ("INCOME", "USD")
    book = server.new_book(**accounts)
    started = time.monotonic()
    with ThreadPoolExecutor(WRITERS) as pool:
        running = [pool.submit(writer, server, book.code, number, started + SECONDS) for number in range(WRITERS)]
        tallies = [done.result(timeout=SECONDS + 120) for done in running]
    # Every pending entry left to expire has: one more posting through each account releases their holds.
    time.sleep(1.1)
    sweep = [("SWEEP-HOT", *HOT)] + [(f"SWEEP-{n}", f"cold-cash-{n}", f"cold-sales-{n}") for n in range(WRITERS)]
    for reference, debit, credit in sweep:
        book.service.PostEntry(book.code, entry(reference, debit, credit))

    entries = sum(tally.entries for tally in tallies) + len(sweep)
    settled = sum((tally.settled for tally in tallies), Counter())
    lapsed = sum(tally.lapsing for tally in tallies)
    assert sum(tally.contested for tally in tallies) == sum(settled.values()) > 0 and lapsed > 0
    changes = 1 + len(accounts) + entries + sum(settled.values()) + lapsed

    [(book_id,)] = rows(server, "SELECT id FROM books WHERE code = %s", book.code)
    # The workers' sealers seal what the writers queued, with no read of the journal asking them to.
    deadline = time.monotonic() + 10 * SEAL_SECONDS
    while rows(server, "SELECT count(*) FROM journal_queue WHERE book_id = %s", book_id) != [(0,)]:
        assert time.monotonic() < deadline, "queued records left unsealed"
        time.sleep(0.1)
    sequences = [sequence for sequence, in rows(
        server, "SELECT sequence FROM journal_records WHERE book_id = %s ORDER BY sequence", book_id)]
    assert sequences == list(range(1, changes + 1))
    [head] = rows(server, "SELECT sequence, hash, recorded_at FROM journal_heads WHERE book_id = %s", book_id)
    assert head == rows(server, "SELECT sequence, hash, recorded_at FROM journal_records "
                                "WHERE book_id = %s AND sequence = %s", book_id, changes)[0]

    kinds = dict(rows(server, "SELECT kind, count(*) FROM journal_records WHERE book_id = %s GROUP BY kind", book_id))
    # A kind no change made has no row to count (on a loaded machine every race can go one way).
    made = {"BookCreated": 1, "AccountOpened": len(accounts), "EntryRecorded": entries,
            "PendingCommitted": settled["PendingCommitted"], "PendingVoided": settled["PendingVoided"],
            "PendingExpired": lapsed}
    assert kinds == {kind: count for kind, count in made.items() if count}
    assert rows(server, """
        SELECT entries.reference, count(journal_records.sequence) FROM entries
        LEFT JOIN journal_records ON journal_records.entry_id = entries.id AND journal_records.kind = 'EntryRecorded'
        WHERE entries.book_id = %s GROUP BY entries.reference HAVING count(journal_records.sequence) <> 1""",
                book_id) == []
    assert rows(server, """
        SELECT entries.reference, pending_outcomes.status, count(journal_records.sequence) FROM pending_outcomes
        JOIN entries ON entries.id = pending_outcomes.entry_id
        LEFT JOIN journal_records ON journal_records.entry_id = entries.id AND journal_records.kind = CASE
            pending_outcomes.status WHEN 'POSTED' THEN 'PendingCommitted' WHEN 'VOIDED' THEN 'PendingVoided'
            WHEN 'EXPIRED' THEN 'PendingExpired' END
        WHERE entries.book_id = %s
        GROUP BY entries.reference, pending_outcomes.status HAVING count(journal_records.sequence) <> 1""",
                book_id) == []
    [(outcomes,)] = rows(server, "SELECT count(*) FROM pending_outcomes JOIN entries ON entries.id = entry_id "
                                 "WHERE book_id = %s", book_id)
    assert outcomes == sum(settled.values()) + lapsed

    verified = book.service.VerifyJournal(book.code, None, None)
    assert (verified.intact, verified.recordsChecked, verified.toSequence) == (True, changes, changes)
    assert verified.headHash == head[1] == book.service.GetJournalHead(book.code).hash


def backends_waiting_for_a_lock(server, besides: int) -> int:
    [(count,)] = rows(server, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                              "AND datname = current_database() AND pid <> %s", besides)
    return count


def wait_until_backends_wait(server, count: int, besides: int) -> None:
    deadline = time.monotonic() + 30
    while backends_waiting_for_a_lock(server, besides) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sealers waiting after 30 s"
        time.sleep(0.02)


@pytest.mark.postgres
def test_a_new_books_first_sealers_take_turns(request, tmp_path_factory):
    """Two sealers of a book that has no head yet, the second one seeing a record queued after the first
    one began: the second waits for the first and seals after it, rather than both sealing from the
    chain's start and the second one's records colliding with the first one's (retried, as a conflict)."""
    # Only reads seal (no background sealer): GetJournalHead seals the book before answering.
    server = start_server(request, tmp_path_factory, "postgres", extra_env={"LEDGER_JOURNAL_SEAL_SECONDS": "0"})
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    queued = len(rows(server, "SELECT 1 FROM journal_queue JOIN books ON books.id = book_id WHERE code = %s",
                      book.code))
    assert queued == 3  # the book and its two accounts
    heads = []

    def read_head():
        heads.append(server.zeep().service.GetJournalHead(book.code).sequence)
    with psycopg.connect(server.database_url) as holder:
        # The queued records held, so that the first sealer waits for them with its snapshot taken.
        holder.execute("SELECT journal_queue.id FROM journal_queue JOIN books ON books.id = book_id "
                       "WHERE code = %s FOR UPDATE OF journal_queue", (book.code,))
        first = threading.Thread(target=read_head)
        first.start()
        wait_until_backends_wait(server, 1, holder.info.backend_pid)
        book.service.PostEntry(book.code, entry("AFTER-THE-FIRST", "cash", "sales"))
        second = threading.Thread(target=read_head)
        second.start()
        wait_until_backends_wait(server, 2, holder.info.backend_pid)
        holder.rollback()
    for thread in (first, second):
        thread.join(60)
        assert not thread.is_alive(), "GetJournalHead unanswered after 60 s"
    assert sorted(heads) == [queued, queued + 1]
    assert [record for record in log_records(server.log()) if record["message"] == "retrying after a conflict"] == []
    verified = book.service.VerifyJournal(book.code, None, None)
    assert (verified.intact, verified.recordsChecked) == (True, queued + 1)


def test_a_queue_longer_than_one_sealing_is_sealed_in_order_by_several(request, tmp_path_factory):
    server = start_server(request, tmp_path_factory, "postgres", extra_env={"LEDGER_JOURNAL_SEAL_SECONDS": "0"})
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    batch = [entry(f"QUEUED-{number}", "cash", "sales") for number in range(1000)]
    assert all(result.fault is None for result in book.service.PostEntries(book.code, {"entry": batch}, True))
    queued = len(rows(server, "SELECT 1 FROM journal_queue JOIN books ON books.id = book_id WHERE code = %s",
                      book.code))
    assert queued > 2 * SEALED_AT_ONCE
    assert book.service.GetJournalHead(book.code).sequence == queued
    sealed = rows(server, "SELECT sequence, entry_id FROM journal_records JOIN books ON books.id = book_id "
                          "WHERE code = %s ORDER BY sequence", book.code)
    assert [sequence for sequence, _ in sealed] == list(range(1, queued + 1))
    # In the order the changes were queued: the book and its accounts, then the entries as posted.
    entry_ids = [entry_id for _, entry_id in sealed if entry_id is not None]
    assert len(entry_ids) == 1000 and entry_ids == sorted(entry_ids)
    verified = book.service.VerifyJournal(book.code, None, None)
    assert (verified.intact, verified.recordsChecked) == (True, queued)
