"""A book's journal: one record per change to the book, numbered from 1 and hash-chained
(docs/contract.md#journal). This module says what each kind of record holds, built from the domain's
objects; journal_chain.py says how records are encoded and linked.

The content of a record is built by these functions both when the change is recorded and when the
journal is verified or exported, from the rows as they are then: equal content is the proof that the
rows still say what was recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Iterable

from .accounts import Account
from .books import Book
from .currencies import currency
from .entries import Entry, Line
from .journal_chain import Break, canonical_bytes, chain_hash


class RecordKind(str, Enum):
    BOOK_CREATED = "BookCreated"
    ACCOUNT_OPENED = "AccountOpened"
    ACCOUNT_CLOSED = "AccountClosed"
    ENTRY_RECORDED = "EntryRecorded"
    PENDING_COMMITTED = "PendingCommitted"
    PENDING_VOIDED = "PendingVoided"
    PENDING_EXPIRED = "PendingExpired"
    PERIOD_CLOSED = "PeriodClosed"


def timestamp(moment: datetime) -> str:
    """A moment as a record holds it: UTC, always with six fractional digits and a Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _present(**fields) -> dict:
    """The fields that have a value: an absent optional field is left out, never written as null."""
    return {name: value for name, value in fields.items() if value is not None}


_SEQUENCE_KEY = b'"sequence":'


@dataclass(frozen=True)
class JournalRecord:
    """A change to a book, before it has its place in the chain."""

    kind: RecordKind
    recorded_at: datetime
    body: dict

    def content(self, sequence: int) -> bytes:
        return canonical_bytes({"kind": self.kind.value, "sequence": sequence,
                                "recordedAt": timestamp(self.recorded_at), **self.body})

    def content_around_sequence(self) -> tuple[bytes, bytes]:
        """The content's bytes before and after its sequence: content(n) is before + the digits of n +
        after, for a writer that gives the record its place only under the lock of the book's head."""
        # Nowhere else can these bytes be: a quote inside a JSON string is escaped, and no body has a
        # key "sequence".
        before, _, after = self.content(0).partition(_SEQUENCE_KEY + b"0")
        return before + _SEQUENCE_KEY, after


@dataclass(frozen=True)
class SealedRecord:
    sequence: int
    kind: RecordKind
    recorded_at: datetime
    content: bytes
    hash: str


@dataclass(frozen=True)
class JournalHead:
    """The last record of a book's chain."""

    book: str
    sequence: int
    hash: str
    recorded_at: datetime


def seal(records: Iterable[JournalRecord], after_sequence: int, after_hash: str) -> list[SealedRecord]:
    """The records given their places after the record `after_sequence` whose hash is `after_hash`."""
    sealed = []
    for sequence, record in enumerate(records, start=after_sequence + 1):
        content = record.content(sequence)
        after_hash = chain_hash(after_hash, content)
        sealed.append(SealedRecord(sequence, record.kind, record.recorded_at, content, after_hash))
    return sealed


def _lines(lines: Iterable[Line]) -> list[dict]:
    """Lines in their order, each amount as a string of the currency's minor units (12.50 USD: "1250")."""
    return [_present(account=line.account, side=line.side.value, currency=line.currency, memo=line.memo,
                     amount=str(currency(line.currency).to_minor(line.amount, ("amount",))))
            for line in lines]


def book_created(book: Book, at: datetime) -> JournalRecord:
    """A book's first record: the only one that names the book, which every later hash depends on."""
    return JournalRecord(RecordKind.BOOK_CREATED, at, {"book": book.code, "name": book.name})


def account_opened(account: Account) -> JournalRecord:
    return JournalRecord(RecordKind.ACCOUNT_OPENED, account.opened_at, {"account": _present(
        code=account.code, name=account.name, type=account.type.value, currency=account.currency.code,
        parentCode=account.parent_code, noNegativeBalance=account.no_negative_balance)})


def account_closed(code: str, at: datetime) -> JournalRecord:
    return JournalRecord(RecordKind.ACCOUNT_CLOSED, at, {"account": code})


def entry_recorded(entry: Entry) -> JournalRecord:
    """An entry as it was recorded: posted, or pending (its lines as submitted, the amounts it reserves);
    with its metadata in key order, if it has any (an entry without has the form it had before metadata)."""
    return JournalRecord(RecordKind.ENTRY_RECORDED, entry.recorded_at, {"entry": _present(
        id=entry.id, reference=entry.reference, effectiveDate=entry.effective_date.isoformat(),
        description=entry.description, status="PENDING" if entry.two_phase else "POSTED", lines=_lines(entry.lines),
        pendingExpiresAt=timestamp(entry.pending_expires_at) if entry.pending_expires_at else None,
        reversalOf=entry.reversal_of,
        metadata=[{"key": item.key, "value": item.value} for item in entry.metadata] or None)})


def pending_committed(reference: str, posted: Iterable[Line], at: datetime) -> JournalRecord:
    """A pending entry committed: the lines it posted."""
    return JournalRecord(RecordKind.PENDING_COMMITTED, at, {"entry": reference, "lines": _lines(posted)})


def pending_voided(reference: str, reason: str | None, at: datetime) -> JournalRecord:
    return JournalRecord(RecordKind.PENDING_VOIDED, at, _present(entry=reference, reason=reason))


def pending_expired(reference: str, expired_at: datetime, at: datetime) -> JournalRecord:
    """A pending entry whose timeout passed (at `expired_at`), recorded when its reservation was
    released (`at`)."""
    return JournalRecord(RecordKind.PENDING_EXPIRED, at, {"entry": reference, "expiredAt": timestamp(expired_at)})


def period_closed(through: date, at: datetime) -> JournalRecord:
    return JournalRecord(RecordKind.PERIOD_CLOSED, at, {"throughDate": through.isoformat()})


@dataclass(frozen=True)
class JournalVerification:
    """What recomputing a stretch of a book's chain from its stored rows found: the records from
    `from_sequence` to `to_sequence` (at most), how many were intact before the first break (all of
    them when intact), and the hash of the last intact one."""

    book: str
    from_sequence: int
    to_sequence: int
    records_checked: int
    head_hash: str
    first_break: Break | None

    @property
    def intact(self) -> bool:
        return self.first_break is None
