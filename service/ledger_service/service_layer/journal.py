"""Use cases of a book's journal: its head, verifying a stretch of its chain from the stored rows, and
walking it for an export (docs/contract.md#journal)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..domain.books import Book
from ..domain.errors import FaultCode, LedgerError
from ..domain.journal import JournalHead, JournalVerification
from ..domain.journal_chain import GENESIS_HASH, Break, Chain, Reason
from ..domain.limits import MAX_VERIFIED_RECORDS
from .authentication import Authentication, use_case
from .context import Context, RequestContext
from .ports import Stores, UnitOfWork

RECORDS_PER_READ = 1000


@dataclass(frozen=True)
class WalkedRecord:
    """One place of a book's chain as a walk finds it: the record's sequence, its stored hash (None for a
    history row that no record records, standing where it would), its content as recorded (None for
    such a row), and its content as the rows say now (None: they no longer say it)."""

    sequence: int
    hash: str | None
    recorded: bytes | None
    rows_say: bytes | None

    def check(self, chain: Chain):
        if self.hash is None:
            return chain.check(self.sequence, None, self.rows_say)
        return chain.check(self.sequence, self.hash, self.recorded, rows=self.rows_say or b"")


def walk(stores: Stores, book: Book, from_sequence: int, to_sequence: int) -> Iterator[WalkedRecord]:
    """The book's records from `from_sequence` to `to_sequence` in order, each with what its rows say,
    and, in their places, the history rows that no record records, when the walk reaches the end of the
    chain: all of them, those that stand before `from_sequence` first, as no earlier stretch of a
    verification looked for them."""
    head = stores.journal.head(book.id)
    last = head[0] if head else 0
    unrecorded = []
    if to_sequence >= last:
        unrecorded = sorted(((stores.journal.place_of(book.id, change.moment), change.record)
                             for change in stores.journal.unrecorded(book)), key=lambda item: item[0])
    after = from_sequence
    while after <= to_sequence:
        records = stores.journal.records(book, after, to_sequence, RECORDS_PER_READ)
        for stored in records:
            while unrecorded and unrecorded[0][0] <= stored.sequence:
                place, record = unrecorded.pop(0)
                yield WalkedRecord(place, None, None, record.content(place))
            yield WalkedRecord(stored.sequence, stored.hash, stored.content,
                               stored.rows_say.content(stored.sequence) if stored.rows_say else None)
        if len(records) < RECORDS_PER_READ:
            break
        after = records[-1].sequence + 1
    for place, record in unrecorded:
        yield WalkedRecord(place, None, None, record.content(place))


def verify(stores: Stores, book: Book, from_sequence: int | None, to_sequence: int | None) -> JournalVerification:
    head = stores.journal.head(book.id)
    last = head[0] if head else 0
    first = 1 if from_sequence is None else from_sequence
    if first < 1 or (to_sequence is not None and to_sequence < first):
        raise LedgerError(FaultCode.SchemaValidation, "fromSequence must be at least 1 and at most toSequence",
                          ("fromSequence",))
    # One call checks a bounded stretch: a caller verifies a longer chain stretch by stretch.
    to = min(last if to_sequence is None else to_sequence, last, first + MAX_VERIFIED_RECORDS - 1)
    chain = Chain()
    if first > 1:
        # A stretch starts from the stored hash of the record before it (past the head: of the head), which
        # is taken as it stands; if that record is gone, from the last one before it, and breaks there.
        start = min(first - 1, last)
        sequence, hash = stores.journal.last_record(book.id, start) or (0, GENESIS_HASH)
        chain = Chain(sequence, hash, broken=Break(sequence + 1, Reason.MISSING_RECORD) if sequence < start else None)
    if chain.broken is None:
        for walked in walk(stores, book, first, to):
            if walked.check(chain) is not None:
                break
    if chain.broken is None and chain.sequence < to:
        # The records end before the head says the chain does: its last ones are gone.
        chain.broken = Break(chain.sequence + 1, Reason.MISSING_RECORD)
    if chain.broken is None and to == last and head and chain.hash != head[1]:
        # The chain holds together but ends elsewhere than the head: it was rehashed behind the service.
        chain.broken = Break(last, Reason.HASH_MISMATCH)
    return JournalVerification(book.code, first, to, chain.checked, chain.hash, chain.broken)


# The records of a book one transaction seals at most: a longer queue is sealed in several. The worker
# holds a transaction's records at once (their documents, the statement that inserts them), beside the
# requests it is answering: sealing two 1000-entry batches' records in one transaction took a worker
# about 20 MiB over its size at rest, 500 at a time about 3 (bench/README.md, Lifecycle, run W).
SEALED_AT_ONCE = 500


def seal_queued(database: UnitOfWork, book_code: str | None = None) -> int:
    """Seals the records queued for the book `book_code` (None: for every book) onto its chain, in
    short write transactions of their own, and returns how many it sealed. What was committed before
    the call is sealed when it returns; with nothing queued, it only reads, and where nothing is ever
    queued, it does nothing."""
    if not database.queues_journal_records:
        return 0
    def books(stores: Stores) -> list[int]:
        if book_code is None:
            return stores.journal.books_with_queued_records()
        book = stores.books.book(book_code)
        return stores.journal.books_with_queued_records(book.id) if book else []

    sealed = 0
    for book_id in database.run(books, write=False):
        while True:
            count = database.run(lambda stores: stores.journal.seal_queued(book_id, SEALED_AT_ONCE), write=True)
            sealed += count
            if count < SEALED_AT_ONCE:
                break
    return sealed


class Journal:
    """A book's journal as its readers see it: every change committed before the call is sealed first
    (by the caller's worker, if no one did yet), so that the head and a verification include it."""

    def __init__(self, authentication: Authentication):
        self.authentication = authentication

    def seal_queued(self) -> int:
        """The background sealer's pass (serving/sealer.py): every book's queued records."""
        return seal_queued(self.authentication.unit_of_work)

    def get_journal_head(self, request: RequestContext, book: str) -> JournalHead:
        seal_queued(self.authentication.unit_of_work, book)
        return self._journal_head(request, book)

    def verify_journal(self, request: RequestContext, book: str, from_sequence: int | None = None,
                       to_sequence: int | None = None) -> JournalVerification:
        seal_queued(self.authentication.unit_of_work, book)
        return self._verify_journal(request, book, from_sequence, to_sequence)

    @use_case("GetJournalHead", write=False)
    def _journal_head(self, context: Context, book: str) -> JournalHead:
        found = context.book(book)
        sequence, hash, recorded_at = context.stores.journal.head(found.id)
        return JournalHead(found.code, sequence, hash, recorded_at)

    @use_case("VerifyJournal", write=False)
    def _verify_journal(self, context: Context, book: str, from_sequence: int | None,
                        to_sequence: int | None) -> JournalVerification:
        return verify(context.stores, context.book(book), from_sequence, to_sequence)
