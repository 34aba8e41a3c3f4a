"""Journal entries: what a caller submits, the rules every posting obeys, the entries recorded, and the
pending (two-phase) ones' reservations, settlement and expiry."""
from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Iterable, Mapping, Sequence

from .accounts import Account, Side
from .books import Book
from .currencies import Currency
from .errors import FaultCode, LedgerError, Location
from .limits import (MAX_BATCH, MAX_LINES, MAX_METADATA_ITEMS, MAX_METADATA_KEY, MAX_METADATA_VALUE,
                     MAX_PENDING_TIMEOUT_SECONDS, METADATA_KEY_PATTERN, MIN_LINES, MIN_PENDING_TIMEOUT_SECONDS)

# An account's running totals are 64-bit integers of minor units in the database.
MAX_ACCOUNT_TOTAL = 2**63 - 1


class EntryStatus(str, Enum):
    POSTED = "POSTED"
    PENDING = "PENDING"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class LineInput:
    account: str
    side: Side
    amount: Decimal
    memo: str | None = None


@dataclass(frozen=True, order=True)
class MetadataItem:
    """One of an entry's own dimensions (a cost centre, an invoice number): a key unique within the
    entry, and its value."""

    key: str
    value: str


Metadata = tuple[MetadataItem, ...]


def entry_metadata(items) -> Metadata:
    """An entry's metadata as it is kept and shown: a set of items, in key order (the order they were
    given in means nothing, so it cannot tell two submissions apart)."""
    return tuple(sorted(items))


_METADATA_KEY = re.compile(METADATA_KEY_PATTERN)


def ensure_metadata(items: Sequence[MetadataItem]) -> None:
    """The rules of an entry's metadata (docs/contract.md#metadata), for every way an entry arrives: the
    schema declares all but the keys' uniqueness, and an import or an operator's load checks them here."""
    if len(items) > MAX_METADATA_ITEMS:
        raise LedgerError(FaultCode.SchemaValidation, f"an entry carries at most {MAX_METADATA_ITEMS} metadata items",
                          ("entry", "metadata"))
    seen = set()
    for position, item in enumerate(items):
        if not (len(item.key) <= MAX_METADATA_KEY and _METADATA_KEY.fullmatch(item.key)):
            raise LedgerError(FaultCode.SchemaValidation,
                              f"a metadata key is 1 to {MAX_METADATA_KEY} letters, digits, '_', '.' or '-'",
                              ("entry", "metadata", position, "key"))
        if not 1 <= len(item.value) <= MAX_METADATA_VALUE:
            raise LedgerError(FaultCode.SchemaValidation,
                              f"a metadata value is 1 to {MAX_METADATA_VALUE} characters",
                              ("entry", "metadata", position, "value"))
        if item.key in seen:
            raise LedgerError(FaultCode.SchemaValidation, f"metadata key {item.key} is given twice",
                              ("entry", "metadata", position, "key"))
        seen.add(item.key)


@dataclass(frozen=True)
class EntryInput:
    reference: str
    effective_date: date
    lines: tuple[LineInput, ...]
    description: str | None = None
    # A pending (two-phase) entry reserves its amounts until CommitPending posts them, VoidPending
    # releases them, or its timeout passes (no timeout: it waits for one of the two).
    pending: bool = False
    pending_timeout_seconds: int | None = None
    metadata: Metadata = ()

    @functools.cached_property
    def fingerprint(self) -> str:
        """What makes two submissions of one reference "the same entry": equal amounts in any notation,
        the same metadata in any order. (What an earlier release did not have adds nothing when absent:
        an entry posted at once and without metadata is fingerprinted as before pending entries and
        metadata existed, so that a retry of one recorded by an earlier release still matches.)"""
        content = [
            self.effective_date.isoformat(),
            self.description or "",
            [[line.account, line.side.value, str(line.amount.normalize()), line.memo or ""] for line in self.lines],
        ]
        if self.pending:
            content.append(["pending", self.pending_timeout_seconds])
        if self.metadata:
            content.append(["metadata", [[item.key, item.value] for item in entry_metadata(self.metadata)]])
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()

    def expires_at(self, recorded_at: datetime) -> datetime | None:
        """When a pending entry recorded at `recorded_at` lapses, if it has a timeout."""
        if self.pending_timeout_seconds is None:
            return None
        return recorded_at + timedelta(seconds=self.pending_timeout_seconds)

    @property
    def account_codes(self) -> set[str]:
        return {line.account for line in self.lines}


@dataclass(frozen=True)
class Posting:
    """One validated line of an entry, in minor units of its account's currency."""

    position: int
    account: Account
    side: Side
    minor: int
    memo: str | None


def _line(position: int, *field: str) -> Location:
    return ("entry", *_request_line(position, *field))


def _request_line(position: int, *field: str) -> Location:
    """A line of an operation's own `lines` (a partial commit's), rather than of an entry's."""
    return ("lines", position, *field)


def prepare_postings(book: Book, entry: EntryInput, accounts: Mapping[str, Account]) -> list[Posting]:
    """Every rule an entry must pass before it touches a balance; the first one broken is raised."""
    if len(entry.lines) < MIN_LINES:
        raise LedgerError(FaultCode.TooFewLines, f"an entry needs at least {MIN_LINES} lines", ("entry", "lines"))
    if len(entry.lines) > MAX_LINES:
        raise LedgerError(FaultCode.TooManyLines, f"an entry holds at most {MAX_LINES} lines", ("entry", "lines"))
    if entry.pending_timeout_seconds is not None:
        if not entry.pending:
            raise LedgerError(FaultCode.SchemaValidation, "pendingTimeoutSeconds applies to a pending entry only",
                              ("entry", "pendingTimeoutSeconds"))
        if not MIN_PENDING_TIMEOUT_SECONDS <= entry.pending_timeout_seconds <= MAX_PENDING_TIMEOUT_SECONDS:
            raise LedgerError(FaultCode.SchemaValidation,
                              f"pendingTimeoutSeconds must lie between {MIN_PENDING_TIMEOUT_SECONDS} and "
                              f"{MAX_PENDING_TIMEOUT_SECONDS}", ("entry", "pendingTimeoutSeconds"))
    ensure_metadata(entry.metadata)
    book.ensure_open_on(entry.effective_date, ("entry", "effectiveDate"))
    postings = []
    for position, line in enumerate(entry.lines):
        account = accounts.get(line.account)
        if account is None:
            raise LedgerError(FaultCode.AccountNotFound, f"account {line.account} does not exist in book {book.code}",
                              _line(position, "account"))
        account.ensure_open(_line(position, "account"))
        minor = account.currency.to_minor(line.amount, _line(position, "amount"))
        postings.append(Posting(position, account, line.side, minor, line.memo))
    _ensure_balanced(postings)
    return postings


def _ensure_balanced(postings: list[Posting], location: Location = ("entry", "lines")) -> None:
    net: dict[Currency, int] = defaultdict(int)
    for posting in postings:
        net[posting.account.currency] += posting.minor if posting.side is Side.DEBIT else -posting.minor
    off = [f"{c.code} debits exceed credits by {c.to_decimal(n)}" if n > 0 else
           f"{c.code} credits exceed debits by {c.to_decimal(-n)}"
           for c, n in sorted(net.items(), key=lambda item: item[0].code) if n]
    if off:
        raise LedgerError(FaultCode.Unbalanced, "entry is unbalanced: " + "; ".join(off), location)


def apply_postings(postings: Iterable[Posting], *, pending: bool = False) -> None:
    """Moves the accounts' posted balances (a pending entry: reserves the amounts instead), refusing to
    take a guarded account below zero, counting every pending amount that would reduce it."""
    postings = list(postings)
    for posting in postings:
        (posting.account.hold if pending else posting.account.post)(posting.side, posting.minor)
    for posting in postings:
        account = posting.account
        _ensure_within_total(posting)
        if account.no_negative_balance and posting.side is not account.normal_side and account.available_balance < 0:
            raise LedgerError(
                FaultCode.InsufficientBalance,
                f"account {account.code} would go below zero: available "
                f"{account.currency.to_decimal(account.available_balance)} {account.currency.code} after this entry",
                _line(posting.position, "amount"),
            )


def _ensure_within_total(posting: Posting) -> None:
    account = posting.account
    debits_side = posting.side is Side.DEBIT
    largest = max(account.posted_debits if debits_side else account.posted_credits,
                  account.pending_debits if debits_side else account.pending_credits)
    if largest > MAX_ACCOUNT_TOTAL:
        raise LedgerError(
            FaultCode.InvalidAmount,
            f"account {account.code}'s total {posting.side.value.lower()}s would exceed the largest amount "
            "an account can hold",
            _line(posting.position, "amount"),
        )


def apply_or_undo(postings: list[Posting], *, pending: bool = False) -> None:
    """`apply_postings`, leaving the accounts as they were when a rule refuses the entry: one entry of a
    batch that fails must not count for the entries after it."""
    before = [(a, a.totals()) for a in {id(p.account): p.account for p in postings}.values()]
    try:
        apply_postings(postings, pending=pending)
    except LedgerError:
        for account, totals in before:
            account.restore(totals)
        raise


def settle_postings(held: Iterable[Posting], posted: Iterable[Posting]) -> None:
    """Releases everything a pending entry reserved and posts `posted`: all of it or a partial commit's
    share (see `committed_postings`), nothing for a void. The available balance cannot fall (a reduction
    posted is at most the pending one released on its account and side), so no guard can be broken by it."""
    for posting in held:
        posting.account.release(posting.side, posting.minor)
    for posting in posted:
        posting.account.post(posting.side, posting.minor)
        _ensure_within_total(posting)


def committed_postings(held: Sequence[Posting], lines: Sequence[LineInput] | None) -> list[Posting]:
    """What CommitPending posts of a pending entry whose reservation is `held`: all of it without
    `lines`; with them (a partial commit), those lines, each on an account and side the entry holds an
    amount on. Per account and side, the lines' amounts add up to at most what the entry's lines on that
    account and side hold together (nothing held there: InvalidAmount), and per currency they balance.
    The first rule broken is raised, located in the request's `lines`."""
    if lines is None:
        return list(held)
    if len(lines) < MIN_LINES:
        raise LedgerError(FaultCode.TooFewLines, f"a partial commit needs at least {MIN_LINES} lines", ("lines",))
    if len(lines) > MAX_LINES:
        raise LedgerError(FaultCode.TooManyLines, f"a partial commit holds at most {MAX_LINES} lines", ("lines",))
    left: dict[tuple[str, Side], int] = defaultdict(int)
    accounts = {}
    for posting in held:
        left[posting.account.code, posting.side] += posting.minor
        accounts[posting.account.code] = posting.account
    postings = []
    for position, line in enumerate(lines):
        account = accounts.get(line.account)
        if account is None:
            raise LedgerError(FaultCode.InvalidAmount,
                              f"the pending entry holds nothing on account {line.account}",
                              _request_line(position, "account"))
        minor = account.currency.to_minor(line.amount, _request_line(position, "amount"))
        if minor > left[line.account, line.side]:
            held_there = sum(p.minor for p in held if p.account.code == line.account and p.side is line.side)
            what = f"{account.currency.to_decimal(held_there)} {account.currency.code}" if held_there else "nothing"
            raise LedgerError(FaultCode.InvalidAmount,
                              f"the pending entry holds {what} on the {line.side.value} side of account "
                              f"{line.account}, less than the lines commit there", _request_line(position, "amount"))
        left[line.account, line.side] -= minor
        postings.append(Posting(position, account, line.side, minor, line.memo))
    _ensure_balanced(postings, ("lines",))
    return postings


def same_commit(posted: Sequence[Line], lines: Sequence[LineInput] | None) -> bool:
    """Whether a CommitPending with `lines` asks for what a committed entry posted (amounts in any
    notation): a retry. Without lines, a commit asks for whatever was committed."""
    if lines is None:
        return True
    return ([(line.account, line.side, line.amount.normalize(), line.memo or None) for line in posted]
            == [(line.account, line.side, line.amount.normalize(), line.memo or None) for line in lines])


def ensure_batch_size(count: int) -> None:
    if count > MAX_BATCH:
        raise LedgerError(FaultCode.BatchTooLarge, f"a batch holds at most {MAX_BATCH} entries; this one has {count}",
                          ("entries",))


def ensure_replay(reference: str, same_content: bool, location: Location) -> None:
    """Invariant 4 (docs/contract.md#invariants): a reference already used is a replay when the content
    is the same (answered with the entry first recorded, posting nothing), else ReferenceConflict."""
    if not same_content:
        raise LedgerError(FaultCode.ReferenceConflict, f"reference {reference} was already used for a different entry",
                          location)


def entry_not_found(reference: str) -> LedgerError:
    return LedgerError(FaultCode.EntryNotFound, f"no entry has reference {reference}", ("reference",))


@dataclass(frozen=True)
class Line:
    account: str
    side: Side
    amount: Decimal
    currency: str
    memo: str | None = None


@dataclass(frozen=True)
class Entry:
    # The entry's public id (the contract's Entry.id).
    id: str
    reference: str
    effective_date: date
    recorded_at: datetime
    description: str | None
    status: EntryStatus
    lines: tuple[Line, ...]
    pending_expires_at: datetime | None = None
    reversal_of: str | None = None
    reversed_by: str | None = None
    # Recorded as a pending (two-phase) entry, whatever became of it since.
    two_phase: bool = False
    metadata: Metadata = ()
    # The fingerprint of the content it was recorded with (EntryInput.fingerprint), and its row id (an
    # entry read from the store has one; one just recorded, whose row its transaction writes, has none).
    fingerprint: str | None = None
    row_id: int | None = None

    @property
    def lapses_at(self) -> datetime | None:
        """When a pending entry's reservation lapses (or lapsed), while that still says something: a
        committed or voided entry no longer lapses, so it has none."""
        return self.pending_expires_at if self.status in (EntryStatus.PENDING, EntryStatus.EXPIRED) else None


@dataclass(frozen=True)
class EntryPage:
    """A page of ListEntries: entries in journal order, and the token of the next page while the
    journal has records the page did not look through."""

    entries: tuple[Entry, ...]
    next_page_token: str | None = None


def posted_line(posting: Posting) -> Line:
    """The line a posting makes, in its account's currency."""
    account = posting.account
    return Line(account.code, posting.side, account.currency.to_decimal(posting.minor), account.currency.code,
                posting.memo)


def recorded_entry(entry: EntryInput, postings: Iterable[Posting], public_id: str, recorded_at: datetime,
                   reversal_of: str | None = None) -> Entry:
    """The entry `entry` became when it was recorded at `recorded_at` with these postings."""
    return Entry(
        id=public_id, reference=entry.reference, effective_date=entry.effective_date, recorded_at=recorded_at,
        description=entry.description, status=EntryStatus.PENDING if entry.pending else EntryStatus.POSTED,
        lines=tuple(posted_line(p) for p in postings),
        pending_expires_at=entry.expires_at(recorded_at) if entry.pending else None,
        reversal_of=reversal_of, two_phase=entry.pending, metadata=entry_metadata(entry.metadata),
        fingerprint=entry.fingerprint,
    )


@dataclass(frozen=True)
class EntryOutcome:
    """One entry's result in a batch: the entry posted (or the original, for a replay), or why not.
    `new`: posted by this batch, rather than found under its reference."""

    reference: str
    entry: Entry | None = None
    error: LedgerError | None = None
    new: bool = False


def has_lapsed(expires_at: datetime | None, now: datetime) -> bool:
    """The expiry rule (docs/contract.md#invariants, invariant 9): a pending entry's reservation is live
    while now < expires_at and has lapsed from expires_at on, that instant included; one without a
    timeout never lapses. The store asks the same in SQL (adapters/stores/holds.py, `lapsed_by`)."""
    return expires_at is not None and expires_at <= now


def entry_status(two_phase: bool, outcome: EntryStatus | None, expires_at: datetime | None,
                 now: datetime) -> EntryStatus:
    """What an entry is now: one posted at once stays POSTED; a pending one is what CommitPending or
    VoidPending made it, else EXPIRED from the moment its timeout passes (whether or not anything has
    run since), else PENDING."""
    if not two_phase:
        return EntryStatus.POSTED
    if outcome is not None:
        return outcome
    return EntryStatus.EXPIRED if has_lapsed(expires_at, now) else EntryStatus.PENDING


def needs_settling(book: Book, entry: Entry, outcome: EntryStatus, lines: Sequence[LineInput] | None = None) -> bool:
    """Whether a pending entry is to be settled now with `outcome` (POSTED: CommitPending, with the
    `lines` of a partial commit if any; VOIDED: VoidPending). False for a retry: the entry already has
    that outcome (for a commit with lines: those very lines posted). Only a PENDING entry can be settled;
    one that lapsed is PendingExpired; and a commit must fall in an open period."""
    verb = "committed" if outcome is EntryStatus.POSTED else "voided"
    if not entry.two_phase:
        raise LedgerError(FaultCode.NotPending, f"entry {entry.reference} was posted, not pending; it cannot be {verb}",
                          ("reference",))
    if entry.status is outcome:
        if not same_commit(entry.lines, lines):
            raise LedgerError(FaultCode.NotPending,
                              f"entry {entry.reference} was already committed with other lines", ("reference",))
        return False
    if entry.status is EntryStatus.EXPIRED:
        raise pending_expired(entry.reference, entry.pending_expires_at)
    if entry.status is not EntryStatus.PENDING:
        raise LedgerError(FaultCode.NotPending,
                          f"entry {entry.reference} is already {entry.status.value}; it cannot be {verb}",
                          ("reference",))
    if outcome is EntryStatus.POSTED:
        book.ensure_open_on(entry.effective_date, ("reference",))
    return True


def pending_expired(reference: str, expired_at: datetime | None = None) -> LedgerError:
    """A pending entry that lapsed (at `expired_at`, when known) and can be settled no more."""
    when = f" at {expired_at.isoformat()}" if expired_at is not None else ""
    return LedgerError(FaultCode.PendingExpired,
                       f"pending entry {reference} expired{when} and its amounts were released", ("reference",))


def held_postings(entry: Entry, accounts: Mapping[str, Account]) -> list[Posting]:
    """A pending entry's lines as postings on the (locked) accounts they reserve amounts on."""
    return [Posting(position, accounts[line.account], line.side,
                    accounts[line.account].currency.to_minor(line.amount, _line(position, "amount")), line.memo)
            for position, line in enumerate(entry.lines)]


@dataclass(frozen=True)
class EntryAudit:
    """Who wrote an entry and when: the client's name and the request's id (None when no client did);
    for a pending entry that was committed or voided, also who settled it, in which request, when, and
    the reason given for a void."""

    reference: str
    posted_by: str | None
    request_id: str | None
    recorded_at: datetime
    settled_by: str | None = None
    settled_request_id: str | None = None
    settled_at: datetime | None = None
    void_reason: str | None = None
    # The place of the journal record that recorded the entry (docs/contract.md#journal).
    journal_sequence: int | None = None
