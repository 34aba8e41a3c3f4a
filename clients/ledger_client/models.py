"""The contract's types as plain Python: enums, and frozen dataclasses with `Decimal` money, `date`
and timezone-aware `datetime`. Results are read from zeep's objects here, so nothing of zeep
reaches the caller."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Mapping, Optional, Tuple, Union

from .errors import LedgerError, ledger_error


class AccountType(str, Enum):
    ASSET = "ASSET"
    EXPENSE = "EXPENSE"
    LIABILITY = "LIABILITY"
    EQUITY = "EQUITY"
    INCOME = "INCOME"


class Side(str, Enum):
    DEBIT = "DEBIT"
    CREDIT = "CREDIT"


class EntryStatus(str, Enum):
    POSTED = "POSTED"
    PENDING = "PENDING"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


class AccountStatus(str, Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class BreakReason(str, Enum):
    HASH_MISMATCH = "hash mismatch"
    MISSING_RECORD = "missing record"
    RECORD_OUT_OF_ORDER = "record out of order"
    CONTENT_CHANGED = "content changed"


Amount = Union[Decimal, int, str]


def exact_amount(value: Amount) -> Decimal:
    """An amount as a Decimal. A float is refused: it cannot say 0.10 exactly."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"amounts are Decimal, int or str, never {type(value).__name__}: {value!r}")
    return Decimal(value)


# --- inputs ---

@dataclass(frozen=True)
class LineInput:
    account: str
    side: Side
    amount: Amount
    memo: Optional[str] = None

    def to_soap(self) -> dict:
        return {"account": self.account, "side": Side(self.side).value, "amount": exact_amount(self.amount),
                "memo": self.memo}


@dataclass(frozen=True)
class EntryInput:
    """An entry to post. The reference makes posting it idempotent: sent again with the same content,
    it returns the entry first posted."""

    reference: str
    effective_date: date
    lines: Tuple[LineInput, ...]
    description: Optional[str] = None
    pending: bool = False
    pending_timeout_seconds: Optional[int] = None
    # The entry's own dimensions, key to value (at most 32; the order means nothing).
    metadata: Optional[Mapping[str, str]] = field(default=None, hash=False)

    def to_soap(self) -> dict:
        return {"reference": self.reference, "effectiveDate": self.effective_date, "description": self.description,
                "lines": {"line": [line.to_soap() for line in self.lines]},
                "pending": True if self.pending else None, "pendingTimeoutSeconds": self.pending_timeout_seconds,
                "metadata": {"item": [{"key": key, "value": value} for key, value in self.metadata.items()]}
                if self.metadata else None}


# --- results ---

def _items(wrapper, name: str) -> list:
    """The items of a list wrapper as zeep gives it (None, the wrapper, or already its items)."""
    if wrapper is None:
        return []
    if isinstance(wrapper, list):
        return wrapper
    return list(getattr(wrapper, name) or [])


@dataclass(frozen=True)
class Book:
    code: str
    name: str
    closed_through: Optional[date] = None

    @classmethod
    def from_soap(cls, value) -> "Book":
        return cls(value.code, value.name, value.closedThrough)


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    type: AccountType
    currency: str
    parent_code: Optional[str]
    no_negative_balance: bool
    status: AccountStatus
    opened_at: datetime

    @classmethod
    def from_soap(cls, value) -> "Account":
        return cls(value.code, value.name, AccountType(value.type), value.currency, value.parentCode,
                   value.noNegativeBalance, AccountStatus(value.status), value.openedAt)


@dataclass(frozen=True)
class AccountPage:
    accounts: Tuple[Account, ...]
    next_page_token: Optional[str] = None

    @classmethod
    def from_soap(cls, value) -> "AccountPage":
        return cls(tuple(Account.from_soap(a) for a in _items(value.accounts, "account")), value.nextPageToken)


@dataclass(frozen=True)
class Line:
    account: str
    side: Side
    amount: Decimal
    currency: str
    memo: Optional[str] = None

    @classmethod
    def from_soap(cls, value) -> "Line":
        return cls(value.account, Side(value.side), value.amount, value.currency, value.memo)


@dataclass(frozen=True)
class Entry:
    id: str
    reference: str
    effective_date: date
    recorded_at: datetime
    description: Optional[str]
    status: EntryStatus
    lines: Tuple[Line, ...]
    pending_expires_at: Optional[datetime] = None
    reversal_of: Optional[str] = None
    reversed_by: Optional[str] = None
    # Key to value, in key order; empty for an entry without metadata.
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_soap(cls, value) -> "Entry":
        return cls(value.id, value.reference, value.effectiveDate, value.recordedAt, value.description,
                   EntryStatus(value.status), tuple(Line.from_soap(line) for line in _items(value.lines, "line")),
                   value.pendingExpiresAt, value.reversalOf, value.reversedBy,
                   {item.key: item.value for item in _items(getattr(value, "metadata", None), "item")})


@dataclass(frozen=True)
class EntryPage:
    """A page of ListEntries. It may hold fewer entries than asked for, even none, while
    `next_page_token` leads on: read on until there is none."""

    entries: Tuple[Entry, ...]
    next_page_token: Optional[str] = None

    @classmethod
    def from_soap(cls, value) -> "EntryPage":
        return cls(tuple(Entry.from_soap(e) for e in _items(value.entries, "entry")), value.nextPageToken)


@dataclass(frozen=True)
class EntryResult:
    """One entry's outcome in a batch: the entry, or the error it met (with its `index`)."""

    reference: str
    entry: Optional[Entry] = None
    error: Optional[LedgerError] = field(default=None, compare=False)

    @classmethod
    def from_soap(cls, value) -> "EntryResult":
        fault = value.fault
        return cls(value.reference, Entry.from_soap(value.entry) if value.entry is not None else None,
                   ledger_error(fault.code, fault.message, fault.field, fault.index) if fault is not None else None)


@dataclass(frozen=True)
class EntryAudit:
    reference: str
    posted_by: Optional[str]
    request_id: Optional[str]
    recorded_at: datetime
    settled_by: Optional[str] = None
    settled_request_id: Optional[str] = None
    settled_at: Optional[datetime] = None
    void_reason: Optional[str] = None
    # The place in the book's journal of the record of the entry. Always there, and last, as in the
    # contract: keyword-only, so that the fields before it keep their places.
    journal_sequence: int = field(kw_only=True)

    @classmethod
    def from_soap(cls, value) -> "EntryAudit":
        return cls(value.reference, value.postedBy, value.requestId, value.recordedAt, value.settledBy,
                   value.settledRequestId, value.settledAt, value.voidReason, journal_sequence=value.journalSequence)


@dataclass(frozen=True)
class Balance:
    account: str
    currency: str
    as_of: Optional[date]
    posted_debits: Decimal
    posted_credits: Decimal
    pending_debits: Decimal
    pending_credits: Decimal
    balance: Decimal
    available_balance: Decimal

    @classmethod
    def from_soap(cls, value) -> "Balance":
        return cls(value.account, value.currency, value.asOf, value.postedDebits, value.postedCredits,
                   value.pendingDebits, value.pendingCredits, value.balance, value.availableBalance)


@dataclass(frozen=True)
class StatementLine:
    reference: str
    effective_date: date
    description: Optional[str]
    side: Side
    amount: Decimal
    running_balance: Decimal

    @classmethod
    def from_soap(cls, value) -> "StatementLine":
        return cls(value.reference, value.effectiveDate, value.description, Side(value.side), value.amount,
                   value.runningBalance)


@dataclass(frozen=True)
class Statement:
    account: str
    currency: str
    from_date: date
    to_date: date
    opening_balance: Decimal
    closing_balance: Decimal
    lines: Tuple[StatementLine, ...]
    next_page_token: Optional[str] = None

    @classmethod
    def from_soap(cls, value) -> "Statement":
        return cls(value.account, value.currency, value.fromDate, value.toDate, value.openingBalance,
                   value.closingBalance, tuple(StatementLine.from_soap(line) for line in _items(value.lines, "line")),
                   value.nextPageToken)


@dataclass(frozen=True)
class TrialBalanceRow:
    account: str
    name: str
    type: AccountType
    currency: str
    debit: Decimal
    credit: Decimal

    @classmethod
    def from_soap(cls, value) -> "TrialBalanceRow":
        return cls(value.account, value.name, AccountType(value.type), value.currency, value.debit, value.credit)


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    debit: Decimal
    credit: Decimal

    @classmethod
    def from_soap(cls, value) -> "CurrencyTotal":
        return cls(value.currency, value.debit, value.credit)


@dataclass(frozen=True)
class TrialBalance:
    as_of: Optional[date]
    rows: Tuple[TrialBalanceRow, ...]
    totals: Tuple[CurrencyTotal, ...]

    @classmethod
    def from_soap(cls, value) -> "TrialBalance":
        return cls(value.asOf, tuple(TrialBalanceRow.from_soap(row) for row in _items(value.rows, "row")),
                   tuple(CurrencyTotal.from_soap(total) for total in _items(value.totals, "total")))


@dataclass(frozen=True)
class CamtStatement:
    """An account's statement for a period as an ISO 20022 camt.053.001.08 document: `document` is its UTF-8
    bytes, to be stored or parsed as they are; `message_id` is its GrpHdr/MsgId."""

    message_id: str
    document: bytes

    @classmethod
    def from_soap(cls, value) -> "CamtStatement":
        return cls(value.messageId, value.document)


@dataclass(frozen=True)
class JournalHead:
    """The last record of a book's journal: keep its sequence and hash to check an export against later."""

    book: str
    sequence: int
    hash: str
    recorded_at: datetime

    @classmethod
    def from_soap(cls, value) -> "JournalHead":
        return cls(value.book, value.sequence, value.hash, value.recordedAt)


@dataclass(frozen=True)
class JournalBreak:
    sequence: int
    reason: BreakReason

    @classmethod
    def from_soap(cls, value) -> "JournalBreak":
        return cls(value.sequence, BreakReason(value.reason))


@dataclass(frozen=True)
class JournalVerification:
    """The records from `from_sequence` to `to_sequence` recomputed from the stored rows: `records_checked`
    were intact, `head_hash` is the hash of the last of them, and `first_break` the first that was not."""

    book: str
    from_sequence: int
    to_sequence: int
    records_checked: int
    head_hash: str
    intact: bool
    first_break: Optional[JournalBreak] = None

    @classmethod
    def from_soap(cls, value) -> "JournalVerification":
        return cls(value.book, value.fromSequence, value.toSequence, value.recordsChecked, value.headHash,
                   value.intact, JournalBreak.from_soap(value.firstBreak) if value.firstBreak is not None else None)
