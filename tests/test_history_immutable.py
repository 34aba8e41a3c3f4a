"""History is immutable in the database itself (docs/contract.md#security): connected as the service's
own database user, UPDATE, DELETE and (on PostgreSQL) TRUNCATE of entries, their lines and metadata, pending
entries' lines and outcomes, period closes and the journal fail, and leave every row as it was. The triggers of
adapters/history_guard.py refuse them, whoever asks; docs/operations.md#least-privilege keeps the
service's role from so much as asking (tests/test_least_privilege.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from conftest import BACKENDS, start_server
from ledger_service.adapters.database import create_ledger_engine
from ledger_service.adapters.history_guard import HISTORY_TABLES

SALE = [("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")]
# Each history table's rows of the test's book, and a change to them.
OF_THE_BOOK = "entry_id IN (SELECT id FROM entries WHERE book_id = :book)"
SCOPES = {"entries": "book_id = :book", "lines": OF_THE_BOOK, "pending_lines": OF_THE_BOOK,
          "pending_outcomes": OF_THE_BOOK, "period_closes": "book_id = :book", "journal_records": "book_id = :book",
          "entry_metadata": OF_THE_BOOK}
CHANGES = {"entries": "description = 'rewritten'", "lines": "amount = amount + 1",
           "pending_lines": "amount = amount + 1", "pending_outcomes": "status = 'POSTED', reason = NULL",
           "period_closes": "through_date = '2025-12-31'", "journal_records": "hash = upper(hash)",
           "entry_metadata": "value = 'rewritten'"}
assert set(SCOPES) == set(CHANGES) == set(HISTORY_TABLES)


# Every way to rewrite a history table's rows: UPDATE and DELETE of the book's rows; DELETE of all of
# them (SQLite's truncate optimization, which would skip row triggers if there were none); TRUNCATE,
# with CASCADE, on PostgreSQL.
WAYS = {
    "update": lambda table: f"UPDATE {table} SET {CHANGES[table]} WHERE {SCOPES[table]}",
    "delete": lambda table: f"DELETE FROM {table} WHERE {SCOPES[table]}",
    "delete-all": lambda table: f"DELETE FROM {table}",
}


@pytest.fixture(scope="module", params=BACKENDS)
def ledger(request, tmp_path_factory):
    """A server of the module's own, as a refusal that failed would empty history tables whole."""
    server = start_server(request, tmp_path_factory, request.param)
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("SALE-1", SALE)
    book.post("SALE-2", SALE, description="second sale", metadata={"item": [{"key": "invoice", "value": "INV-2"}]})
    book.post("HOLD-1", SALE, pending=True)
    book.service.CommitPending(book.code, "HOLD-1")
    book.post("HOLD-2", SALE, pending=True)
    book.service.VoidPending(book.code, "HOLD-2", "cancelled")
    book.service.ReverseEntry(book.code, "SALE-1", "REV-1", None, None)
    book.service.ClosePeriod(book.code, "2026-01-10")
    book.service.GetJournalHead(book.code)  # which seals the records queued so far
    engine = create_ledger_engine(server.database_url)
    with engine.connect() as connection:
        book_id = connection.execute(text("SELECT id FROM books WHERE code = :code"), {"code": book.code}).scalar_one()
    yield engine, book_id
    engine.dispose()


def history(engine, book_id: int) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {table: connection.execute(text(f"SELECT * FROM {table} WHERE {SCOPES[table]} ORDER BY 1, 2"),
                                          {"book": book_id}).all()
                for table in HISTORY_TABLES}


def test_the_book_has_rows_in_every_history_table(ledger):
    engine, book_id = ledger
    rows = history(engine, book_id)
    assert all(rows.values()), {table: len(found) for table, found in rows.items()}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_rewriting_history_fails_and_changes_nothing(ledger, table, way):
    engine, book_id = ledger
    message = refusal(engine, book_id, WAYS[way](table))
    assert f"history is append-only: {way.split('-')[0].upper()} on {table}" in message, message


@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_truncating_history_fails_and_changes_nothing(ledger, table):
    """PostgreSQL's TRUNCATE fires no row trigger: a statement trigger refuses it (with CASCADE, maybe
    first on another guarded table). SQLite has no TRUNCATE, only the DELETE refused above."""
    engine, book_id = ledger
    message = refusal(engine, book_id, f"TRUNCATE {table} CASCADE")
    expected = "history is append-only: TRUNCATE on" if engine.dialect.name == "postgresql" else "syntax error"
    assert expected in message, message


def refusal(engine, book_id: int, statement: str) -> str:
    """What the database says, refusing `statement`, which leaves the book's history as it was."""
    before = history(engine, book_id)
    with pytest.raises(DBAPIError) as refused:
        with engine.begin() as connection:
            connection.execute(text(statement), {"book": book_id})
    assert history(engine, book_id) == before
    return str(refused.value.orig)
