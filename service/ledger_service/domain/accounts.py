"""Accounts: their types and normal sides, their running totals and balances, opening and closing."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from .currencies import Currency
from .errors import FaultCode, LedgerError, Location


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
    # The account's row id, once it is stored.
    id: int | None = None

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

    def ensure_open(self, location: Location) -> None:
        if self.status is AccountStatus.CLOSED:
            raise LedgerError(FaultCode.AccountClosed, f"account {self.code} is closed", location)

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

    def as_of(self, debits: int, credits: int) -> "Account":
        """The account with the posted totals it had at some date (`debits`, `credits`), nothing pending."""
        return replace(self, posted_debits=debits, posted_credits=credits, pending_debits=0, pending_credits=0)

    def close(self) -> None:
        if self.status is AccountStatus.CLOSED:
            return
        if self.balance != 0 or self.pending_debits or self.pending_credits:
            raise LedgerError(
                FaultCode.AccountNotEmpty,
                f"account {self.code} has a balance of {self.currency.to_decimal(self.balance)} {self.currency.code}"
                f" and pending amounts of {self.currency.to_decimal(self.pending_debits + self.pending_credits)};"
                " only an empty account can be closed",
                ("code",),
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
            raise LedgerError(FaultCode.AccountNotFound, f"parent account {spec.parent_code} does not exist",
                              ("account", "parentCode"))
        parent.ensure_open(("account", "parentCode"))
        if parent.currency != spec.currency:
            raise LedgerError(
                FaultCode.CurrencyMismatch,
                f"account in {spec.currency.code} cannot sit under {parent.code}, which is in {parent.currency.code}",
                ("account", "currency"),
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


def account_not_found(code: str, location: Location) -> LedgerError:
    return LedgerError(FaultCode.AccountNotFound, f"account {code} does not exist", location)


@dataclass(frozen=True)
class AccountPage:
    accounts: tuple[Account, ...]
    next_page_token: str | None = None
