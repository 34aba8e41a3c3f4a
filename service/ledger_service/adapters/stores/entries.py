"""Journal entries: their heads and lines, the pending ones' lines, holds and outcomes, and who wrote
them. History is only ever added to."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Iterable, Sequence

from sqlalchemy import Connection, and_, delete, insert, select
from sqlalchemy.orm import aliased

from ...domain import journal
from ...domain.access import Audit
from ...domain.accounts import Side
from ...domain.entries import Entry, EntryAudit, EntryStatus, Posting, entry_status, posted_line, recorded_entry
from ...service_layer.ports import NewEntry
from ..bulk_writes import Rows, bulk_writes
from ..orm import ClientRow, EntryRow, HoldRow, JournalRecordRow, PendingOutcomeRow
from .holds import release_lapsed_anywhere
from .journal import Source
from .lines import lines_of, metadata_of
from .sql import HistoryStore, over_lists, utc


def _statements(one_of) -> dict:
    original, reversal = aliased(EntryRow), aliased(EntryRow)
    return {
        "heads": (
            select(EntryRow.id, EntryRow.public_id, EntryRow.reference, EntryRow.effective_date, EntryRow.recorded_at,
                   EntryRow.description, EntryRow.status, EntryRow.fingerprint, EntryRow.pending_expires_at,
                   PendingOutcomeRow.status.label("outcome"),
                   original.reference.label("reversal_of"), reversal.reference.label("reversed_by"))
            .outerjoin(PendingOutcomeRow, PendingOutcomeRow.entry_id == EntryRow.id)
            .outerjoin(original, original.id == EntryRow.reversal_of_id)
            .outerjoin(reversal, reversal.reversal_of_id == EntryRow.id)
            .where(one_of(EntryRow.reference, "references", book="book_id"))
        ),
    }


_OVER_LISTS = over_lists(_statements)


class SqlEntryStore(HistoryStore):
    def __init__(self, connection: Connection, journal_store):
        super().__init__(connection, journal_store)
        self._writes = bulk_writes(connection)
        self._over_lists = _OVER_LISTS[self.dialect]

    def entry(self, book_id: int, reference: str, now: datetime) -> Entry | None:
        return self.entries(book_id, [reference], now).get(reference)

    def entries(self, book_id: int, references: Iterable[str], now: datetime) -> dict[str, Entry]:
        """The book's entries with these references, by reference, each with its status at `now`: at most
        four queries however many are asked for."""
        heads = self._run(self._over_lists["heads"], {"book_id": book_id, "references": sorted(set(references))}).all()
        if not heads:
            return {}
        # A pending entry's lines are kept as submitted in pending_lines; a committed one shows what it
        # posted to `lines` (a partial commit posts less than it held).
        two_phase = {head.id for head in heads if head.status == EntryStatus.PENDING.value}
        as_submitted = two_phase - {head.id for head in heads if head.outcome == EntryStatus.POSTED.value}
        lines = {**lines_of(self.connection, {head.id for head in heads} - as_submitted, pending=False),
                 **lines_of(self.connection, as_submitted, pending=True)}
        metadata = metadata_of(self.connection, [head.id for head in heads])
        found = {}
        for head in heads:
            expires_at = utc(head.pending_expires_at)
            outcome = EntryStatus(head.outcome) if head.outcome else None
            found[head.reference] = Entry(
                id=head.public_id, reference=head.reference, effective_date=head.effective_date,
                recorded_at=utc(head.recorded_at), description=head.description,
                status=entry_status(head.id in two_phase, outcome, expires_at, now), lines=tuple(lines.get(head.id, ())),
                pending_expires_at=expires_at, reversal_of=head.reversal_of, reversed_by=head.reversed_by,
                two_phase=head.id in two_phase, metadata=metadata.get(head.id, ()), fingerprint=head.fingerprint,
                row_id=head.id,
            )
        return found

    def entry_audit(self, book_id: int, reference: str) -> EntryAudit | None:
        settler = aliased(ClientRow)
        row = self._run(
            select(EntryRow.reference, ClientRow.name, EntryRow.request_id, EntryRow.recorded_at,
                   settler.name, PendingOutcomeRow.request_id, PendingOutcomeRow.settled_at, PendingOutcomeRow.reason,
                   JournalRecordRow.sequence)
            .outerjoin(ClientRow, ClientRow.id == EntryRow.client_id)
            .outerjoin(JournalRecordRow, and_(JournalRecordRow.entry_id == EntryRow.id,
                                              JournalRecordRow.kind == journal.RecordKind.ENTRY_RECORDED.value))
            # Settled by a client: committed or voided (an expiry is nobody's doing).
            .outerjoin(PendingOutcomeRow, and_(PendingOutcomeRow.entry_id == EntryRow.id,
                                               PendingOutcomeRow.status != EntryStatus.EXPIRED.value))
            .outerjoin(settler, settler.id == PendingOutcomeRow.client_id)
            .where(EntryRow.book_id == book_id, EntryRow.reference == reference)
        ).first()
        if row is None:
            return None
        return EntryAudit(row[0], row[1], row[2], utc(row[3]), settled_by=row[4], settled_request_id=row[5],
                          settled_at=utc(row[6]), void_reason=row[7], journal_sequence=row[8])

    def add_entries(self, book_id: int, entries: Sequence[NewEntry], now: datetime, audit: Audit) -> list[Entry]:
        """Writes entries in a few statements however many (see bulk_writes; on PostgreSQL one): the entries and their
        metadata; the posted ones' lines and per-day totals; the pending ones' lines and holds; the accounts' new running totals (as
        the postings left the Account objects); the entries' journal records. Returns the entries recorded, in order. A second reversal
        of one entry fails on the unique reversal_of_id (IntegrityError: the use case runs again and
        finds the first)."""
        public_ids = [str(uuid.uuid4()) for _ in entries]
        rows = Rows()
        named = self._writes.entries(
            dict(book_id=book_id, recorded_at=now, client_id=audit.client_id, request_id=audit.request_id),
            [(public_id, new.entry.reference, new.entry.effective_date, new.entry.description,
              (EntryStatus.PENDING if new.entry.pending else EntryStatus.POSTED).value, new.entry.fingerprint,
              new.entry.expires_at(now) if new.entry.pending else None,
              new.reverses.row_id if new.reverses else None)
             for public_id, new in zip(public_ids, entries)], rows)
        for public_id, new in zip(public_ids, entries):
            rows.metadata += [(named[public_id], item.key, item.value) for item in new.entry.metadata]
            if new.entry.pending:
                self._pending_rows(rows, named[public_id], new.entry.expires_at(now), new.postings)
            else:
                self._posted_rows(rows, named[public_id], new.entry.effective_date, new.postings)
        self._account_total_rows(rows, [p.account for new in entries for p in new.postings])
        recorded = [recorded_entry(new.entry, new.postings, public_id, now, new.reverses.reference if new.reverses else None)
                    for public_id, new in zip(public_ids, entries)]
        self.journal.append(book_id, [(journal.entry_recorded(entry), Source(entry_id=named[entry.id]))
                                      for entry in recorded], rows)
        return recorded

    def _posted_rows(self, rows: Rows, entry_id: int, effective_date: date, postings: Sequence[Posting]) -> None:
        """A posted entry's lines, and what they add to the per-day totals."""
        for p in postings:
            rows.lines.append((entry_id, p.position, p.account.id, effective_date, p.side.value, p.minor, p.memo))
            rows.add_to_day(p.account.id, effective_date, p.side is Side.DEBIT, p.minor)

    def _pending_rows(self, rows: Rows, entry_id: int, expires_at: datetime | None,
                      postings: Sequence[Posting]) -> None:
        """A pending entry's lines as submitted, and a hold for each."""
        for p in postings:
            rows.pending_lines.append((entry_id, p.position, p.account.id, p.side.value, p.minor, p.memo))
            rows.holds.append((entry_id, p.position, p.account.id, p.side.value, p.minor, expires_at))

    def _account_total_rows(self, rows: Rows, accounts: Iterable) -> None:
        """The running totals of these (locked) accounts as the domain left them, in id order."""
        touched = {account.id: account for account in accounts}
        rows.account_totals = [(account_id, *touched[account_id].totals()) for account_id in sorted(touched)]

    def settle_pending(self, book_id: int, entry: Entry, held: Sequence[Posting], posted: Sequence[Posting],
                       outcome: EntryStatus, reason: str | None, now: datetime, audit: Audit) -> bool:
        """Records a pending entry's outcome: its holds (`held`) released, and for POSTED the lines it
        posted (`posted`) and their per-day totals written; the accounts' totals as the domain left them.
        False when a hold of the entry is gone already: it expired, by the clock of whoever released it,
        and the caller must refuse (its transaction then undoes what this began)."""
        released = self._run(delete(HoldRow).where(HoldRow.entry_id == entry.row_id)
                             .returning(HoldRow.position)).scalars().all()
        if len(released) != len(held):
            return False
        self._run(insert(PendingOutcomeRow).values(entry_id=entry.row_id, status=outcome.value, reason=reason,
                                                   settled_at=now, client_id=audit.client_id,
                                                   request_id=audit.request_id))
        rows = Rows()
        self._posted_rows(rows, entry.row_id, entry.effective_date, posted)
        self._account_total_rows(rows, [p.account for p in held])
        record = (journal.pending_committed(entry.reference, [posted_line(p) for p in posted], now)
                  if outcome is EntryStatus.POSTED else journal.pending_voided(entry.reference, reason, now))
        self.journal.append(book_id, [(record, Source(entry_id=entry.row_id))], rows)
        return True

    def release_expired_holds(self, now: datetime, at_most: int) -> int:
        return release_lapsed_anywhere(self.connection, self.journal, now, at_most)

    def refresh_statistics(self) -> None:
        """Has PostgreSQL measure the tables a posting reads and writes. A bulk load grows them faster than
        autovacuum measures them, and a plan made for the few rows they held would scan them all."""
        if self.dialect == "postgresql":
            self.connection.exec_driver_sql("ANALYZE accounts, entries, lines, account_days, pending_lines, holds")
