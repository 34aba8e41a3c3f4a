"""Tamper evidence: a book's journal, recomputed from the rows, shows the first place where someone with
the database in hand changed history behind the service's back, and an export of it checked offline
shows the same place (docs/contract.md#journal).

Each case builds a book over SOAP, then tampers with it directly in the database, with the triggers that
refuse such changes (adapters/history_guard.py) out of the way as only the schema's owner could put
them: on PostgreSQL as the superuser, in replica mode, which fires no user trigger (nor foreign key);
on SQLite by dropping the triggers and creating them again in the same transaction. What each case
expects is worked out from the order in which the book was built and from what the case changed.
"""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import delete, insert, select, text, update

from conftest import BACKENDS, cli, fault_code, start_server, unique
from ledger_service.adapters.database import create_ledger_engine
from ledger_service.adapters.history_guard import guard_statements, unguard_statements
from ledger_service.adapters.orm import (AccountRow, BookRow, EntryMetadataRow, EntryRow, JournalRecordRow, LineRow,
                                        PendingLineRow, PeriodCloseRow)
from ledger_service.domain.journal_chain import Reason, chain_hash, check_export

@dataclass
class BuiltBook:
    """A book built over SOAP, and the changes made to it in the order made: its journal, as the test
    expects it, is one record per change, numbered from 1."""

    code: str
    changes: list[tuple[str, str | None]] = field(default_factory=list)

    def sequence(self, kind: str, subject: str | None = None) -> int:
        return self.changes.index((kind, subject)) + 1

    @property
    def head(self) -> int:
        return len(self.changes)


def build(service) -> BuiltBook:
    """Accounts, posted entries, a pending entry committed and one voided, a reversal, a closed account
    and a closed period."""
    book = BuiltBook(unique("T"))
    code = book.code
    service.CreateBook(code, f"Book {code}")
    book.changes.append(("BookCreated", None))
    for account, kind in (("cash", "ASSET"), ("sales", "INCOME"), ("fees", "INCOME"), ("spare", "EXPENSE")):
        service.OpenAccount(code, {"code": account, "name": account.title(), "type": kind, "currency": "USD"})
        book.changes.append(("AccountOpened", account))

    def post(reference: str, lines, **extra):
        service.PostEntry(code, {"reference": reference, "effectiveDate": "2026-01-15", **extra, "lines": {"line": [
            {"account": account, "side": side, "amount": amount} for account, side, amount in lines]}})
        book.changes.append(("EntryRecorded", reference))

    post("SALE-1", [("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")])
    post("SALE-2", [("cash", "DEBIT", "20.00"), ("sales", "CREDIT", "20.00")], description="second sale")
    post("SALE-3", [("cash", "DEBIT", "33.00"), ("sales", "CREDIT", "30.00"), ("fees", "CREDIT", "3.00")],
         metadata={"item": [{"key": "invoice", "value": "INV-3"}, {"key": "costCentre", "value": "CC-7"}]})
    post("HOLD-1", [("cash", "DEBIT", "5.00"), ("sales", "CREDIT", "5.00")], pending=True)
    service.CommitPending(code, "HOLD-1")
    book.changes.append(("PendingCommitted", "HOLD-1"))
    post("HOLD-2", [("cash", "DEBIT", "7.00"), ("sales", "CREDIT", "7.00")], pending=True)
    service.VoidPending(code, "HOLD-2", "customer cancelled")
    book.changes.append(("PendingVoided", "HOLD-2"))
    service.ReverseEntry(code, "SALE-2", "REV-2", None, "posted twice")
    book.changes.append(("EntryRecorded", "REV-2"))
    service.CloseAccount(code, "spare")
    book.changes.append(("AccountClosed", "spare"))
    service.ClosePeriod(code, "2026-01-10")
    book.changes.append(("PeriodClosed", None))
    service.GetJournalHead(code)  # which seals the records the changes queued
    return book


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    """A server of the module's own: the shared ones check after the session that every journal verifies."""
    return start_server(request, tmp_path_factory, request.param)


@pytest.fixture(scope="module")
def service(server):
    return server.zeep().service


@pytest.fixture
def book(service) -> BuiltBook:
    return build(service)


# --- the database, as the tamperer has it ---

@contextmanager
def connected(server):
    engine = create_ledger_engine(server.database_url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def triggers(connection) -> set[str]:
    if connection.dialect.name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return set(connection.execute(text(query)).scalars())


@contextmanager
def unguarded(server):
    """A transaction in which history rows can be changed, the guarding triggers as they were after it."""
    with connected(server) as connection:
        guarding = triggers(connection)
        dialect = connection.dialect.name
        if dialect == "postgresql":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            for statement in unguard_statements(dialect):
                connection.exec_driver_sql(statement)
        yield connection
        if dialect == "sqlite":
            for statement in guard_statements(dialect):
                connection.exec_driver_sql(statement)
    with connected(server) as connection:
        assert triggers(connection) == guarding


def entry_id(connection, code: str, reference: str) -> int:
    return connection.execute(select(EntryRow.id).join(BookRow, BookRow.id == EntryRow.book_id)
                              .where(BookRow.code == code, EntryRow.reference == reference)).scalar_one()


def book_id(connection, code: str) -> int:
    return connection.execute(select(BookRow.id).where(BookRow.code == code)).scalar_one()


def record_at(connection, code: str, sequence: int):
    return connection.execute(select(JournalRecordRow).where(
        JournalRecordRow.book_id == book_id(connection, code), JournalRecordRow.sequence == sequence)).one()


def rewrite_record(connection, code: str, sequence: int, **values) -> None:
    connection.execute(update(JournalRecordRow).where(JournalRecordRow.book_id == book_id(connection, code),
                                                      JournalRecordRow.sequence == sequence).values(**values))


# --- what the service and the offline verifier say ---

def verification(service, code: str, from_sequence=None, to_sequence=None):
    found = service.VerifyJournal(code, from_sequence, to_sequence)
    assert re.fullmatch("[0-9a-f]{64}", found.headHash), found  # a Hash, whatever the stretch found
    return found


def first_break(service, code: str):
    found = verification(service, code)
    assert found.intact is False and found.firstBreak is not None, found
    return found.firstBreak.sequence, Reason(found.firstBreak.reason)


def offline(server, code: str, head: str, directory):
    """The book exported by `ledger-service journal export`, checked as `ledger-client verify-journal`
    checks it, against a head obtained earlier."""
    path = directory / f"{code}.journal"
    exported = cli("journal", "export", code, str(path), env={"LEDGER_DATABASE_URL": server.database_url})
    assert exported.returncode == 0, exported.stderr
    with path.open(encoding="utf-8") as file:
        return check_export(file, head=head)


# --- an untouched book ---

def test_an_untouched_book_verifies_intact_over_its_whole_chain_and_any_stretch(server, service, book, tmp_path):
    head = service.GetJournalHead(book.code)
    assert head.sequence == book.head
    with connected(server) as connection:
        kinds = connection.execute(select(JournalRecordRow.kind).where(
            JournalRecordRow.book_id == book_id(connection, book.code)).order_by(JournalRecordRow.sequence)).scalars()
        assert list(kinds) == [kind for kind, _ in book.changes]

    whole = verification(service, book.code)
    assert (whole.intact, whole.firstBreak) == (True, None)
    assert (whole.fromSequence, whole.toSequence, whole.recordsChecked) == (1, book.head, book.head)
    assert whole.headHash == head.hash

    stretch = verification(service, book.code, 3, 9)
    assert (stretch.intact, stretch.fromSequence, stretch.toSequence, stretch.recordsChecked) == (True, 3, 9, 7)
    with connected(server) as connection:
        assert stretch.headHash == record_at(connection, book.code, 9).hash
    beyond = verification(service, book.code, book.head - 1, book.head + 50)
    assert (beyond.intact, beyond.toSequence, beyond.recordsChecked, beyond.headHash) == (
        True, book.head, 2, head.hash)
    for past in (book.head + 1, book.head + 2):  # nothing there yet: nothing to check, nothing missing
        nothing = verification(service, book.code, past, None)
        assert (nothing.intact, nothing.recordsChecked, nothing.headHash) == (True, 0, head.hash)
    assert fault_code(service.VerifyJournal, book.code, 5, 4) == "SchemaValidation"

    checked = offline(server, book.code, head.hash, tmp_path)
    assert checked.intact and (checked.records, checked.last_sequence, checked.last_hash) == (
        book.head, book.head, head.hash)


# --- tampering, a case a book ---

@dataclass(frozen=True)
class Tampered:
    """Where a tampering breaks the chain: the service, which also compares each record with its rows,
    and the offline verifier, which has the rows' content and the stored hashes only."""

    sequence: int
    reason: Reason
    offline_reason: Reason


def change_amount(table, reference: str, kind: str):
    """One amount of an entry's lines, posted (`lines`) or pending as submitted (`pending_lines`), one
    cent more: the record of that kind about the entry, which holds those lines, is changed."""
    def tamper(connection, book: BuiltBook) -> Tampered:
        entry = entry_id(connection, book.code, reference)
        connection.execute(update(table).where(table.entry_id == entry, table.position == 0)
                           .values(amount=table.amount + 1))
        return Tampered(book.sequence(kind, reference), Reason.CONTENT_CHANGED, Reason.HASH_MISMATCH)
    return tamper


def delete_line(connection, book: BuiltBook) -> Tampered:
    entry = entry_id(connection, book.code, "SALE-3")
    connection.execute(delete(LineRow).where(LineRow.entry_id == entry, LineRow.position == 2))
    return Tampered(book.sequence("EntryRecorded", "SALE-3"), Reason.CONTENT_CHANGED, Reason.HASH_MISMATCH)


def edit_metadata(connection, book: BuiltBook) -> Tampered:
    entry = entry_id(connection, book.code, "SALE-3")
    connection.execute(update(EntryMetadataRow).where(EntryMetadataRow.entry_id == entry,
                                                      EntryMetadataRow.key == "invoice").values(value="INV-4"))
    return Tampered(book.sequence("EntryRecorded", "SALE-3"), Reason.CONTENT_CHANGED, Reason.HASH_MISMATCH)


def add_metadata(connection, book: BuiltBook) -> Tampered:
    """A dimension given afterwards to an entry recorded without any."""
    connection.execute(insert(EntryMetadataRow).values(entry_id=entry_id(connection, book.code, "SALE-1"),
                                                       key="project", value="P-1"))
    return Tampered(book.sequence("EntryRecorded", "SALE-1"), Reason.CONTENT_CHANGED, Reason.HASH_MISMATCH)


def delete_entry(connection, book: BuiltBook) -> Tampered:
    """An entry gone without a trace but the gap: its lines, itself and its record."""
    entry = entry_id(connection, book.code, "SALE-1")
    connection.execute(delete(LineRow).where(LineRow.entry_id == entry))
    connection.execute(delete(JournalRecordRow).where(JournalRecordRow.entry_id == entry))
    connection.execute(delete(EntryRow).where(EntryRow.id == entry))
    sequence = book.sequence("EntryRecorded", "SALE-1")
    return Tampered(sequence, Reason.MISSING_RECORD, Reason.MISSING_RECORD)


def delete_last_change(connection, book: BuiltBook) -> Tampered:
    """The book's last change, the period close, gone with its record: the chain ends short of its head."""
    books = book_id(connection, book.code)
    connection.execute(delete(JournalRecordRow).where(JournalRecordRow.book_id == books,
                                                      JournalRecordRow.sequence == book.head))
    connection.execute(delete(PeriodCloseRow).where(PeriodCloseRow.book_id == books))
    return Tampered(book.head, Reason.MISSING_RECORD, Reason.MISSING_RECORD)


def insert_entry(connection, book: BuiltBook) -> Tampered:
    """An entry with lines, written as if between SALE-2 and SALE-3, that no record records."""
    before = record_at(connection, book.code, book.sequence("EntryRecorded", "SALE-2"))
    after = record_at(connection, book.code, book.sequence("EntryRecorded", "SALE-3"))
    assert before.recorded_at < after.recorded_at
    moment = before.recorded_at + (after.recorded_at - before.recorded_at) / 2
    sale_1 = connection.execute(select(EntryRow).where(EntryRow.id == entry_id(connection, book.code, "SALE-1"))).one()
    inserted = connection.execute(insert(EntryRow).values(
        public_id=str(uuid.uuid4()), book_id=sale_1.book_id, reference="SLIPPED-IN",
        effective_date=sale_1.effective_date, recorded_at=moment, status="POSTED", fingerprint=sale_1.fingerprint)
        .returning(EntryRow.id)).scalar_one()
    for line in connection.execute(select(LineRow).where(LineRow.entry_id == sale_1.id)).all():
        connection.execute(insert(LineRow).values(
            entry_id=inserted, position=line.position, account_id=line.account_id, effective_date=line.effective_date,
            side=line.side, amount=line.amount))
    # It stands where a change made at that moment would: before SALE-3's record.
    return Tampered(book.sequence("EntryRecorded", "SALE-3"), Reason.MISSING_RECORD, Reason.MISSING_RECORD)


def swap_records(connection, book: BuiltBook) -> Tampered:
    """SALE-1's and SALE-3's records exchange their sequences (through a sequence no record has)."""
    books = book_id(connection, book.code)
    first, second = book.sequence("EntryRecorded", "SALE-1"), book.sequence("EntryRecorded", "SALE-3")
    for old, new in ((first, -1), (second, first), (-1, second)):
        connection.execute(update(JournalRecordRow).where(JournalRecordRow.book_id == books,
                                                          JournalRecordRow.sequence == old).values(sequence=new))
    # Offline, the content at `first` is what the rows make of the record now there, numbered `first`:
    # in its place by its content, but not the content that was hashed there.
    return Tampered(first, Reason.OUT_OF_ORDER, Reason.HASH_MISMATCH)


def edit_hash(connection, book: BuiltBook) -> Tampered:
    sequence = book.sequence("EntryRecorded", "SALE-2")
    rewrite_record(connection, book.code, sequence, hash=record_at(connection, book.code, sequence).hash[::-1])
    return Tampered(sequence, Reason.HASH_MISMATCH, Reason.HASH_MISMATCH)


def edit_content_and_hash(connection, book: BuiltBook) -> Tampered:
    """SALE-2's record made to say another description, and hashed again as if it had said that."""
    sequence = book.sequence("EntryRecorded", "SALE-2")
    stored, previous = record_at(connection, book.code, sequence), record_at(connection, book.code, sequence - 1)
    content = stored.content.replace("second sale", "second sales")
    assert content != stored.content
    rewrite_record(connection, book.code, sequence, content=content, hash=chain_hash(previous.hash, content.encode()))
    return Tampered(sequence, Reason.CONTENT_CHANGED, Reason.HASH_MISMATCH)


def unreadable_account_type(connection, book: BuiltBook) -> Tampered:
    """An account's type edited into one no release writes: its AccountOpened record no longer stands
    for anything the rows say (the verification reports it, rather than failing on it)."""
    connection.execute(update(AccountRow).where(AccountRow.book_id == book_id(connection, book.code),
                                                AccountRow.code == "fees").values(type="BOGUS"))
    return Tampered(book.sequence("AccountOpened", "fees"), Reason.CONTENT_CHANGED, Reason.HASH_MISMATCH)


CASES = {
    "amount-of-a-posted-line": change_amount(LineRow, "SALE-1", "EntryRecorded"),
    # A committed pending entry's posted lines are what its PendingCommitted record holds.
    "amount-of-a-committed-line": change_amount(LineRow, "HOLD-1", "PendingCommitted"),
    "amount-of-a-pending-line": change_amount(PendingLineRow, "HOLD-2", "EntryRecorded"),
    "a-line-deleted": delete_line,
    "a-metadata-value-edited": edit_metadata,
    "metadata-added-to-an-entry": add_metadata,
    "an-entry-deleted": delete_entry,
    "the-last-change-deleted": delete_last_change,
    "an-entry-inserted": insert_entry,
    "two-records-swapped": swap_records,
    "a-hash-edited": edit_hash,
    "a-record-rewritten-and-rehashed": edit_content_and_hash,
    "an-account-type-unreadable": unreadable_account_type,
}


@pytest.mark.parametrize("case", CASES)
def test_tampering_breaks_the_chain_where_it_was_done(server, service, book, case, tmp_path):
    head = service.GetJournalHead(book.code).hash
    with unguarded(server) as connection:
        expected = CASES[case](connection, book)

    assert first_break(service, book.code) == (expected.sequence, expected.reason)
    # A stretch that ends before the break is intact; one that starts at it finds it.
    before = verification(service, book.code, 1, expected.sequence - 1)
    assert (before.intact, before.recordsChecked) == (True, expected.sequence - 1)
    found = verification(service, book.code, expected.sequence, None)
    assert (found.intact, found.firstBreak.sequence, Reason(found.firstBreak.reason)) == (
        False, expected.sequence, expected.reason)
    after = verification(service, book.code, expected.sequence + 1, None)
    if expected.reason is Reason.MISSING_RECORD:
        # What is missing is missing from the next stretch on too: verifying stretch by stretch, the last
        # stretch, which looks for rows no record records, finds those that stand in earlier ones.
        assert (after.intact, after.firstBreak.sequence, Reason(after.firstBreak.reason)) == (
            False, expected.sequence, Reason.MISSING_RECORD)

    checked = offline(server, book.code, head, tmp_path)
    assert not checked.intact
    if checked.broken is None:
        # The chain's end cut off: only the head known from before shows it.
        assert expected.sequence == book.head and checked.head_found is False
        assert checked.last_sequence == book.head - 1
    else:
        assert (checked.broken.sequence, checked.broken.reason) == (expected.sequence, expected.offline_reason)


def test_a_record_edited_alone_is_found_by_the_service_and_changes_nothing_exported(server, service, book, tmp_path):
    """The journal's copy of a record's content, edited and nothing else: the service, comparing it with
    the rows, finds it; an export carries what the rows say, which still chains to the stored hashes."""
    sequence = book.sequence("EntryRecorded", "SALE-2")
    with unguarded(server) as connection:
        content = record_at(connection, book.code, sequence).content
        rewrite_record(connection, book.code, sequence, content=content.replace("second sale", "second sales"))
    assert first_break(service, book.code) == (sequence, Reason.CONTENT_CHANGED)
    assert offline(server, book.code, service.GetJournalHead(book.code).hash, tmp_path).intact



def rewrite_history_from(connection, code: str, sequence: int, description: str) -> str:
    """SALE-2's description changed in its row and in its record, and every record from there on hashed
    again: a chain that holds together. Returns the new last hash."""
    connection.execute(update(EntryRow).where(EntryRow.id == entry_id(connection, code, "SALE-2"))
                       .values(description=description))
    previous = record_at(connection, code, sequence - 1).hash
    last = connection.execute(select(JournalRecordRow.sequence).where(
        JournalRecordRow.book_id == book_id(connection, code)).order_by(JournalRecordRow.sequence.desc())).scalar()
    for number in range(sequence, last + 1):
        content = record_at(connection, code, number).content
        if number == sequence:
            content = content.replace("second sale", description)
        previous = chain_hash(previous, content.encode())
        rewrite_record(connection, code, number, content=content, hash=previous)
    return previous


def test_a_chain_rewritten_from_a_record_on_is_caught_by_its_head_and_then_only_by_a_head_kept_elsewhere(
        server, service, book, tmp_path):
    sequence = book.sequence("EntryRecorded", "SALE-2")
    kept = service.GetJournalHead(book.code)
    with unguarded(server) as connection:
        rewritten = rewrite_history_from(connection, book.code, sequence, "a sale that never was")
    # The rows and the records agree and chain, but the chain no longer ends where the head says.
    assert first_break(service, book.code) == (book.head, Reason.HASH_MISMATCH)

    with connected(server) as connection:  # the head is not history: the service's own role may move it
        connection.execute(text("UPDATE journal_heads SET hash = :hash WHERE book_id = :book"),
                           {"hash": rewritten, "book": book_id(connection, book.code)})
    assert verification(service, book.code).intact
    # Against the head kept before, the export shows that something up to it changed.
    checked = offline(server, book.code, kept.hash, tmp_path)
    assert checked.broken is None and checked.head_found is False and not checked.intact


@pytest.fixture(scope="module")
def unsealing_postgres(request, tmp_path_factory):
    """A PostgreSQL server whose workers never seal in the background: records stay queued until the
    journal is read."""
    return start_server(request, tmp_path_factory, "postgres", extra_env={"LEDGER_JOURNAL_SEAL_SECONDS": "0"})


def test_a_record_edited_while_it_waits_to_be_sealed_is_caught_once_sealed(unsealing_postgres, tmp_path):
    """Queued records are not yet chained: whoever edits one there (an amount, before the sealer takes
    it) makes a record that disagrees with the rows, found where it stands as content changed."""
    service = unsealing_postgres.zeep().service
    book = build(service)
    service.PostEntry(book.code, {"reference": "LATE-1", "effectiveDate": "2026-01-15", "lines": {"line": [
        {"account": "cash", "side": "DEBIT", "amount": "4.00"}, {"account": "sales", "side": "CREDIT", "amount": "4.00"}]}})
    with connected(unsealing_postgres) as connection:
        [(queued,)] = connection.execute(text(
            "SELECT before_sequence FROM journal_queue WHERE book_id = :book"), {"book": book_id(connection, book.code)})
        assert '"amount":"400"' in queued
        connection.execute(text("UPDATE journal_queue SET before_sequence = replace(before_sequence, '\"400\"', '\"4\"')"))
    assert first_break(service, book.code) == (book.head + 1, Reason.CONTENT_CHANGED)


def test_an_entry_s_audit_names_its_record_before_any_sealer_ran(unsealing_postgres):
    """GetEntryAudit seals the book's queued records first: the entry's journalSequence is there at once."""
    service = unsealing_postgres.zeep().service
    book = build(service)
    service.PostEntry(book.code, {"reference": "AUDITED-1", "effectiveDate": "2026-01-15", "lines": {"line": [
        {"account": "cash", "side": "DEBIT", "amount": "1.00"}, {"account": "sales", "side": "CREDIT", "amount": "1.00"}]}})
    assert service.GetEntryAudit(book.code, "AUDITED-1").journalSequence == book.head + 1
    assert verification(service, book.code).intact
