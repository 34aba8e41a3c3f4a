"""The books' journals in SQL: a change's records queued (PostgreSQL) or sealed (elsewhere) with the
rows it writes, queued records sealed onto a book's chain under the lock of its head, and records read
back with their content rebuilt from the history rows they are about.

Concurrency: on PostgreSQL a writer takes no lock for the journal; its records wait in the queue, and
whoever seals the book (seal_queued) locks its head, which nothing but sealing locks. On SQLite a
writer holds the whole database already, and seals its records itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, NamedTuple, Sequence

from sqlalchemy import Connection, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from ...domain import journal
from ...domain.accounts import Account, AccountStatus, AccountType
from ...domain.books import Book
from ...domain.currencies import currency
from ...domain.entries import Entry, EntryStatus
from ...domain.errors import LedgerError
from ...domain.journal import JournalRecord, RecordKind
from ...domain.journal_chain import GENESIS_HASH
from ..orm import (AccountRow, BookRow, EntryRow, HoldRow, JournalHeadRow, JournalQueueRow, JournalRecordRow,
                   PendingOutcomeRow, PeriodCloseRow)
from ..bulk_writes import Also, Rows, as_json, bulk_writes, record_set
from .lines import lines_of, metadata_of
from .sql import SqlStore, utc

# History rows no record records that a verification or an export shows, of each kind.
UNRECORDED_SHOWN = 100
_OUTCOME_KINDS = {EntryStatus.POSTED.value: RecordKind.PENDING_COMMITTED,
                  EntryStatus.VOIDED.value: RecordKind.PENDING_VOIDED,
                  EntryStatus.EXPIRED.value: RecordKind.PENDING_EXPIRED}


class Source(NamedTuple):
    """The history row a record is about (by kind: an entry, an account, a period close; the book's
    first record is about the book itself)."""

    entry_id: int | None = None
    account_id: int | None = None
    period_close_id: int | None = None


@dataclass(frozen=True)
class StoredRecord:
    """A record as the journal holds it, with its content as the history rows say now (None: the rows it
    is about are gone, or no longer say that such a change happened)."""

    sequence: int
    kind: str
    hash: str
    content: bytes
    rows_say: JournalRecord | None


@dataclass(frozen=True)
class UnrecordedChange:
    """A history row that no record of the journal records, when it says it was written, and the record
    it would have."""

    moment: datetime
    record: JournalRecord


# On PostgreSQL the statement that writes a change's rows (bulk_writes.Rows) ends by queueing its
# records, with no lock: writers of one book never wait for each other on its head, and a posting makes
# no round trip more than it did before the journal. Sealing takes them out of the queue later.
_QUEUE_COLUMNS = ("kind", "recorded_at", "before_sequence", "after_sequence", "entry_id", "account_id",
                  "period_close_id")
_QUEUE_TYPES = ("varchar", "timestamptz", "text", "text", "bigint", "bigint", "bigint")


def _postgres_queue(names_entry: str | None = None) -> str:
    return (f"INSERT INTO journal_queue (book_id, {', '.join(_QUEUE_COLUMNS)}) SELECT %s, {', '.join(_QUEUE_COLUMNS)}"
            " FROM " + record_set(_QUEUE_COLUMNS, _QUEUE_TYPES, names_entry))


# The first of pg_advisory_xact_lock's two keys for a book's first sealing (the second is the book's id).
_FIRST_SEAL_LOCKS = int.from_bytes(b"seal", "big")

# A record names its entry by id, or, queued with the entry itself, by the entry's placeholder (bulk_writes.Rows).
_POSTGRES_QUEUE, _POSTGRES_QUEUE_OF_NEW_ENTRIES = _postgres_queue(), _postgres_queue("entry_id")

_POSTGRES_RECORDS = (
    "INSERT INTO journal_records (book_id, sequence, kind, recorded_at, content, hash, entry_id, account_id,"
    " period_close_id) SELECT %s, * FROM json_to_recordset(%s::json) AS sealed(sequence bigint, kind varchar,"
    " recorded_at timestamptz, content text, hash varchar, entry_id bigint, account_id bigint, period_close_id bigint)")


@dataclass(frozen=True)
class _QueuedRecord:
    """A record taken out of the queue: its content is the two parts around its sequence."""

    kind: RecordKind
    recorded_at: datetime
    before: bytes
    after: bytes

    def content(self, sequence: int) -> bytes:
        return self.before + str(sequence).encode("ascii") + self.after


class SqlJournalStore(SqlStore):
    # --- writing ---

    def __init__(self, connection: Connection):
        super().__init__(connection)
        self._writes = bulk_writes(connection)

    def append(self, book_id: int, records: Sequence[tuple[JournalRecord, Source]], rows: Rows | None = None) -> None:
        """Writes the `rows` of a change (in one statement where the database allows) and the records of
        the change: on PostgreSQL queued in that statement, to be sealed once committed (`seal_queued`);
        elsewhere sealed at once, as the writer holds the whole database already."""
        if self.dialect == "postgresql":
            self._writes.rows(rows or Rows(), self._queued(book_id, records) if records else None)
            return
        if rows is not None:
            self._writes.rows(rows)
        if records:
            self.seal(book_id, records)

    @staticmethod
    def _queued(book_id: int, records: Sequence[tuple[JournalRecord, Source]]) -> Also:
        queued = []
        for record, source in records:
            before, after = record.content_around_sequence()
            queued.append((record.kind.value, record.recorded_at, before.decode("utf-8"), after.decode("utf-8"),
                           source.entry_id, source.account_id, source.period_close_id))
        return Also(_POSTGRES_QUEUE, [book_id, as_json(queued)], _POSTGRES_QUEUE_OF_NEW_ENTRIES)

    def seal(self, book_id: int, records: Sequence[tuple[JournalRecord | _QueuedRecord, Source]]) -> None:
        """Seals the records onto the end of the book's chain, in order, under the lock of its head."""
        self._seal_after(book_id, self._locked_head(book_id), records)

    def _locked_head(self, book_id: int):
        """The book's head, locked until commit. A book's first sealers on PostgreSQL find no head to
        lock: they take turns on a lock of the transaction's keyed by the book instead (not on the book's
        row, which writers share-lock against a period closing), and the later one then finds the head
        that the earlier one made."""
        locked = select(JournalHeadRow.sequence, JournalHeadRow.hash).where(JournalHeadRow.book_id == book_id) \
            .with_for_update()
        head = self._run(locked).first()
        if head is None and self.dialect == "postgresql":
            self._run(select(func.pg_advisory_xact_lock(_FIRST_SEAL_LOCKS, book_id)))
            head = self._run(locked).first()
        return head

    def _seal_after(self, book_id: int, head, records: Sequence[tuple[JournalRecord | _QueuedRecord, Source]]) -> None:
        after_sequence, after_hash = head if head else (0, GENESIS_HASH)
        sealed = journal.seal([record for record, _ in records], after_sequence, after_hash)
        rows = [dict(sequence=s.sequence, kind=s.kind.value, recorded_at=s.recorded_at, content=s.content.decode("utf-8"),
                     hash=s.hash, entry_id=source.entry_id, account_id=source.account_id,
                     period_close_id=source.period_close_id) for s, (_, source) in zip(sealed, records)]
        if self.dialect == "postgresql":
            # One statement for them all (an executemany is a statement a record).
            self.connection.exec_driver_sql(_POSTGRES_RECORDS, (book_id, as_json(rows)))
        else:
            self._run(insert(JournalRecordRow), [dict(book_id=book_id, **row) for row in rows])
        last = sealed[-1]
        values = dict(sequence=last.sequence, hash=last.hash, recorded_at=last.recorded_at)
        if head:
            self._run(update(JournalHeadRow).where(JournalHeadRow.book_id == book_id).values(**values))
        else:
            self._run(insert(JournalHeadRow).values(book_id=book_id, **values))

    def books_with_queued_records(self, book_id: int | None = None) -> list[int]:
        """The books that have records queued (of them, the book `book_id` only)."""
        query = select(JournalQueueRow.book_id).distinct()
        if book_id is not None:
            query = query.where(JournalQueueRow.book_id == book_id)
        return list(self._run(query).scalars())

    def seal_queued(self, book_id: int, at_most: int) -> int:
        """Seals up to `at_most` of the book's queued records onto its chain, in the order they were
        queued, and returns how many. Concurrency: the head is locked first (`_locked_head`), and only
        then are the records taken out of the queue, by a statement that sees every record committed by
        then: two sealers of a book take turns, and neither finds a record the other sealed. A record
        queued by a change still running is not seen; it is sealed by a later call, after whatever was
        sealed meanwhile. A change only sees what committed before it, so whatever a change depends on
        (an entry it commits, an account it posts to) is queued, and sealed, before it."""
        head = self._locked_head(book_id)
        taken = (select(JournalQueueRow.id).where(JournalQueueRow.book_id == book_id)
                 .order_by(JournalQueueRow.id).limit(at_most).scalar_subquery())
        queued = sorted(self._run(
            delete(JournalQueueRow).where(JournalQueueRow.id.in_(taken))
            .returning(JournalQueueRow.id, JournalQueueRow.kind, JournalQueueRow.recorded_at,
                       JournalQueueRow.before_sequence, JournalQueueRow.after_sequence, JournalQueueRow.entry_id,
                       JournalQueueRow.account_id, JournalQueueRow.period_close_id)).all(), key=lambda row: row.id)
        if queued:
            self._seal_after(book_id, head, [
                (_QueuedRecord(RecordKind(row.kind), utc(row.recorded_at), row.before_sequence.encode("utf-8"),
                               row.after_sequence.encode("utf-8")),
                 Source(row.entry_id, row.account_id, row.period_close_id)) for row in queued])
        return len(queued)

    # --- reading ---

    def head(self, book_id: int) -> tuple[int, str, datetime] | None:
        row = self._run(select(JournalHeadRow.sequence, JournalHeadRow.hash, JournalHeadRow.recorded_at)
                        .where(JournalHeadRow.book_id == book_id)).first()
        return (row.sequence, row.hash, utc(row.recorded_at)) if row else None

    def last_record(self, book_id: int, at_most: int) -> tuple[int, str] | None:
        """The sequence and hash of the book's last record numbered at most `at_most`."""
        row = self._run(select(JournalRecordRow.sequence, JournalRecordRow.hash)
                        .where(JournalRecordRow.book_id == book_id, JournalRecordRow.sequence <= at_most)
                        .order_by(JournalRecordRow.sequence.desc()).limit(1)).first()
        return (row.sequence, row.hash) if row else None

    def records(self, book: Book, from_sequence: int, to_sequence: int, limit: int) -> list[StoredRecord]:
        """Up to `limit` of the book's records numbered from `from_sequence` to `to_sequence`, in order of
        their sequence, each with what the rows it is about say now."""
        rows = self._run(
            select(JournalRecordRow.sequence, JournalRecordRow.kind, JournalRecordRow.hash, JournalRecordRow.content,
                   JournalRecordRow.entry_id, JournalRecordRow.account_id, JournalRecordRow.period_close_id)
            .where(JournalRecordRow.book_id == book.id, JournalRecordRow.sequence >= from_sequence,
                   JournalRecordRow.sequence <= to_sequence)
            .order_by(JournalRecordRow.sequence).limit(limit)).all()
        said = _RowsSay(self.connection, book, [(row.kind, Source(row.entry_id, row.account_id, row.period_close_id))
                                                for row in rows])
        return [StoredRecord(row.sequence, row.kind, row.hash, row.content.encode("utf-8"),
                             said.record(row.kind, Source(row.entry_id, row.account_id, row.period_close_id)))
                for row in rows]

    def unrecorded(self, book: Book) -> list[UnrecordedChange]:
        """The book's history rows that no record records, nor one queued for it, oldest first: entries, pending entries'
        outcomes, accounts opened or closed, periods closed. Of each kind the oldest UNRECORDED_SHOWN
        only: the first of them all is the first break, wherever the rest stand."""
        def recorded(kind, about: str, row_id):
            """Whether a record of the journal, or one queued for it, records the change."""
            return or_(*(exists().where(table.book_id == book.id, table.kind == kind, getattr(table, about) == row_id)
                         for table in (JournalRecordRow, JournalQueueRow)))

        outcome_kind = case({status: kind.value for status, kind in _OUTCOME_KINDS.items()},
                            value=PendingOutcomeRow.status)
        queries = [
            (lambda entry_id: (RecordKind.ENTRY_RECORDED.value, Source(entry_id=entry_id)),
             select(EntryRow.id).where(EntryRow.book_id == book.id, ~recorded(
                 RecordKind.ENTRY_RECORDED.value, "entry_id", EntryRow.id))
             .order_by(EntryRow.recorded_at)),
            (lambda entry_id, status: (_OUTCOME_KINDS[status].value, Source(entry_id=entry_id)),
             select(PendingOutcomeRow.entry_id, PendingOutcomeRow.status)
             .join(EntryRow, EntryRow.id == PendingOutcomeRow.entry_id)
             .where(EntryRow.book_id == book.id,
                    ~recorded(outcome_kind, "entry_id", PendingOutcomeRow.entry_id))
             .order_by(PendingOutcomeRow.settled_at)),
            (lambda account_id: (RecordKind.ACCOUNT_OPENED.value, Source(account_id=account_id)),
             select(AccountRow.id).where(AccountRow.book_id == book.id, ~recorded(
                 RecordKind.ACCOUNT_OPENED.value, "account_id", AccountRow.id))
             .order_by(AccountRow.opened_at)),
            (lambda account_id: (RecordKind.ACCOUNT_CLOSED.value, Source(account_id=account_id)),
             select(AccountRow.id).where(AccountRow.book_id == book.id,
                                         AccountRow.status == AccountStatus.CLOSED.value, ~recorded(
                                             RecordKind.ACCOUNT_CLOSED.value, "account_id", AccountRow.id))
             .order_by(AccountRow.closed_at)),
            (lambda close_id: (RecordKind.PERIOD_CLOSED.value, Source(period_close_id=close_id)),
             select(PeriodCloseRow.id).where(PeriodCloseRow.book_id == book.id, ~recorded(
                 RecordKind.PERIOD_CLOSED.value, "period_close_id", PeriodCloseRow.id))
             .order_by(PeriodCloseRow.closed_at)),
        ]
        found = [change(*row) for change, query in queries for row in self._run(query.limit(UNRECORDED_SHOWN))]
        said = _RowsSay(self.connection, book, found)
        changes = [UnrecordedChange(record.recorded_at, record)
                   for record in (said.record(kind, source) for kind, source in found) if record is not None]
        return sorted(changes, key=lambda change: change.moment)

    def place_of(self, book_id: int, moment: datetime) -> int:
        """The sequence a change made at `moment` would have: that of the first record made after it."""
        after = self._run(select(func.min(JournalRecordRow.sequence))
                          .where(JournalRecordRow.book_id == book_id, JournalRecordRow.recorded_at > moment)).scalar()
        if after is not None:
            return after
        last = self._run(select(func.max(JournalRecordRow.sequence))
                         .where(JournalRecordRow.book_id == book_id)).scalar()
        return (last or 0) + 1


class _RowsSay:
    """The records that the history rows of a set of (kind, source) pairs make, read in a few queries."""

    def __init__(self, connection: Connection, book: Book, wanted: Iterable[tuple[str, Source]], *,
                 metadata: bool = True):
        self.book = book
        wanted = list(wanted)
        entry_ids = sorted({source.entry_id for _, source in wanted if source.entry_id is not None})
        account_ids = sorted({source.account_id for _, source in wanted if source.account_id is not None})
        close_ids = sorted({source.period_close_id for _, source in wanted if source.period_close_id is not None})
        self.entries, self.outcomes, self.posted_lines = self._entries(connection, entry_ids, metadata)
        # Only the columns a record is made of, named: the chaining of existing books when the journal
        # came (migration 0006) reads them too, on a schema of that day.
        self.accounts = {row.id: row for row in connection.execute(
            select(AccountRow.id, AccountRow.code, AccountRow.name, AccountRow.type, AccountRow.currency,
                   AccountRow.parent_code, AccountRow.no_negative_balance, AccountRow.status, AccountRow.opened_at,
                   AccountRow.closed_at)
            .where(AccountRow.book_id == book.id, AccountRow.id.in_(account_ids)))} if account_ids else {}
        self.closes = {row.id: row for row in connection.execute(
            select(PeriodCloseRow.id, PeriodCloseRow.through_date, PeriodCloseRow.closed_at)
            .where(PeriodCloseRow.book_id == book.id, PeriodCloseRow.id.in_(close_ids)))} if close_ids else {}
        self.book_row = connection.execute(select(BookRow.code, BookRow.name, BookRow.created_at)
                                           .where(BookRow.id == book.id)).first() \
            if any(kind == RecordKind.BOOK_CREATED.value for kind, _ in wanted) else None

    def _entries(self, connection: Connection, entry_ids: list[int], with_metadata: bool):
        if not entry_ids:
            return {}, {}, {}
        original = aliased(EntryRow)
        heads = connection.execute(
            select(EntryRow.id, EntryRow.public_id, EntryRow.reference, EntryRow.effective_date, EntryRow.recorded_at,
                   EntryRow.description, EntryRow.status, EntryRow.pending_expires_at,
                   original.reference.label("reversal_of"))
            .outerjoin(original, original.id == EntryRow.reversal_of_id)
            .where(EntryRow.book_id == self.book.id, EntryRow.id.in_(entry_ids))).all()
        outcomes = {row.entry_id: row for row in connection.execute(
            select(PendingOutcomeRow.entry_id, PendingOutcomeRow.status, PendingOutcomeRow.reason,
                   PendingOutcomeRow.settled_at).where(PendingOutcomeRow.entry_id.in_(entry_ids)))}
        lines = {"posted": lines_of(connection, entry_ids, pending=False),
                 "pending": lines_of(connection, entry_ids, pending=True)}
        metadata = metadata_of(connection, entry_ids) if with_metadata else {}
        entries = {}
        for row in heads:
            two_phase = row.status == EntryStatus.PENDING.value
            entries[row.id] = Entry(
                id=row.public_id, reference=row.reference, effective_date=row.effective_date,
                recorded_at=utc(row.recorded_at), description=row.description, status=EntryStatus(row.status),
                lines=tuple(lines["pending" if two_phase else "posted"].get(row.id, ())),
                pending_expires_at=utc(row.pending_expires_at), reversal_of=row.reversal_of, two_phase=two_phase,
                metadata=metadata.get(row.id, ()), row_id=row.id)
        return entries, outcomes, lines["posted"]

    def record(self, kind: str, source: Source) -> JournalRecord | None:
        """What the rows say the change was; None when they say nothing of the kind, or nothing the
        domain can read (a value edited into what no release writes, such as an unknown account type)."""
        try:
            return self._record(kind, source)
        except (ValueError, LedgerError):
            return None

    def _record(self, kind: str, source: Source) -> JournalRecord | None:
        if kind == RecordKind.BOOK_CREATED.value:
            row = self.book_row
            return journal.book_created(Book(row.code, row.name), utc(row.created_at))
        if kind == RecordKind.ENTRY_RECORDED.value:
            entry = self.entries.get(source.entry_id)
            return journal.entry_recorded(entry) if entry else None
        if kind in (k.value for k in _OUTCOME_KINDS.values()):
            return self._outcome(kind, source.entry_id)
        if kind in (RecordKind.ACCOUNT_OPENED.value, RecordKind.ACCOUNT_CLOSED.value):
            return self._account(kind, self.accounts.get(source.account_id))
        if kind == RecordKind.PERIOD_CLOSED.value:
            row = self.closes.get(source.period_close_id)
            return journal.period_closed(row.through_date, utc(row.closed_at)) if row else None
        return None

    def _outcome(self, kind: str, entry_id: int | None) -> JournalRecord | None:
        entry, outcome = self.entries.get(entry_id), self.outcomes.get(entry_id)
        if entry is None or outcome is None or _OUTCOME_KINDS.get(outcome.status) is not RecordKind(kind):
            return None
        at = utc(outcome.settled_at)
        if kind == RecordKind.PENDING_COMMITTED.value:
            return journal.pending_committed(entry.reference, self.posted_lines.get(entry_id, ()), at)
        if kind == RecordKind.PENDING_VOIDED.value:
            return journal.pending_voided(entry.reference, outcome.reason, at)
        return journal.pending_expired(entry.reference, entry.pending_expires_at, at)

    @staticmethod
    def _account(kind: str, row) -> JournalRecord | None:
        if row is None:
            return None
        if kind == RecordKind.ACCOUNT_CLOSED.value:
            closed = row.status == AccountStatus.CLOSED.value and row.closed_at is not None
            return journal.account_closed(row.code, utc(row.closed_at)) if closed else None
        return journal.account_opened(Account(
            code=row.code, name=row.name, type=AccountType(row.type), currency=currency(row.currency),
            parent_code=row.parent_code, no_negative_balance=row.no_negative_balance,
            status=AccountStatus(row.status), opened_at=utc(row.opened_at)))


_KIND_ORDER = [RecordKind.BOOK_CREATED, RecordKind.ACCOUNT_OPENED, RecordKind.ENTRY_RECORDED,
               RecordKind.PENDING_COMMITTED, RecordKind.PENDING_VOIDED, RecordKind.PENDING_EXPIRED,
               RecordKind.ACCOUNT_CLOSED, RecordKind.PERIOD_CLOSED]


def chain_existing_history(connection: Connection, now: datetime) -> None:
    """Gives every book that has no journal yet its chain: one record per change its history rows
    show, in the order they were recorded (by time; at one moment, a book before its accounts, an
    account before its entries, an entry before its outcome). A pending entry whose reservation was
    released when it expired, before expiries were recorded, gets its EXPIRED outcome now."""
    lapsed_and_released = (
        select(EntryRow.id).where(
            EntryRow.status == EntryStatus.PENDING.value, EntryRow.pending_expires_at <= now,
            ~exists().where(PendingOutcomeRow.entry_id == EntryRow.id),
            ~exists().where(HoldRow.entry_id == EntryRow.id)))
    expired = connection.execute(lapsed_and_released).scalars().all()
    if expired:
        connection.execute(insert(PendingOutcomeRow), [
            dict(entry_id=entry_id, status=EntryStatus.EXPIRED.value, settled_at=now) for entry_id in expired])
    journal_store = SqlJournalStore(connection)
    chained = select(JournalHeadRow.book_id)
    for book_id, code, name in connection.execute(
            select(BookRow.id, BookRow.code, BookRow.name).where(BookRow.id.not_in(chained)).order_by(BookRow.id)):
        book = Book(code, name, id=book_id)
        changes = [(RecordKind.BOOK_CREATED.value, Source())]
        changes += [(RecordKind.ENTRY_RECORDED.value, Source(entry_id=entry_id)) for entry_id in connection.execute(
            select(EntryRow.id).where(EntryRow.book_id == book_id)).scalars()]
        changes += [(_OUTCOME_KINDS[status].value, Source(entry_id=entry_id)) for entry_id, status in connection.execute(
            select(PendingOutcomeRow.entry_id, PendingOutcomeRow.status)
            .join(EntryRow, EntryRow.id == PendingOutcomeRow.entry_id).where(EntryRow.book_id == book_id))]
        for account_id, status in connection.execute(
                select(AccountRow.id, AccountRow.status).where(AccountRow.book_id == book_id)):
            changes.append((RecordKind.ACCOUNT_OPENED.value, Source(account_id=account_id)))
            if status == AccountStatus.CLOSED.value:
                changes.append((RecordKind.ACCOUNT_CLOSED.value, Source(account_id=account_id)))
        changes += [(RecordKind.PERIOD_CLOSED.value, Source(period_close_id=close_id)) for close_id in connection.execute(
            select(PeriodCloseRow.id).where(PeriodCloseRow.book_id == book_id)).scalars()]
        # Entries had no metadata, nor its table, when the journal came.
        said = _RowsSay(connection, book, changes, metadata=False)
        records = [(said.record(kind, source), source) for kind, source in changes]
        records.sort(key=lambda pair: (pair[0].recorded_at, _KIND_ORDER.index(pair[0].kind), pair[1]))
        journal_store.seal(book_id, records)
