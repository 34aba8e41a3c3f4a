"""Use cases of accounts: opening, reading, listing and closing them."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from ..domain.access import Audit
from ..domain.accounts import Account, AccountPage, AccountSpec, AccountStatus, AccountType, account_not_found, open_account
from ..domain.books import Book
from ..domain.currencies import currency
from ..domain.errors import FaultCode, LedgerError
from .authentication import Authentication, use_case
from .context import Context
from .paging import Paging
from .ports import Stores


def open_in_book(stores: Stores, book: Book, spec: AccountSpec, now: datetime, audit: Audit) -> tuple[Account, bool]:
    """The account `spec` names in `book`, opened now (True) under its parent, as the domain's rules
    allow; or the one that already has its code (False), left as it is."""
    existing = stores.accounts.account(book.id, spec.code, now)
    if existing is not None:
        return existing, False
    parent = stores.accounts.account(book.id, spec.parent_code, now) if spec.parent_code else None
    account = open_account(spec, parent, now)
    account.id = stores.accounts.add_account(book.id, account, audit)
    return account, True


def lock_accounts(context: Context, book: Book, codes: Iterable[str]) -> dict[str, Account]:
    """The accounts of `book`, locked until commit, and the book's closed-through date as it stands
    then (AccountStore.for_update says how). The clock is read again once the locks are held: a
    decision that depends on time (has a pending entry expired?) is then taken as late as it can be,
    after any transaction that was ahead of this one has committed."""
    return lock_accounts_seeing_reference(context, book, codes, None)[0]


def lock_accounts_seeing_reference(context: Context, book: Book, codes: Iterable[str],
                                   reference: str | None) -> tuple[dict[str, Account], bool | None]:
    """lock_accounts, and whether `reference` is an entry of the book already, asked as the accounts are
    locked (None: unknown, an account being missing)."""
    locked = context.stores.accounts.for_update(book, codes, context.now, reference)
    context.read_clock()
    return locked


class Accounts:
    def __init__(self, authentication: Authentication, paging: Paging):
        self.authentication = authentication
        self.paging = paging

    @use_case("OpenAccount", write=True)
    def open_account(self, context: Context, book: str, code: str, name: str, type: AccountType,
                     currency_code: str, parent_code: str | None = None, no_negative_balance: bool = False) -> Account:
        found = context.book(book)
        spec = AccountSpec(code, name, type, currency(currency_code, ("account", "currency")), parent_code,
                           no_negative_balance)
        account, opened = open_in_book(context.stores, found, spec, context.now, context.audit)
        if not opened:
            raise LedgerError(FaultCode.AccountExists, f"account {code} already exists in book {book}",
                              ("account", "code"))
        return account

    @use_case("GetAccount", write=False, snapshot=False)
    def get_account(self, context: Context, book: str, code: str) -> Account:
        return context.account(book, code, ("code",))

    @use_case("ListAccounts", write=False)
    def list_accounts(self, context: Context, book: str, type: AccountType | None = None,
                      code_prefix: str | None = None, page_size: int | None = None,
                      page_token: str | None = None) -> AccountPage:
        found = context.book(book)
        limit = self.paging.size(page_size)
        query = {"kind": "accounts", "book": book, "type": type.value if type else None, "prefix": code_prefix}
        after = self.paging.cursor(context.stores, query, page_token)
        accounts = context.stores.accounts.accounts(found.id, type, code_prefix, after["code"] if after else None,
                                                    limit + 1, context.now)
        token = None
        if len(accounts) > limit:
            accounts = accounts[:limit]
            token = self.paging.token(context.stores, query, {"code": accounts[-1].code})
        return AccountPage(tuple(accounts), token)

    @use_case("CloseAccount", write=True)
    def close_account(self, context: Context, book: str, code: str) -> Account:
        found = context.book(book)
        account = lock_accounts(context, found, {code}).get(code)
        if account is None:
            raise account_not_found(code, ("code",))
        if account.status is AccountStatus.OPEN:
            account.close()
            context.stores.accounts.close_account(found.id, account, context.now, context.audit)
        return account
