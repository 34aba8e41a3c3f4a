"""What the ledger reports: an account's balance, its statement, and a book's trial balance."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable

from .accounts import Account, AccountType, Side
from .currencies import Currency
from .entries import Metadata


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
    # Whether the line's entry reverses another (camt.053's RvslInd), and the entry's metadata; GetStatement
    # shows neither.
    reversal: bool = False
    metadata: Metadata = ()


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
class PeriodStatement:
    """An account's whole statement for a period, as a camt.053 document reports it (docs/contract.md#camt053):
    what identifies the book and the account, the side the account's balance is normally on, and when
    the statement was read."""

    book: str
    book_name: str
    account_name: str
    normal_side: Side
    statement: Statement
    created_at: datetime


def statement_movement(normal_side: Side, side: Side, minor: int) -> int:
    """How one statement line moves the running balance on the account's normal side."""
    return minor if side is normal_side else -minor


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
