"""The Alembic migrations build exactly the schema the SQLAlchemy models describe, on both databases, and
carry what an earlier release wrote forward."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from conftest import BACKENDS, broken_journals, database_url
from ledger_service.adapters.database import Database
from ledger_service.adapters.orm import (AccountRow, Base, BookRow, EntryRow, JournalRecordRow, LineRow, PendingLineRow,
                                         PendingOutcomeRow, PeriodCloseRow)


@pytest.mark.parametrize("kind", BACKENDS)
def test_migrating_an_empty_database_gives_the_models_schema(kind, request, tmp_path_factory):
    database = Database(database_url(kind, request, tmp_path_factory))
    try:
        database.migrate()
        with database.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert database.schema_state() == "current"
    finally:
        database.dispose()


@pytest.mark.parametrize("kind", BACKENDS)
def test_books_written_before_the_journal_get_their_chain_in_the_order_history_was_recorded(
        kind, request, tmp_path_factory):
    """What a release before the journal wrote (rows as it wrote them, including a pending entry whose
    expired reservation it released without recording anything) is chained by the migration, one record
    per change in time order, and the service goes on from there."""
    url = database_url(kind, request, tmp_path_factory)
    database = Database(url)
    try:
        database.migrate("0005")
        at = lambda minute: datetime(2026, 3, 1, 9, minute, tzinfo=timezone.utc)  # noqa: E731
        with database.engine.begin() as connection:
            run = lambda table, **values: connection.execute(  # noqa: E731
                insert(table).values(**values).returning(table.__table__.c.id)).scalar_one()
            book = run(BookRow, code="OLD", name="Old book", created_at=at(0))
            account = dict(book_id=book, type="ASSET", currency="EUR", no_negative_balance=False, posted_debits=0,
                           posted_credits=0, pending_debits=0, pending_credits=0)
            cash = run(AccountRow, code="cash", name="Cash", status="OPEN", opened_at=at(1), **account)
            bank = run(AccountRow, code="bank", name="Bank", status="OPEN", opened_at=at(2), **account)
            spare = run(AccountRow, code="spare", name="Spare", status="CLOSED", opened_at=at(3), closed_at=at(9),
                        **account)
            entry = dict(book_id=book, effective_date=date(2026, 3, 1), fingerprint="f")
            posted = run(EntryRow, public_id=str(uuid.uuid4()), reference="posted", recorded_at=at(4), status="POSTED",
                         **entry)
            lapsed = run(EntryRow, public_id=str(uuid.uuid4()), reference="lapsed", recorded_at=at(5), status="PENDING",
                         pending_expires_at=at(6), **entry)
            voided = run(EntryRow, public_id=str(uuid.uuid4()), reference="voided", recorded_at=at(7), status="PENDING",
                         **entry)
            for entry_id, table in ((posted, LineRow), (lapsed, PendingLineRow), (voided, PendingLineRow)):
                for position, (account_id, side) in enumerate(((cash, "DEBIT"), (bank, "CREDIT"))):
                    columns = dict(entry_id=entry_id, position=position, account_id=account_id, side=side, amount=150)
                    if table is LineRow:
                        columns["effective_date"] = date(2026, 3, 1)
                    connection.execute(insert(table).values(**columns))
            connection.execute(insert(PendingOutcomeRow).values(entry_id=voided, status="VOIDED", reason="typo",
                                                                settled_at=at(8)))
            connection.execute(insert(PeriodCloseRow).values(book_id=book, through_date=date(2026, 2, 28),
                                                             closed_at=at(10)))
        database.migrate()

        with database.engine.connect() as connection:
            records = connection.execute(select(JournalRecordRow.sequence, JournalRecordRow.kind)
                                         .order_by(JournalRecordRow.sequence)).all()
        assert [kind for _, kind in records] == [
            "BookCreated", "AccountOpened", "AccountOpened", "AccountOpened", "EntryRecorded", "EntryRecorded",
            "EntryRecorded", "PendingVoided", "AccountClosed", "PeriodClosed", "PendingExpired"]
        assert [sequence for sequence, _ in records] == list(range(1, 12))
        assert broken_journals(url) == {}
    finally:
        database.dispose()
