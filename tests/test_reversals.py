"""ReverseEntry (docs/contract.md#invariants, 3; #operations): corrections are reversals, and history stays append-only.

Over live servers on SQLite and PostgreSQL; the race of two reversals of one entry on the 4-worker
PostgreSQL server.
"""
from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import inspect
from zeep.exceptions import Fault

from conftest import fault_code, fault_detail, unique
from ledger_service.domain.errors import FaultCode, LedgerError
from ledger_service.domain.accounts import Side
from ledger_service.domain.books import Book
from ledger_service.domain.entries import Entry, EntryInput, EntryStatus, Line, LineInput
from ledger_service.domain.reversals import reversal_of

SALE = [("cash", "DEBIT", "100.25"), ("sales", "CREDIT", "100.25")]


def lines_of(entry) -> list[tuple]:
    return [(line.account, line.side, line.amount, line.memo) for line in entry.lines.line]


def statement(book, account: str, first: date, last: date) -> list[tuple]:
    page = book.service.GetStatement(book.code, account, first, last)
    return [(line.reference, line.side, line.amount, line.runningBalance)
            for line in (page.lines.line if page.lines is not None else [])]


def test_reversal_mirrors_lines_restores_balances_and_links_both_ways(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    service = book.service
    entry = {"reference": "INV-1", "effectiveDate": "2026-03-01", "description": "first sale", "lines": {"line": [
        {"account": "cash", "side": "DEBIT", "amount": "100.25", "memo": "till"},
        {"account": "sales", "side": "CREDIT", "amount": "100.25"}]}}
    original = service.PostEntry(book.code, entry)

    reversal = service.ReverseEntry(book.code, "INV-1", "REV-1")
    assert (reversal.reference, reversal.status, reversal.effectiveDate, reversal.description) == (
        "REV-1", "POSTED", date(2026, 3, 1), "Reversal of INV-1")
    assert (reversal.reversalOf, reversal.reversedBy) == ("INV-1", None)
    assert reversal.id != original.id and len(reversal.id) == 36
    assert lines_of(reversal) == [("cash", "CREDIT", Decimal("100.25"), "till"),
                                  ("sales", "DEBIT", Decimal("100.25"), None)]

    assert book.balance("cash").balance == book.balance("sales").balance == Decimal("0.00")
    assert (book.balance("cash").postedDebits, book.balance("cash").postedCredits) == (
        Decimal("100.25"), Decimal("100.25"))
    trial = service.GetTrialBalance(book.code)
    assert [(t.currency, t.debit, t.credit) for t in trial.totals.total] == [("USD", Decimal("0.00"), Decimal("0.00"))]

    stored_original = service.GetEntry(book.code, "INV-1")
    assert (stored_original.reversalOf, stored_original.reversedBy) == (None, "REV-1")
    assert (stored_original.id, stored_original.description, lines_of(stored_original)) == (
        original.id, "first sale", lines_of(original))
    stored_reversal = service.GetEntry(book.code, "REV-1")
    assert (stored_reversal.id, stored_reversal.reversalOf, stored_reversal.reversedBy) == (reversal.id, "INV-1", None)
    assert lines_of(stored_reversal) == lines_of(reversal)


def test_reason_becomes_the_description(server):
    book = server.new_book(cash=("ASSET", "EUR"), sales=("INCOME", "EUR"))
    book.post("INV-1", SALE)
    reversal = book.service.ReverseEntry(book.code, "INV-1", "REV-1", None, "billed twice")
    assert reversal.description == "billed twice"


def test_statements_and_as_of_balances_before_and_after(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    service = book.service
    book.post("INV-1", SALE, effective="2026-02-10")
    service.ReverseEntry(book.code, "INV-1", "REV-1")
    day = date(2026, 2, 10)
    assert statement(book, "cash", day, day) == [("INV-1", "DEBIT", Decimal("100.25"), Decimal("100.25")),
                                                 ("REV-1", "CREDIT", Decimal("100.25"), Decimal("0.00"))]
    assert statement(book, "cash", date(2026, 2, 1), date(2026, 2, 9)) == []
    assert book.balance("cash", date(2026, 2, 9)).balance == Decimal("0.00")
    assert book.balance("cash", day).balance == Decimal("0.00")

    # A reversal dated later: as of the days between, the original still stands.
    book.post("INV-2", SALE, effective="2026-02-11")
    service.ReverseEntry(book.code, "INV-2", "REV-2", date(2026, 2, 20))
    assert book.balance("cash", date(2026, 2, 10)).balance == Decimal("0.00")
    assert book.balance("cash", date(2026, 2, 19)).balance == Decimal("100.25")
    assert book.balance("cash", date(2026, 2, 20)).balance == Decimal("0.00")
    assert statement(book, "cash", date(2026, 2, 11), date(2026, 2, 19)) == [
        ("INV-2", "DEBIT", Decimal("100.25"), Decimal("100.25"))]
    page = service.GetStatement(book.code, "cash", date(2026, 2, 11), date(2026, 2, 28))
    assert (page.openingBalance, page.closingBalance) == (Decimal("0.00"), Decimal("0.00"))
    assert [line.reference for line in page.lines.line] == ["INV-2", "REV-2"]


def test_default_date_moves_to_the_first_open_day_after_a_closed_period(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    service = book.service
    book.post("INV-1", SALE, effective="2026-01-10")
    book.post("INV-2", SALE, effective="2026-01-12")
    book.post("INV-3", SALE, effective="2026-02-15")
    service.ClosePeriod(book.code, date(2026, 1, 31))

    assert service.ReverseEntry(book.code, "INV-1", "REV-1").effectiveDate == date(2026, 2, 1)
    assert book.balance("cash", date(2026, 1, 31)).balance == Decimal("200.50")
    with pytest.raises(Fault) as caught:
        service.ReverseEntry(book.code, "INV-2", "REV-2", date(2026, 1, 31))
    assert fault_detail(caught.value)["code"] == "PeriodClosed"
    assert service.ReverseEntry(book.code, "INV-2", "REV-2", date(2026, 2, 5)).effectiveDate == date(2026, 2, 5)
    # an open original keeps its own date
    assert service.ReverseEntry(book.code, "INV-3", "REV-3").effectiveDate == date(2026, 2, 15)
    assert book.balance("cash").balance == Decimal("0.00")


def test_each_fault(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), temp=("ASSET", "USD"),
                           vault=("ASSET", "USD", True), expense=("EXPENSE", "USD"))
    service, code = book.service, book.code
    book.post("INV-1", SALE)
    book.post("OTHER", SALE)

    assert fault_code(service.ReverseEntry, code, "NO-SUCH", "REV-X") == "EntryNotFound"
    assert fault_code(service.ReverseEntry, code, "INV-1", "OTHER") == "ReferenceConflict"
    assert fault_code(service.ReverseEntry, code, "INV-1", "INV-1") == "ReferenceConflict"
    service.ReverseEntry(code, "INV-1", "REV-1")
    with pytest.raises(Fault) as caught:
        service.ReverseEntry(code, "INV-1", "REV-1b")
    assert (fault_detail(caught.value)["code"], fault_detail(caught.value)["field"]) == ("AlreadyReversed", "reference")
    assert fault_code(service.ReverseEntry, code, "REV-1", "REV-REV-1") == "NotReversible"
    # a reversal reference already used by another reversal
    assert fault_code(service.ReverseEntry, code, "OTHER", "REV-1") == "ReferenceConflict"

    # every posting rule: a closed account ...
    book.post("TEMP-IN", [("temp", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")])
    book.post("TEMP-OUT", [("cash", "DEBIT", "10.00"), ("temp", "CREDIT", "10.00")])
    service.CloseAccount(code, "temp")
    assert fault_code(service.ReverseEntry, code, "TEMP-IN", "REV-TEMP") == "AccountClosed"
    # ... and a guarded account that would go below zero
    book.post("FUND", [("vault", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")])
    book.post("SPEND", [("expense", "DEBIT", "10.00"), ("vault", "CREDIT", "10.00")])
    assert fault_code(service.ReverseEntry, code, "FUND", "REV-FUND") == "InsufficientBalance"
    # a fault leaves nothing behind
    assert fault_code(service.GetEntry, code, "REV-FUND") == "EntryNotFound"
    assert service.GetEntry(code, "FUND").reversedBy is None
    assert service.ReverseEntry(code, "SPEND", "REV-SPEND").reversalOf == "SPEND"

    reader, password = server.add_client(grants={code: "reader"})
    as_reader = server.zeep(reader, password).service
    assert fault_code(as_reader.ReverseEntry, code, "OTHER", "REV-READER") == "NotAuthorized"


def test_retrying_a_reversal_returns_it_and_posts_nothing(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    service, code = book.service, book.code
    book.post("INV-1", SALE)
    first = service.ReverseEntry(code, "INV-1", "REV-1", date(2026, 1, 20), "typo")
    again = service.ReverseEntry(code, "INV-1", "REV-1", date(2026, 1, 20), "typo")
    assert (again.id, again.recordedAt, lines_of(again)) == (first.id, first.recordedAt, lines_of(first))
    # an omitted date means the default, whichever date the first call settled
    assert service.ReverseEntry(code, "INV-1", "REV-1", None, "typo").id == first.id
    balance = book.balance("cash")
    assert (balance.postedDebits, balance.postedCredits) == (Decimal("100.25"), Decimal("100.25"))
    assert fault_code(service.ReverseEntry, code, "INV-1", "REV-1", date(2026, 1, 21), "typo") == "ReferenceConflict"
    assert fault_code(service.ReverseEntry, code, "INV-1", "REV-1", None, "other reason") == "ReferenceConflict"


# --- the rule, in the domain ---

def _entry(status: EntryStatus = EntryStatus.POSTED, **links) -> Entry:
    return Entry(id="e-1", reference="INV-1", effective_date=date(2026, 1, 10),
                 recorded_at=datetime(2026, 1, 10, tzinfo=timezone.utc), description=None, status=status,
                 lines=(Line("cash", Side.DEBIT, Decimal("5.00"), "USD", "till"),
                        Line("sales", Side.CREDIT, Decimal("5.00"), "USD")), **links)


@pytest.mark.parametrize("status", [EntryStatus.PENDING, EntryStatus.VOIDED, EntryStatus.EXPIRED])
def test_only_posted_entries_are_reversible(status):
    with pytest.raises(LedgerError) as caught:
        reversal_of(Book("B", "B"), _entry(status), "REV-1")
    assert caught.value.code is FaultCode.NotReversible


def test_reversal_input_mirrors_the_original():
    reversal = reversal_of(Book("B", "B", closed_through=date(2026, 1, 31)), _entry(), "REV-1")
    assert reversal == EntryInput("REV-1", date(2026, 2, 1), (
        LineInput("cash", Side.CREDIT, Decimal("5.00"), "till"), LineInput("sales", Side.DEBIT, Decimal("5.00"))),
        "Reversal of INV-1")
    # the same reversal again is not "already reversed"; it is answered by the use case as a retry
    assert reversal_of(Book("B", "B"), _entry(reversed_by="REV-1"), "REV-1").effective_date == date(2026, 1, 10)
    with pytest.raises(LedgerError) as caught:
        reversal_of(Book("B", "B"), _entry(reversed_by="REV-0"), "REV-1")
    assert caught.value.code is FaultCode.AlreadyReversed


def test_the_database_lets_an_entry_be_reversed_once(server):
    """What settles a race left to the database: a unique entries.reversal_of_id, referring to entries."""
    database = server.database()
    try:
        schema = inspect(database.engine)
        assert ["reversal_of_id"] in [c["column_names"] for c in schema.get_unique_constraints("entries")]
        assert {"constrained_columns": ["reversal_of_id"], "referred_table": "entries", "referred_columns": ["id"]} in [
            {k: fk[k] for k in ("constrained_columns", "referred_table", "referred_columns")}
            for fk in schema.get_foreign_keys("entries")]
    finally:
        database.dispose()


RACE_ROUNDS = 8
RACERS = 4


@pytest.mark.postgres
def test_racing_reversals_of_one_entry_let_exactly_one_win(postgres_live):
    book = postgres_live.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    clients = [postgres_live.zeep().service for _ in range(RACERS)]
    for round_ in range(RACE_ROUNDS):
        original = unique("INV-")
        book.post(original, SALE)
        barrier = threading.Barrier(RACERS)
        outcomes: dict[str, str] = {}

        def reverse(service, reversal_reference):
            barrier.wait(60)
            try:
                outcomes[reversal_reference] = service.ReverseEntry(book.code, original, reversal_reference).reference
            except Fault as error:
                outcomes[reversal_reference] = fault_detail(error)["code"]
            except Exception as error:  # recorded, so that the assertion below reports it
                outcomes[reversal_reference] = f"{type(error).__name__}: {error}"

        threads = [threading.Thread(target=reverse, args=(service, f"{original}-R{n}"))
                   for n, service in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        winners = [reference for reference, outcome in outcomes.items() if outcome == reference]
        assert len(winners) == 1, (round_, outcomes)
        assert sorted(outcome for outcome in outcomes.values() if outcome not in winners) == \
            ["AlreadyReversed"] * (RACERS - 1), (round_, outcomes)
        assert book.service.GetEntry(book.code, original).reversedBy == winners[0]
        for loser in set(outcomes) - set(winners):
            assert fault_code(book.service.GetEntry, book.code, loser) == "EntryNotFound"
    cash = book.balance("cash")
    expected = Decimal("100.25") * RACE_ROUNDS
    assert (cash.postedDebits, cash.postedCredits, cash.balance) == (expected, expected, Decimal("0.00"))
    assert book.balance("sales").balance == Decimal("0.00")
