"""Two-phase entries (docs/contract.md#invariants, 5 and 9; #operations): PostEntry with `pending` reserves amounts,
CommitPending posts them, VoidPending releases them, and an entry past its timeout is EXPIRED and
released for every read at once, whether or not anything ran in between.

Over live servers on SQLite and PostgreSQL; the races (commit against void, commit against the
expiry, holds against a guarded balance) on the 4-worker PostgreSQL server.
"""
from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import text
from zeep.exceptions import Fault

from conftest import BACKENDS, TNS, database_url, envelope, fault_code, fault_detail, post_raw, start_server, unique
from ledger_service import admin
from ledger_service.adapters import page_tokens, password_digest
from ledger_service.adapters.database import Database
from ledger_service.adapters.passwords import PasswordHashes
from ledger_service.domain.accounts import AccountType, Side
from ledger_service.domain.entries import EntryInput, EntryStatus, LineInput, has_lapsed
from ledger_service.service_layer.context import Credentials, RequestContext
from ledger_service.service_layer.ledger import Ledger

SALE = [("cash", "DEBIT", "100.00"), ("sales", "CREDIT", "100.00")]
WITHDRAWAL = [("expense", "DEBIT", "30.00"), ("cash", "CREDIT", "30.00")]
ZERO = Decimal("0.00")


def balance_of(book, account: str) -> tuple:
    found = book.balance(account)
    return (found.postedDebits, found.postedCredits, found.pendingDebits, found.pendingCredits, found.balance,
            found.availableBalance)


def statement_references(book, account: str) -> list[str]:
    page = book.service.GetStatement(book.code, account, date(2026, 1, 1), date(2026, 12, 31))
    return [line.reference for line in (page.lines.line if page.lines is not None else [])]


def wait_until_expired(book, reference: str, deadline_seconds: float = 15) -> None:
    deadline = time.monotonic() + deadline_seconds
    while book.service.GetEntry(book.code, reference).status != "EXPIRED":
        assert time.monotonic() < deadline, f"{reference} did not expire"
        time.sleep(0.1)


def sql(server, query: str, **parameters) -> list:
    database = server.database()
    try:
        with database.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query), parameters)]
    finally:
        database.dispose()


def test_a_pending_entry_reserves_without_moving_posted_balances(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", SALE)
    before = datetime.now(timezone.utc)
    entry = book.post("HOLD-1", WITHDRAWAL, pending=True, pendingTimeoutSeconds=3600)
    assert (entry.status, entry.reference) == ("PENDING", "HOLD-1")
    assert entry.pendingExpiresAt == entry.recordedAt + timedelta(seconds=3600)
    assert before - timedelta(seconds=2) <= entry.recordedAt <= datetime.now(timezone.utc) + timedelta(seconds=2)
    # posted, then pending debits and credits, balance, available balance
    assert balance_of(book, "cash") == (Decimal("100.00"), ZERO, ZERO, Decimal("30.00"), Decimal("100.00"),
                                        Decimal("70.00"))
    # a pending increase does not count as available
    assert balance_of(book, "expense") == (ZERO, ZERO, Decimal("30.00"), ZERO, ZERO, ZERO)
    assert statement_references(book, "cash") == ["FUND"]
    assert statement_references(book, "expense") == []
    trial = book.service.GetTrialBalance(book.code)
    assert {row.account: (row.debit, row.credit) for row in trial.rows.row} == {
        "cash": (Decimal("100.00"), ZERO), "sales": (ZERO, Decimal("100.00")), "expense": (ZERO, ZERO)}
    stored = book.service.GetEntry(book.code, "HOLD-1")
    assert (stored.id, stored.status, stored.pendingExpiresAt) == (entry.id, "PENDING", entry.pendingExpiresAt)
    assert [(line.account, line.side, line.amount) for line in stored.lines.line] == [
        ("expense", "DEBIT", Decimal("30.00")), ("cash", "CREDIT", Decimal("30.00"))]
    # without a timeout a pending entry waits for CommitPending or VoidPending
    assert book.post("HOLD-2", WITHDRAWAL, pending=True).pendingExpiresAt is None


def test_commit_posts_what_was_reserved_once(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", SALE, effective="2026-03-01")
    pending = book.post("HOLD-1", WITHDRAWAL, effective="2026-03-05", pending=True, pendingTimeoutSeconds=600)
    committed = book.service.CommitPending(book.code, "HOLD-1")
    assert (committed.id, committed.status, committed.effectiveDate, committed.recordedAt) == (
        pending.id, "POSTED", date(2026, 3, 5), pending.recordedAt)
    assert balance_of(book, "cash") == (Decimal("100.00"), Decimal("30.00"), ZERO, ZERO, Decimal("70.00"),
                                        Decimal("70.00"))
    assert balance_of(book, "expense") == (Decimal("30.00"), ZERO, ZERO, ZERO, Decimal("30.00"), Decimal("30.00"))
    assert book.balance("cash", date(2026, 3, 4)).balance == Decimal("100.00")
    assert book.balance("cash", date(2026, 3, 5)).balance == Decimal("70.00")
    page = book.service.GetStatement(book.code, "cash", date(2026, 3, 1), date(2026, 3, 31))
    assert [(line.reference, line.side, line.amount, line.runningBalance) for line in page.lines.line] == [
        ("FUND", "DEBIT", Decimal("100.00"), Decimal("100.00")), ("HOLD-1", "CREDIT", Decimal("30.00"), Decimal("70.00"))]
    assert book.service.GetEntry(book.code, "HOLD-1").status == "POSTED"
    # a committed entry no longer lapses, so it says no time when it would have
    assert pending.pendingExpiresAt is not None
    assert committed.pendingExpiresAt is None and book.service.GetEntry(book.code, "HOLD-1").pendingExpiresAt is None

    # committing again is the same success and posts nothing; voiding it now is too late
    again = book.service.CommitPending(book.code, "HOLD-1")
    assert (again.id, again.status) == (pending.id, "POSTED")
    assert balance_of(book, "cash")[:2] == (Decimal("100.00"), Decimal("30.00"))
    with pytest.raises(Fault) as caught:
        book.service.VoidPending(book.code, "HOLD-1", None)
    assert (fault_detail(caught.value)["code"], fault_detail(caught.value)["field"]) == ("NotPending", "reference")
    # a committed entry is an ordinary posted one: it can be reversed
    assert book.service.ReverseEntry(book.code, "HOLD-1", "REV-1").reversalOf == "HOLD-1"
    assert book.balance("cash").balance == Decimal("100.00")


def test_void_releases_the_reservation_and_records_why(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", SALE)
    pending = book.post("HOLD-1", WITHDRAWAL, pending=True, pendingTimeoutSeconds=600)
    voided = book.service.VoidPending(book.code, "HOLD-1", "customer cancelled")
    assert (voided.id, voided.status, voided.pendingExpiresAt) == (pending.id, "VOIDED", None)
    assert balance_of(book, "cash") == (Decimal("100.00"), ZERO, ZERO, ZERO, Decimal("100.00"), Decimal("100.00"))
    assert balance_of(book, "expense") == (ZERO,) * 6
    assert statement_references(book, "cash") == ["FUND"]
    assert book.service.GetEntry(book.code, "HOLD-1").status == "VOIDED"
    assert book.service.VoidPending(book.code, "HOLD-1", None).status == "VOIDED"
    assert fault_code(book.service.CommitPending, book.code, "HOLD-1") == "NotPending"
    assert fault_code(book.service.ReverseEntry, book.code, "HOLD-1", "REV-1") == "NotReversible"
    audit = book.service.GetEntryAudit(book.code, "HOLD-1")
    assert (audit.postedBy, audit.settledBy, audit.voidReason) == ("admin", "admin", "customer cancelled")
    assert audit.settledRequestId and audit.settledRequestId != audit.requestId
    assert audit.settledAt >= audit.recordedAt


def test_an_expired_entry_is_released_for_every_read_at_once(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", SALE)
    entry = book.post("HOLD-1", [("expense", "DEBIT", "100.00"), ("cash", "CREDIT", "100.00")],
                      pending=True, pendingTimeoutSeconds=1)
    assert book.balance("cash").availableBalance == ZERO
    assert fault_code(book.post, "SPEND", [("expense", "DEBIT", "0.01"), ("cash", "CREDIT", "0.01")]) == (
        "InsufficientBalance")
    wait_until_expired(book, "HOLD-1")
    assert datetime.now(timezone.utc) >= entry.pendingExpiresAt - timedelta(seconds=1)
    # the sweeper of this server runs once a minute at the soonest: nothing released the hold yet,
    # and yet every read sees it gone
    assert balance_of(book, "cash") == (Decimal("100.00"), ZERO, ZERO, ZERO, Decimal("100.00"), Decimal("100.00"))
    assert balance_of(book, "expense") == (ZERO,) * 6
    for settle in (lambda: book.service.CommitPending(book.code, "HOLD-1"),
                   lambda: book.service.VoidPending(book.code, "HOLD-1", None)):
        with pytest.raises(Fault) as caught:
            settle()
        assert (fault_detail(caught.value)["code"], fault_detail(caught.value)["field"]) == (
            "PendingExpired", "reference")
    expired = book.service.GetEntry(book.code, "HOLD-1")
    assert (expired.status, expired.pendingExpiresAt) == ("EXPIRED", entry.pendingExpiresAt)
    # what it held is available again
    book.post("SPEND", [("expense", "DEBIT", "100.00"), ("cash", "CREDIT", "100.00")])
    assert balance_of(book, "cash") == (Decimal("100.00"), Decimal("100.00"), ZERO, ZERO, ZERO, ZERO)
    assert fault_code(book.service.ReverseEntry, book.code, "HOLD-1", "REV-1") == "NotReversible"


def test_a_guarded_account_counts_pending_reductions(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", SALE)
    book.post("HOLD-80", [("expense", "DEBIT", "80.00"), ("cash", "CREDIT", "80.00")], pending=True)
    assert fault_code(book.post, "HOLD-30", [("expense", "DEBIT", "30.00"), ("cash", "CREDIT", "30.00")],
                      pending=True) == "InsufficientBalance"
    assert fault_code(book.post, "SPEND-30", [("expense", "DEBIT", "30.00"), ("cash", "CREDIT", "30.00")]) == (
        "InsufficientBalance")
    book.post("SPEND-20", [("expense", "DEBIT", "20.00"), ("cash", "CREDIT", "20.00")])
    assert book.balance("cash").availableBalance == ZERO
    # a pending increase adds nothing to spend
    book.post("INCOMING", SALE, pending=True)
    assert fault_code(book.post, "SPEND-1", [("expense", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00")]) == (
        "InsufficientBalance")
    book.service.VoidPending(book.code, "HOLD-80", None)
    book.post("SPEND-30", [("expense", "DEBIT", "30.00"), ("cash", "CREDIT", "30.00")])
    assert book.balance("cash").balance == Decimal("50.00")


def test_references_keep_pending_posts_idempotent(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    first = book.post("HOLD-1", SALE, pending=True, pendingTimeoutSeconds=600)
    again = book.post("HOLD-1", SALE, pending=True, pendingTimeoutSeconds=600)
    assert (again.id, again.status, again.pendingExpiresAt) == (first.id, "PENDING", first.pendingExpiresAt)
    assert book.balance("cash").pendingDebits == Decimal("100.00")
    # the same lines posted at once, or with another timeout, are another entry
    assert fault_code(book.post, "HOLD-1", SALE) == "ReferenceConflict"
    assert fault_code(book.post, "HOLD-1", SALE, pending=True, pendingTimeoutSeconds=601) == "ReferenceConflict"
    assert fault_code(book.post, "HOLD-1", SALE, pending=True) == "ReferenceConflict"
    book.service.CommitPending(book.code, "HOLD-1")
    # a retry of the original request after the commit answers with the entry as it is now
    replay = book.post("HOLD-1", SALE, pending=True, pendingTimeoutSeconds=600)
    assert (replay.id, replay.status) == (first.id, "POSTED")
    assert balance_of(book, "cash")[:4] == (Decimal("100.00"), ZERO, ZERO, ZERO)


def test_settling_faults(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("POSTED-1", SALE)
    assert fault_code(book.service.CommitPending, book.code, "POSTED-1") == "NotPending"
    assert fault_code(book.service.VoidPending, book.code, "POSTED-1", None) == "NotPending"
    assert fault_code(book.service.CommitPending, book.code, "NO-SUCH") == "EntryNotFound"
    assert fault_code(book.service.VoidPending, book.code, "NO-SUCH", None) == "EntryNotFound"
    assert fault_code(book.service.ReverseEntry, book.code, book.post("HOLD-1", SALE, pending=True).reference,
                      "REV-1") == "NotReversible"
    with pytest.raises(Fault) as caught:
        book.post("HOLD-2", SALE, pendingTimeoutSeconds=60)
    assert (fault_detail(caught.value)["code"], fault_detail(caught.value)["field"]) == (
        "SchemaValidation", "entry.pendingTimeoutSeconds")
    reader, password = server.add_client(grants={book.code: "reader"})
    as_reader = server.zeep(reader, password).service
    assert fault_code(as_reader.CommitPending, book.code, "HOLD-1") == "NotAuthorized"
    assert fault_code(as_reader.VoidPending, book.code, "HOLD-1", None) == "NotAuthorized"
    assert book.service.GetEntry(book.code, "HOLD-1").status == "PENDING"


@pytest.mark.parametrize("timeout", ["0", "-5", "2147483648", "1.5", "soon"])
def test_a_timeout_outside_the_schema_is_refused_before_anything_runs(server, timeout):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    body = (f"<l:PostEntry><l:book>{book.code}</l:book><l:entry><l:reference>H-1</l:reference>"
            "<l:effectiveDate>2026-01-15</l:effectiveDate><l:lines>"
            "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1.00</l:amount></l:line>"
            "<l:line><l:account>sales</l:account><l:side>CREDIT</l:side><l:amount>1.00</l:amount></l:line>"
            f"</l:lines><l:pending>true</l:pending><l:pendingTimeoutSeconds>{timeout}</l:pendingTimeoutSeconds>"
            "</l:entry></l:PostEntry>")
    response = post_raw(server, envelope("11", body))
    assert response.status_code == 500
    assert etree.fromstring(response.content).findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code") == "SchemaValidation"
    assert fault_code(book.service.GetEntry, book.code, "H-1") == "EntryNotFound"


def test_a_commit_must_fall_in_an_open_period_and_a_void_need_not(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("HOLD-1", SALE, effective="2026-01-10", pending=True)
    book.post("HOLD-2", SALE, effective="2026-01-11", pending=True)
    book.service.ClosePeriod(book.code, date(2026, 1, 31))
    assert fault_code(book.service.CommitPending, book.code, "HOLD-1") == "PeriodClosed"
    assert book.service.GetEntry(book.code, "HOLD-1").status == "PENDING"
    assert book.service.VoidPending(book.code, "HOLD-2", "period closed").status == "VOIDED"
    assert book.balance("cash").pendingDebits == Decimal("100.00")


def test_an_account_with_something_pending_cannot_close_until_it_lapses(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), spare=("ASSET", "USD"))
    book.post("HOLD-1", [("spare", "DEBIT", "5.00"), ("sales", "CREDIT", "5.00")], pending=True,
              pendingTimeoutSeconds=1)
    assert fault_code(book.service.CloseAccount, book.code, "spare") == "AccountNotEmpty"
    wait_until_expired(book, "HOLD-1")
    assert book.service.CloseAccount(book.code, "spare").status == "CLOSED"


def test_batches_take_pending_entries(server):
    book = server.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    lines = lambda reference, amount, debit="expense", credit="cash": {  # noqa: E731
        "reference": reference, "effectiveDate": "2026-02-01", "lines": {"line": [
            {"account": debit, "side": "DEBIT", "amount": amount}, {"account": credit, "side": "CREDIT", "amount": amount}]}}
    results = book.service.PostEntries(book.code, {"entry": [
        lines("FUND", "50.00", "cash", "sales"),
        {**lines("HOLD-1", "40.00"), "pending": True, "pendingTimeoutSeconds": 600},
        {**lines("HOLD-2", "20.00"), "pending": True},       # 50 - 40 leaves 10 available
        lines("SPEND-10", "10.00"),
    ]}, False)
    assert [(r.reference, r.entry.status if r.entry else r.fault.code) for r in results] == [
        ("FUND", "POSTED"), ("HOLD-1", "PENDING"), ("HOLD-2", "InsufficientBalance"), ("SPEND-10", "POSTED")]
    assert results[1].entry.pendingExpiresAt == results[1].entry.recordedAt + timedelta(seconds=600)
    assert balance_of(book, "cash") == (Decimal("50.00"), Decimal("10.00"), ZERO, Decimal("40.00"),
                                        Decimal("40.00"), ZERO)
    assert book.service.CommitPending(book.code, "HOLD-1").status == "POSTED"
    assert balance_of(book, "cash") == (Decimal("50.00"), Decimal("50.00"), ZERO, ZERO, ZERO, ZERO)


def test_history_keeps_every_pending_entry_as_it_was_submitted(server):
    """Settling adds rows; it never edits or deletes one of the entry's own."""
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    for reference in ("C", "V", "X"):
        book.post(reference, SALE, pending=True, pendingTimeoutSeconds=1 if reference == "X" else None)
    book.service.CommitPending(book.code, "C")
    book.service.VoidPending(book.code, "V", "no")
    wait_until_expired(book, "X")
    rows = sql(server, "SELECT e.reference, e.status, count(p.position) FROM entries e JOIN books b ON b.id = e.book_id"
                       " JOIN pending_lines p ON p.entry_id = e.id WHERE b.code = :book"
                       " GROUP BY e.reference, e.status ORDER BY e.reference", book=book.code)
    assert rows == [("C", "PENDING", 2), ("V", "PENDING", 2), ("X", "PENDING", 2)]
    outcomes = sql(server, "SELECT e.reference, o.status, o.reason FROM pending_outcomes o JOIN entries e"
                           " ON e.id = o.entry_id JOIN books b ON b.id = e.book_id WHERE b.code = :book"
                           " ORDER BY e.reference", book=book.code)
    assert [outcome for outcome in outcomes if outcome[0] != "X"] == [("C", "POSTED", None), ("V", "VOIDED", "no")]
    # X lapsed on its own: the hold sweeper records that when its pass comes round, perhaps before this.
    assert [outcome for outcome in outcomes if outcome[0] == "X"] in ([], [("X", "EXPIRED", None)])
    assert {e: book.service.GetEntry(book.code, e).status for e in "CVX"} == {
        "C": "POSTED", "V": "VOIDED", "X": "EXPIRED"}


# --- the sweeper ---

@pytest.fixture(scope="module")
def sweeping_server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_HOLD_SWEEP_SECONDS": "0.5"})


def test_the_sweeper_tidies_expired_holds_away(sweeping_server):
    server = sweeping_server
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    for n in range(5):
        book.post(f"HOLD-{n}", SALE, pending=True, pendingTimeoutSeconds=1)
    book.post("KEEP", SALE, pending=True)
    account_rows = "SELECT a.pending_debits FROM accounts a JOIN books b ON b.id = a.book_id " \
                   "WHERE b.code = :book AND a.code = 'cash'"
    holds = "SELECT count(*) FROM holds h JOIN accounts a ON a.id = h.account_id JOIN books b ON b.id = a.book_id " \
            "WHERE b.code = :book"
    assert sql(server, holds, book=book.code) == [(12,)]
    deadline = time.monotonic() + 20
    while sql(server, holds, book=book.code) != [(2,)]:
        assert time.monotonic() < deadline, sql(server, holds, book=book.code)
        time.sleep(0.2)
    # the cached total now holds only what is still reserved, and reads agree with it
    assert sql(server, account_rows, book=book.code) == [(10000,)]
    assert book.balance("cash").pendingDebits == Decimal("100.00")


# --- races, on PostgreSQL with four workers ---

RACE_ROUNDS = 10


def _race(calls) -> list:
    """Runs the calls at once, from a barrier; returns each one's result or LedgerFault code."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(position, call):
        barrier.wait(60)
        try:
            outcomes[position] = call()
        except Fault as error:
            outcomes[position] = fault_detail(error)["code"]
        except Exception as error:  # recorded, so that the assertions report it
            outcomes[position] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=run, args=(position, call)) for position, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


@pytest.mark.postgres
def test_commit_and_void_of_one_pending_entry_racing_let_exactly_one_win(postgres_live):
    book = postgres_live.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", [("cash", "DEBIT", "1000.00"), ("sales", "CREDIT", "1000.00")])
    committers = [postgres_live.zeep().service for _ in range(2)]
    voiders = [postgres_live.zeep().service for _ in range(2)]
    committed = 0
    for round_ in range(RACE_ROUNDS):
        reference = unique("HOLD-")
        book.post(reference, [("expense", "DEBIT", "10.00"), ("cash", "CREDIT", "10.00")], pending=True)
        outcomes = _race([lambda s=s: s.CommitPending(book.code, reference).status for s in committers] +
                         [lambda s=s: s.VoidPending(book.code, reference, None).status for s in voiders])
        final = book.service.GetEntry(book.code, reference).status
        # Both commits succeed (the second is a retry of the first) and both voids are NotPending, or
        # the other way round.
        if final == "POSTED":
            assert outcomes == ["POSTED", "POSTED", "NotPending", "NotPending"], (round_, outcomes)
            committed += 1
        else:
            assert (final, outcomes) == ("VOIDED", ["NotPending", "NotPending", "VOIDED", "VOIDED"]), (round_, outcomes)
    spent = Decimal("10.00") * committed
    assert balance_of(book, "cash") == (Decimal("1000.00"), spent, ZERO, ZERO, Decimal("1000.00") - spent,
                                        Decimal("1000.00") - spent)
    assert balance_of(book, "expense") == (spent, ZERO, ZERO, ZERO, spent, spent)


@pytest.mark.postgres
def test_commits_racing_the_expiry_either_post_or_find_it_expired(postgres_live):
    book = postgres_live.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", [("cash", "DEBIT", "1000.00"), ("sales", "CREDIT", "1000.00")])
    services = [postgres_live.zeep().service for _ in range(4)]
    references = [unique("HOLD-") for _ in range(24)]
    expiries = {reference: book.post(reference, [("expense", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00")],
                                     pending=True, pendingTimeoutSeconds=2).pendingExpiresAt
                for reference in references}
    # Each entry's commit is aimed at a moment around its own expiry, from 300 ms before to 300 ms
    # after, from four clients at once: the ones aimed close to it race the clock.
    aims = {reference: expiries[reference] + timedelta(milliseconds=-300 + 600 * n / (len(references) - 1))
            for n, reference in enumerate(references)}
    outcomes: dict[str, str] = {}

    def commit_share(service, share):
        for reference in share:
            time.sleep(max(0.0, (aims[reference] - datetime.now(timezone.utc)).total_seconds()))
            try:
                outcomes[reference] = service.CommitPending(book.code, reference).status
            except Fault as error:
                outcomes[reference] = fault_detail(error)["code"]

    threads = [threading.Thread(target=commit_share, args=(service, references[n::4]))
               for n, service in enumerate(services)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(outcomes.values()) <= {"POSTED", "PendingExpired"}, outcomes
    final = {reference: book.service.GetEntry(book.code, reference).status for reference in references}
    for reference in references:
        assert final[reference] == {"POSTED": "POSTED", "PendingExpired": "EXPIRED"}[outcomes[reference]], reference
    posted = Decimal(sum(1 for status in final.values() if status == "POSTED")) * Decimal("1.00")
    assert balance_of(book, "cash") == (Decimal("1000.00"), posted, ZERO, ZERO, Decimal("1000.00") - posted,
                                        Decimal("1000.00") - posted)
    assert balance_of(book, "expense") == (posted, ZERO, ZERO, ZERO, posted, posted)
    assert {"POSTED", "EXPIRED"} <= set(final.values()), final
    trial = book.service.GetTrialBalance(book.code)
    assert [(t.debit, t.credit) for t in trial.totals.total] == [(Decimal("1000.00"), Decimal("1000.00"))]


@pytest.mark.postgres
def test_concurrent_holds_never_reserve_more_than_a_guarded_account_holds(postgres_live):
    book = postgres_live.new_book(cash=("ASSET", "USD", True), sales=("INCOME", "USD"), expense=("EXPENSE", "USD"))
    book.post("FUND", [("cash", "DEBIT", "25.00"), ("sales", "CREDIT", "25.00")])
    services = [postgres_live.zeep().service for _ in range(8)]
    results: dict[str, str] = {}

    def hold_and_settle(service, n):
        for k in range(10):
            reference = f"H{n}-{k}"
            entry = {"reference": reference, "effectiveDate": "2026-01-15", "pending": True, "lines": {"line": [
                {"account": "expense", "side": "DEBIT", "amount": "1.00"},
                {"account": "cash", "side": "CREDIT", "amount": "1.00"}]}}
            try:
                service.PostEntry(book.code, entry)
            except Fault as error:
                results[reference] = fault_detail(error)["code"]
                continue
            # every other hold is committed, the rest voided: the guard sees both kinds of release
            settle = service.CommitPending if k % 2 else service.VoidPending
            results[reference] = settle(book.code, reference, *(() if k % 2 else (None,))).status

    threads = [threading.Thread(target=hold_and_settle, args=(service, n)) for n, service in enumerate(services)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(results) == 80 and set(results.values()) <= {"POSTED", "VOIDED", "InsufficientBalance"}, results
    spent = Decimal(sum(1 for status in results.values() if status == "POSTED")) * Decimal("1.00")
    assert spent <= Decimal("25.00")
    assert balance_of(book, "cash") == (Decimal("25.00"), spent, ZERO, ZERO, Decimal("25.00") - spent,
                                        Decimal("25.00") - spent)
    assert all(book.service.GetEntry(book.code, reference).status == status
               for reference, status in results.items() if status != "InsufficientBalance")


# --- the expiry rule, one definition: the domain's, and the SQL that follows it ---

@pytest.mark.parametrize("kind", BACKENDS)
def test_a_reservation_lapses_at_its_expiry_instant_for_the_domain_and_the_sql_alike(kind, request, tmp_path_factory):
    """At the microsecond before pendingExpiresAt the entry is PENDING and its amount held (the account's
    pending totals, which SQL computes); at pendingExpiresAt itself it is EXPIRED (the domain's
    `has_lapsed`) and released for the same read."""
    database = Database(database_url(kind, request, tmp_path_factory))
    request.addfinalizer(database.dispose)
    database.migrate()
    admin.add_client(database, "clerk", "pw", True, [])
    now = [datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)]
    ledger = Ledger(database, passwords=PasswordHashes(), digests=password_digest, page_tokens=page_tokens,
                    clock=lambda: now[0])
    caller = RequestContext(Credentials("clerk", "pw"), "expiry", "192.0.2.9")
    ledger.books.create_book(caller, "EXP", "Expiry")
    ledger.accounts.open_account(caller, "EXP", "cash", "Cash", AccountType.ASSET, "USD")
    ledger.accounts.open_account(caller, "EXP", "sales", "Sales", AccountType.INCOME, "USD")
    held = ledger.entries.post_entry(caller, "EXP", EntryInput(
        "HOLD", date(2026, 3, 1), (LineInput("cash", Side.DEBIT, Decimal("5")), LineInput("sales", Side.CREDIT, Decimal("5"))),
        pending=True, pending_timeout_seconds=60))
    expires = held.pending_expires_at
    for moment, lapsed in ((expires - timedelta(microseconds=1), False), (expires, True)):
        now[0] = moment
        assert has_lapsed(expires, moment) is lapsed
        assert ledger.entries.get_entry(caller, "EXP", "HOLD").status is (
            EntryStatus.EXPIRED if lapsed else EntryStatus.PENDING)
        pending = ledger.reports.get_balance(caller, "EXP", "cash").pending_debits
        assert pending == (Decimal("0.00") if lapsed else Decimal("5.00"))
