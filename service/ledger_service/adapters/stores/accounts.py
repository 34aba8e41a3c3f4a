"""Accounts with their running totals: read as the domain's Account objects (their pending totals
without the holds that lapsed), locked for a posting, opened and closed."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import Connection, bindparam, insert, select, update

from ...domain import journal
from ...domain.access import Audit
from ...domain.accounts import Account, AccountStatus, AccountType, Side
from ...domain.books import Book
from ...domain.currencies import currency
from ..driver import DriverSelect
from ..orm import AccountRow, BookRow, EntryRow
from .holds import HAS_LAPSED_HOLDS, LIVE_PENDING_CREDITS, LIVE_PENDING_DEBITS, release_lapsed
from .journal import Source
from .sql import HistoryStore, over_lists, utc

_ACCOUNT_COLUMNS = (
    AccountRow.id, AccountRow.code, AccountRow.name, AccountRow.type, AccountRow.currency, AccountRow.parent_code,
    AccountRow.no_negative_balance, AccountRow.status, AccountRow.opened_at, AccountRow.posted_debits,
    AccountRow.posted_credits, AccountRow.pending_debits, AccountRow.pending_credits,
)
# What a read sees of an account at :now.
LIVE_ACCOUNT_COLUMNS = _ACCOUNT_COLUMNS[:-2] + (LIVE_PENDING_DEBITS, LIVE_PENDING_CREDITS)
_ACCOUNT = DriverSelect(select(*LIVE_ACCOUNT_COLUMNS).where(AccountRow.book_id == bindparam("book_id"),
                                                            AccountRow.code == bindparam("code")))
_BOOK_ACCOUNTS = select(*LIVE_ACCOUNT_COLUMNS).where(AccountRow.book_id == bindparam("book_id")).order_by(AccountRow.code)
# Whether the book holds an entry with :reference (none when it is null).
_REFERENCE_TAKEN = (select(EntryRow.id).where(EntryRow.book_id == bindparam("book_id"),
                                              EntryRow.reference == bindparam("reference"))
                    .exists().label("reference_taken"))
_FOR_UPDATE = {dialect: DriverSelect(statement) for dialect, statement in over_lists(lambda one_of: (
    select(*_ACCOUNT_COLUMNS, HAS_LAPSED_HOLDS, _REFERENCE_TAKEN, BookRow.closed_through)
    .join(BookRow, BookRow.id == AccountRow.book_id)
    .where(AccountRow.book_id == bindparam("book_id"), one_of(AccountRow.code, "codes"))
    .order_by(AccountRow.id).with_for_update(of=AccountRow)
    # SQLAlchemy writes one locking clause; SQLite takes none (a writer holds the whole database).
    .suffix_with("FOR SHARE OF books", dialect="postgresql")
)).items()}


def account_of(row) -> Account:
    """An account from a row that starts with its columns, in LIVE_ACCOUNT_COLUMNS' order (by position:
    in the caller's query the account's columns share their names with the client's and the book's)."""
    (account_id, code, name, type, currency_code, parent_code, no_negative_balance, status, opened_at,
     posted_debits, posted_credits, pending_debits, pending_credits) = row[:len(LIVE_ACCOUNT_COLUMNS)]
    return Account(
        code=code, name=name, type=AccountType(type), currency=currency(currency_code), parent_code=parent_code,
        no_negative_balance=no_negative_balance, status=AccountStatus(status), opened_at=utc(opened_at),
        posted_debits=posted_debits, posted_credits=posted_credits, pending_debits=pending_debits,
        pending_credits=pending_credits, id=account_id,
    )


class SqlAccountStore(HistoryStore):
    def __init__(self, connection: Connection, journal):
        super().__init__(connection, journal)
        self._for_update = _FOR_UPDATE[self.dialect]

    def account(self, book_id: int, code: str, now: datetime) -> Account | None:
        rows = _ACCOUNT.rows(self.connection, {"book_id": book_id, "code": code, "now": now})
        return account_of(rows[0]) if rows else None

    def accounts(self, book_id: int, type: AccountType | None, code_prefix: str | None, after_code: str | None,
                 limit: int, now: datetime) -> list[Account]:
        query = select(*LIVE_ACCOUNT_COLUMNS).where(AccountRow.book_id == book_id)
        if type is not None:
            query = query.where(AccountRow.type == type.value)
        if code_prefix:
            query = query.where(AccountRow.code >= code_prefix, AccountRow.code < code_prefix + "\U0010ffff")
        if after_code is not None:
            query = query.where(AccountRow.code > after_code)
        return [account_of(row) for row in self._run(query.order_by(AccountRow.code).limit(limit), {"now": now})]

    def book_accounts(self, book_id: int, now: datetime) -> list[Account]:
        return [account_of(row) for row in self._run(_BOOK_ACCOUNTS, {"book_id": book_id, "now": now})]

    def for_update(self, book: Book, codes: Iterable[str], now: datetime,
                   reference: str | None = None) -> tuple[dict[str, Account], bool | None]:
        """The accounts, locked in id order so that concurrent postings never wait on each other in a cycle,
        with the holds that have lapsed by `now` released; and their book locked for share (ClosePeriod
        waits until we commit), its closed-through date read as it stands once the lock is held.

        Whether an account has lapsed holds is asked in the locking statement itself, which saves a
        round trip on every posting. After a wait for the lock, PostgreSQL answers that subquery from
        the snapshot taken before the wait; a hold committed during the wait could only have lapsed
        meanwhile if the wait outlasted its timeout, and then this transaction still counts it as
        reserved: stricter for one write, never looser, and the next one releases it.

        With `reference`, the same statement also says whether the book holds an entry with it already
        (None when an account is missing: no row carries the answer), so that a new entry, the common
        case, costs no round trip for its look-up. The answer comes from the snapshot taken before any
        wait for the locks: an entry with that reference committed during the wait is found by the
        unique reference when this one is inserted, and the use case runs again and finds it."""
        codes = sorted(set(codes))
        rows = self._for_update.rows(self.connection, {"book_id": book.id, "codes": codes, "now": now,
                                                       "reference": reference})
        if rows:
            book.closed_through = rows[0].closed_through
        accounts = {row.id: account_of(row) for row in rows}
        lapsed = [row.id for row in rows if row.has_expired_holds]
        for account_id, (debits, credits) in release_lapsed(self.connection, self.journal, lapsed, now).items():
            accounts[account_id].release(Side.DEBIT, debits)
            accounts[account_id].release(Side.CREDIT, credits)
        taken = rows[0].reference_taken if rows and len(rows) == len(codes) else None
        return {account.code: account for account in accounts.values()}, taken

    def add_account(self, book_id: int, account: Account, audit: Audit) -> int:
        account_id = self._run(insert(AccountRow).values(
            book_id=book_id, code=account.code, name=account.name, type=account.type.value,
            currency=account.currency.code, parent_code=account.parent_code,
            no_negative_balance=account.no_negative_balance, status=account.status.value, opened_at=account.opened_at,
            posted_debits=0, posted_credits=0, pending_debits=0, pending_credits=0,
            created_by=audit.client_id, request_id=audit.request_id,
        ).returning(AccountRow.id)).scalar_one()
        self.journal.append(book_id, [(journal.account_opened(account), Source(account_id=account_id))])
        return account_id

    def close_account(self, book_id: int, account: Account, now: datetime, audit: Audit) -> None:
        self._run(update(AccountRow).where(AccountRow.id == account.id)
                  .values(status=account.status.value, closed_at=now, closed_by=audit.client_id,
                          closed_request_id=audit.request_id))
        self.journal.append(book_id, [(journal.account_closed(account.code, now), Source(account_id=account.id))])
