"""Books, accounts and journal entries, and the rules every posting obeys."""
from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Iterable, Mapping

from .currencies import Currency
from .errors import FaultCode, LedgerError

MIN_LINES = 2
MAX_LINES = 1000
MAX_BATCH = 1000
# A pending entry's timeout fits the contract's xs:int (about 68 years).
MAX_PENDING_TIMEOUT_SECONDS = 2**31 - 1


class Side(str, Enum):
    DEBIT = "DEBIT"
    CREDIT = "CREDIT"

    @property
    def opposite(self) -> "Side":
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class AccountType(str, Enum):
    ASSET = "ASSET"
    EXPENSE = "EXPENSE"
    LIABILITY = "LIABILITY"
    EQUITY = "EQUITY"
    INCOME = "INCOME"

    @property
    def normal_side(self) -> Side:
        return Side.DEBIT if self in (AccountType.ASSET, AccountType.EXPENSE) else Side.CREDIT


class AccountStatus(str, Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class EntryStatus(str, Enum):
    POSTED = "POSTED"
    PENDING = "PENDING"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


class Role(IntEnum):
    """What a client may do in one book; each role includes the ones below it."""

    reader = 1
    poster = 2
    admin = 3


@dataclass(frozen=True)
class Audit:
    """Who made a write: every row a request adds records the client and the request."""

    client_id: int | None
    request_id: str | None


@dataclass
class Book:
    code: str
    name: str
    closed_through: date | None = None

    def ensure_open_on(self, effective_date: date, field: str) -> None:
        if self.closed_through is not None and effective_date <= self.closed_through:
            raise LedgerError(
                FaultCode.PeriodClosed,
                f"book {self.code} is closed through {self.closed_through.isoformat()}; "
                f"{effective_date.isoformat()} cannot take entries",
                field,
            )

    def close_through(self, through: date, today: date) -> bool:
        """Moves the closed-through date forward; False when it already lies at or past `through`."""
        if through > today:
            raise LedgerError(
                FaultCode.SchemaValidation,
                f"a period can be closed up to today ({today.isoformat()}) at the latest",
                "throughDate",
            )
        if self.closed_through is not None and through <= self.closed_through:
            return False
        self.closed_through = through
        return True


def signed_balance(normal_side: Side, debits: int, credits: int) -> int:
    """A balance on the account's normal side: positive when the account holds what its type says."""
    return debits - credits if normal_side is Side.DEBIT else credits - debits


@dataclass
class Account:
    code: str
    name: str
    type: AccountType
    currency: Currency
    parent_code: str | None
    no_negative_balance: bool
    status: AccountStatus
    opened_at: datetime
    posted_debits: int = 0
    posted_credits: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def normal_side(self) -> Side:
        return self.type.normal_side

    @property
    def balance(self) -> int:
        return signed_balance(self.normal_side, self.posted_debits, self.posted_credits)

    @property
    def available_balance(self) -> int:
        """The balance less every pending amount that would reduce it; pending increases don't count."""
        reducing = self.pending_credits if self.normal_side is Side.DEBIT else self.pending_debits
        return self.balance - reducing

    def is_opened_as(self, spec: "AccountSpec") -> bool:
        """Whether this account is what opening `spec` would have made (a load run again finds it so)."""
        return (self.code, self.name, self.type, self.currency, self.parent_code, self.no_negative_balance) == (
            spec.code, spec.name, spec.type, spec.currency, spec.parent_code, spec.no_negative_balance)

    def ensure_open(self, field: str) -> None:
        if self.status is AccountStatus.CLOSED:
            raise LedgerError(FaultCode.AccountClosed, f"account {self.code} is closed", field)

    def post(self, side: Side, minor: int) -> None:
        if side is Side.DEBIT:
            self.posted_debits += minor
        else:
            self.posted_credits += minor

    def hold(self, side: Side, minor: int) -> None:
        """Reserves an amount of a pending entry: pending totals move, the posted balance does not."""
        if side is Side.DEBIT:
            self.pending_debits += minor
        else:
            self.pending_credits += minor

    def release(self, side: Side, minor: int) -> None:
        self.hold(side, -minor)

    def totals(self) -> tuple[int, int, int, int]:
        return self.posted_debits, self.posted_credits, self.pending_debits, self.pending_credits

    def restore(self, totals: tuple[int, int, int, int]) -> None:
        self.posted_debits, self.posted_credits, self.pending_debits, self.pending_credits = totals

    def close(self) -> None:
        if self.status is AccountStatus.CLOSED:
            return
        if self.balance != 0 or self.pending_debits or self.pending_credits:
            raise LedgerError(
                FaultCode.AccountNotEmpty,
                f"account {self.code} has a balance of {self.currency.to_decimal(self.balance)} {self.currency.code}"
                f" and pending amounts of {self.currency.to_decimal(self.pending_debits + self.pending_credits)};"
                " only an empty account can be closed",
                "code",
            )
        self.status = AccountStatus.CLOSED


@dataclass(frozen=True)
class AccountSpec:
    code: str
    name: str
    type: AccountType
    currency: Currency
    parent_code: str | None = None
    no_negative_balance: bool = False


def open_account(spec: AccountSpec, parent: Account | None, opened_at: datetime) -> Account:
    """A new account under an optional parent that must exist, be open and share its currency."""
    if spec.parent_code is not None:
        if parent is None:
            raise LedgerError(
                FaultCode.AccountNotFound, f"parent account {spec.parent_code} does not exist", "account.parentCode"
            )
        parent.ensure_open("account.parentCode")
        if parent.currency != spec.currency:
            raise LedgerError(
                FaultCode.CurrencyMismatch,
                f"account in {spec.currency.code} cannot sit under {parent.code}, which is in {parent.currency.code}",
                "account.currency",
            )
    return Account(
        code=spec.code,
        name=spec.name,
        type=spec.type,
        currency=spec.currency,
        parent_code=spec.parent_code,
        no_negative_balance=spec.no_negative_balance,
        status=AccountStatus.OPEN,
        opened_at=opened_at,
    )


@dataclass(frozen=True)
class LineInput:
    account: str
    side: Side
    amount: Decimal
    memo: str | None = None


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

    @functools.cached_property
    def fingerprint(self) -> str:
        """What makes two submissions of one reference "the same entry": equal amounts in any notation.
        (An entry posted at once is fingerprinted as before pending entries existed, so that a retry of
        one recorded by an earlier release still matches.)"""
        content = [
            self.effective_date.isoformat(),
            self.description or "",
            [[line.account, line.side.value, str(line.amount.normalize()), line.memo or ""] for line in self.lines],
        ]
        if self.pending:
            content.append(["pending", self.pending_timeout_seconds])
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


def prepare_postings(book: Book, entry: EntryInput, accounts: Mapping[str, Account]) -> list[Posting]:
    """Every rule an entry must pass before it touches a balance; the first one broken is raised."""
    if len(entry.lines) < MIN_LINES:
        raise LedgerError(FaultCode.TooFewLines, f"an entry needs at least {MIN_LINES} lines", "entry.lines")
    if len(entry.lines) > MAX_LINES:
        raise LedgerError(FaultCode.TooManyLines, f"an entry holds at most {MAX_LINES} lines", "entry.lines")
    if entry.pending_timeout_seconds is not None:
        if not entry.pending:
            raise LedgerError(FaultCode.SchemaValidation, "pendingTimeoutSeconds applies to a pending entry only",
                              "entry.pendingTimeoutSeconds")
        if not 1 <= entry.pending_timeout_seconds <= MAX_PENDING_TIMEOUT_SECONDS:
            raise LedgerError(FaultCode.SchemaValidation,
                              f"pendingTimeoutSeconds must lie between 1 and {MAX_PENDING_TIMEOUT_SECONDS}",
                              "entry.pendingTimeoutSeconds")
    book.ensure_open_on(entry.effective_date, "entry.effectiveDate")
    postings = []
    for position, line in enumerate(entry.lines):
        field = f"entry.lines[{position}]"
        account = accounts.get(line.account)
        if account is None:
            raise LedgerError(
                FaultCode.AccountNotFound, f"account {line.account} does not exist in book {book.code}", f"{field}.account"
            )
        account.ensure_open(f"{field}.account")
        minor = account.currency.to_minor(line.amount, f"{field}.amount")
        postings.append(Posting(position, account, line.side, minor, line.memo))
    _ensure_balanced(postings)
    return postings


def _ensure_balanced(postings: list[Posting]) -> None:
    net: dict[Currency, int] = defaultdict(int)
    for posting in postings:
        net[posting.account.currency] += posting.minor if posting.side is Side.DEBIT else -posting.minor
    off = [f"{c.code} debits exceed credits by {c.to_decimal(n)}" if n > 0 else
           f"{c.code} credits exceed debits by {c.to_decimal(-n)}"
           for c, n in sorted(net.items(), key=lambda item: item[0].code) if n]
    if off:
        raise LedgerError(FaultCode.Unbalanced, "entry is unbalanced: " + "; ".join(off), "entry.lines")


# An account's running totals are 64-bit integers of minor units in the database.
MAX_ACCOUNT_TOTAL = 2**63 - 1


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
                f"entry.lines[{posting.position}].amount",
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
            f"entry.lines[{posting.position}].amount",
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


def commit_postings(postings: Iterable[Posting]) -> None:
    """Posts what a pending entry reserved. The available balance does not move (a reduction leaves the
    pending column for the posted one), so no guard can be broken by it."""
    for posting in postings:
        posting.account.release(posting.side, posting.minor)
        posting.account.post(posting.side, posting.minor)
        _ensure_within_total(posting)


def release_postings(postings: Iterable[Posting]) -> None:
    """Gives back what a pending entry reserved: a voided or lapsed entry moves no balance."""
    for posting in postings:
        posting.account.release(posting.side, posting.minor)


def ensure_batch_size(count: int) -> None:
    if count > MAX_BATCH:
        raise LedgerError(FaultCode.BatchTooLarge, f"a batch holds at most {MAX_BATCH} entries; this one has {count}",
                          "entries")


@dataclass(frozen=True)
class EntryOutcome:
    """One entry's result in a batch: the entry posted (or the original, for a replay), or why not.
    `new`: posted by this batch, rather than found under its reference."""

    reference: str
    entry: "Entry | None" = None
    error: LedgerError | None = None
    new: bool = False


@dataclass(frozen=True)
class Line:
    account: str
    side: Side
    amount: Decimal
    currency: str
    memo: str | None = None


@dataclass(frozen=True)
class Entry:
    id: int
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

    @property
    def lapses_at(self) -> datetime | None:
        """When a pending entry's reservation lapses (or lapsed), while that still says something: a
        committed or voided entry no longer lapses, so it has none."""
        return self.pending_expires_at if self.status in (EntryStatus.PENDING, EntryStatus.EXPIRED) else None


def entry_status(two_phase: bool, outcome: EntryStatus | None, expires_at: datetime | None,
                 now: datetime) -> EntryStatus:
    """What an entry is now: one posted at once stays POSTED; a pending one is what CommitPending or
    VoidPending made it, else EXPIRED from the moment its timeout passes (whether or not anything has
    run since), else PENDING."""
    if not two_phase:
        return EntryStatus.POSTED
    if outcome is not None:
        return outcome
    if expires_at is not None and now >= expires_at:
        return EntryStatus.EXPIRED
    return EntryStatus.PENDING


def needs_settling(book: Book, entry: Entry, outcome: EntryStatus) -> bool:
    """Whether a pending entry is to be settled now with `outcome` (POSTED: CommitPending, VOIDED:
    VoidPending). False for a retry: the entry already has that outcome. Only a PENDING entry can be
    settled; one that lapsed is PendingExpired; and a commit must fall in an open period."""
    verb = "committed" if outcome is EntryStatus.POSTED else "voided"
    if not entry.two_phase:
        raise LedgerError(FaultCode.NotPending, f"entry {entry.reference} was posted, not pending; it cannot be {verb}",
                          "reference")
    if entry.status is outcome:
        return False
    if entry.status is EntryStatus.EXPIRED:
        raise LedgerError(FaultCode.PendingExpired,
                          f"pending entry {entry.reference} expired at {entry.pending_expires_at.isoformat()} "
                          "and its amounts were released", "reference")
    if entry.status is not EntryStatus.PENDING:
        raise LedgerError(FaultCode.NotPending,
                          f"entry {entry.reference} is already {entry.status.value}; it cannot be {verb}", "reference")
    if outcome is EntryStatus.POSTED:
        book.ensure_open_on(entry.effective_date, "reference")
    return True


def held_postings(entry: Entry, accounts: Mapping[str, Account]) -> list[Posting]:
    """A pending entry's lines as postings on the (locked) accounts they reserve amounts on."""
    return [Posting(position, accounts[line.account], line.side,
                    accounts[line.account].currency.to_minor(line.amount, f"entry.lines[{position}].amount"), line.memo)
            for position, line in enumerate(entry.lines)]


def reversal_of(book: Book, original: Entry, reversal_reference: str, effective_date: date | None = None,
                reason: str | None = None) -> EntryInput:
    """The entry that undoes `original`: every line on the other side, same account, amount and memo.

    Only a POSTED entry that is not itself a reversal can be reversed, and only once. Without an
    effective date the reversal takes the original's or, when that day is closed, the first open day
    after the closed period; an explicit date must be open.
    """
    if original.status is not EntryStatus.POSTED or original.reversal_of is not None:
        kind = "a reversal" if original.reversal_of is not None else original.status.value
        raise LedgerError(FaultCode.NotReversible,
                          f"entry {original.reference} is {kind}; only a posted entry that is not itself a reversal "
                          "can be reversed", "reference")
    if original.reversed_by is not None and original.reversed_by != reversal_reference:
        raise LedgerError(FaultCode.AlreadyReversed,
                          f"entry {original.reference} was already reversed by {original.reversed_by}", "reference")
    if effective_date is None:
        effective_date = original.effective_date
        if book.closed_through is not None and effective_date <= book.closed_through:
            effective_date = book.closed_through + timedelta(days=1)
    book.ensure_open_on(effective_date, "effectiveDate")
    return EntryInput(
        reference=reversal_reference,
        effective_date=effective_date,
        lines=tuple(LineInput(line.account, line.side.opposite, line.amount, line.memo) for line in original.lines),
        description=reversal_description(original, reason),
    )


def reversal_description(original: Entry, reason: str | None) -> str:
    return reason or f"Reversal of {original.reference}"


def repeats_reversal(existing: Entry, original: Entry, effective_date: date | None, reason: str | None) -> bool:
    """Whether `existing` is what reversing `original` with this date and reason made: a retry, to be
    answered with `existing` (an omitted date means the default one, whatever it was)."""
    return (existing.reversal_of == original.reference
            and effective_date in (None, existing.effective_date)
            and existing.description == reversal_description(original, reason))


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


@dataclass(frozen=True)
class Balance:
    account: str
    currency: str
    as_of: date | None
    posted_debits: Decimal
    posted_credits: Decimal
    pending_debits: Decimal
    pending_credits: Decimal
    balance: Decimal
    available_balance: Decimal

    @classmethod
    def of(cls, account: Account, as_of: date | None = None) -> "Balance":
        c = account.currency
        return cls(
            account=account.code,
            currency=c.code,
            as_of=as_of,
            posted_debits=c.to_decimal(account.posted_debits),
            posted_credits=c.to_decimal(account.posted_credits),
            pending_debits=c.to_decimal(account.pending_debits),
            pending_credits=c.to_decimal(account.pending_credits),
            balance=c.to_decimal(account.balance),
            available_balance=c.to_decimal(account.available_balance),
        )


@dataclass(frozen=True)
class StatementLine:
    reference: str
    effective_date: date
    description: str | None
    side: Side
    amount: Decimal
    running_balance: Decimal


@dataclass(frozen=True)
class Statement:
    account: str
    currency: str
    from_date: date
    to_date: date
    opening_balance: Decimal
    closing_balance: Decimal
    lines: tuple[StatementLine, ...]
    next_page_token: str | None = None


@dataclass(frozen=True)
class AccountPage:
    accounts: tuple[Account, ...]
    next_page_token: str | None = None


@dataclass(frozen=True)
class TrialBalanceRow:
    account: str
    name: str
    type: AccountType
    currency: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class TrialBalance:
    as_of: date | None
    rows: tuple[TrialBalanceRow, ...]
    totals: tuple[CurrencyTotal, ...]


def trial_balance(as_of: date | None, positions: Iterable[tuple[Account, int, int]]) -> TrialBalance:
    """Each account's net position in the debit or credit column, and the column totals per currency.

    `positions` gives each account with its posted debits and credits (as of the date asked for).
    """
    rows = []
    totals: dict[Currency, list[int]] = defaultdict(lambda: [0, 0])
    for account, debits, credits in positions:
        net = debits - credits
        debit, credit = (net, 0) if net > 0 else (0, -net)
        c = account.currency
        rows.append(TrialBalanceRow(account.code, account.name, account.type, c.code, c.to_decimal(debit), c.to_decimal(credit)))
        totals[c][0] += debit
        totals[c][1] += credit
    return TrialBalance(
        as_of=as_of,
        rows=tuple(rows),
        totals=tuple(
            CurrencyTotal(c.code, c.to_decimal(d), c.to_decimal(cr))
            for c, (d, cr) in sorted(totals.items(), key=lambda item: item[0].code)
        ),
    )


def statement_movement(normal_side: Side, side: Side, minor: int) -> int:
    """How one statement line moves the running balance on the account's normal side."""
    return minor if side is normal_side else -minor
