"""Books, accounts and journal entries, and the rules every posting obeys."""
from __future__ import annotations

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

    def ensure_open(self, field: str) -> None:
        if self.status is AccountStatus.CLOSED:
            raise LedgerError(FaultCode.AccountClosed, f"account {self.code} is closed", field)

    def post(self, side: Side, minor: int) -> None:
        if side is Side.DEBIT:
            self.posted_debits += minor
        else:
            self.posted_credits += minor

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

    def fingerprint(self) -> str:
        """What makes two submissions of one reference "the same entry": equal amounts in any notation."""
        content = [
            self.effective_date.isoformat(),
            self.description or "",
            [[line.account, line.side.value, str(line.amount.normalize()), line.memo or ""] for line in self.lines],
        ]
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()

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


def apply_postings(postings: Iterable[Posting]) -> None:
    """Moves the accounts' posted balances, refusing to take a guarded account below zero."""
    postings = list(postings)
    for posting in postings:
        posting.account.post(posting.side, posting.minor)
    for posting in postings:
        account = posting.account
        if (account.posted_debits if posting.side is Side.DEBIT else account.posted_credits) > MAX_ACCOUNT_TOTAL:
            raise LedgerError(
                FaultCode.InvalidAmount,
                f"account {account.code}'s total {posting.side.value.lower()}s would exceed the largest amount "
                "an account can hold",
                f"entry.lines[{posting.position}].amount",
            )
        if account.no_negative_balance and posting.side is not account.normal_side and account.available_balance < 0:
            raise LedgerError(
                FaultCode.InsufficientBalance,
                f"account {account.code} would go below zero: available "
                f"{account.currency.to_decimal(account.available_balance)} {account.currency.code} after this entry",
                f"entry.lines[{posting.position}].amount",
            )


def apply_or_undo(postings: list[Posting]) -> None:
    """`apply_postings`, leaving the accounts as they were when a rule refuses the entry: one entry of a
    batch that fails must not count for the entries after it."""
    before = [(a, a.posted_debits, a.posted_credits) for a in {id(p.account): p.account for p in postings}.values()]
    try:
        apply_postings(postings)
    except LedgerError:
        for account, debits, credits in before:
            account.posted_debits, account.posted_credits = debits, credits
        raise


def ensure_batch_size(count: int) -> None:
    if count > MAX_BATCH:
        raise LedgerError(FaultCode.BatchTooLarge, f"a batch holds at most {MAX_BATCH} entries; this one has {count}",
                          "entries")


@dataclass(frozen=True)
class EntryOutcome:
    """One entry's result in a batch: the entry posted (or the original, for a replay), or why not."""

    reference: str
    entry: "Entry | None" = None
    error: LedgerError | None = None


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
    """Who wrote an entry and when: the client's name and the request's id (None when no client did)."""

    reference: str
    posted_by: str | None
    request_id: str | None
    recorded_at: datetime


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
