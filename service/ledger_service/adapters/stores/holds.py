"""The holds of pending entries in SQL: when one has lapsed, the pending totals that leave the lapsed
ones out, and releasing them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, select, update

from ...domain import journal
from ...domain.accounts import Side
from ...domain.entries import EntryStatus
from ..orm import AccountRow, EntryRow, HoldRow, PendingOutcomeRow
from .journal import Source
from .sql import DIALECT_INSERT, utc


def lapsed_by(now):
    """Whether a hold has lapsed by `now` (a datetime or a bind parameter): the domain's expiry rule,
    `has_lapsed` in domain/entries.py (live while now < expires_at, lapsed from expires_at on), as a SQL
    condition. Every statement here that tells a lapsed hold from a live one asks this; a hold without
    a timeout (expires_at null) never lapses, as SQL's comparison with null is never true."""
    return HoldRow.expires_at <= now


def _lapsed_total(side: Side):
    return (select(func.coalesce(func.sum(HoldRow.amount), 0))
            .where(HoldRow.account_id == AccountRow.id, HoldRow.side == side.value, lapsed_by(bindparam("now")))
            .scalar_subquery())


# An account's pending totals less the holds that have lapsed by :now but that nobody has released yet:
# every read sees a lapsed reservation gone the moment it lapses.
LIVE_PENDING_DEBITS = (AccountRow.pending_debits - _lapsed_total(Side.DEBIT)).label("pending_debits")
LIVE_PENDING_CREDITS = (AccountRow.pending_credits - _lapsed_total(Side.CREDIT)).label("pending_credits")
HAS_LAPSED_HOLDS = (select(HoldRow.account_id).where(HoldRow.account_id == AccountRow.id, lapsed_by(bindparam("now")))
                    .exists().label("has_expired_holds"))


def release_lapsed(connection: Connection, journal_store, account_ids: list[int],
                   now: datetime) -> dict[int, tuple[int, int]]:
    """Drops the lapsed holds on these locked accounts and takes their amounts off the accounts' pending
    totals; returns the (debits, credits) released per account. The entries whose reservation this
    releases first are recorded EXPIRED, each once, with their journal record."""
    if not account_ids:
        return {}
    released: dict[int, list[int]] = {}
    entry_ids = set()
    for account_id, side, amount, entry_id in connection.execute(
        delete(HoldRow).where(HoldRow.account_id.in_(account_ids), lapsed_by(now))
        .returning(HoldRow.account_id, HoldRow.side, HoldRow.amount, HoldRow.entry_id)
    ):
        released.setdefault(account_id, [0, 0])[0 if side == Side.DEBIT.value else 1] += amount
        entry_ids.add(entry_id)
    _record_expiries(connection, journal_store, sorted(entry_ids), now)
    if released:
        accounts = AccountRow.__table__
        connection.execute(
            update(accounts).where(accounts.c.id == bindparam("account_id"))
            .values(pending_debits=accounts.c.pending_debits - bindparam("debits"),
                    pending_credits=accounts.c.pending_credits - bindparam("credits")),
            [dict(account_id=account_id, debits=debits, credits=credits)
             for account_id, (debits, credits) in sorted(released.items())],
        )
    return {account_id: (debits, credits) for account_id, (debits, credits) in released.items()}


def _record_expiries(connection: Connection, journal_store, entry_ids: list[int], now: datetime) -> None:
    """The EXPIRED outcome of each of these entries that has none yet, and its record in its book's
    journal (books in id order). Of two transactions releasing holds of one entry on different accounts,
    the second waits on the first's outcome row and then writes none."""
    if not entry_ids:
        return
    outcome = DIALECT_INSERT[connection.dialect.name](PendingOutcomeRow).values(
        [dict(entry_id=entry_id, status=EntryStatus.EXPIRED.value, settled_at=now) for entry_id in entry_ids])
    expired = set(connection.execute(outcome.on_conflict_do_nothing().returning(PendingOutcomeRow.entry_id)).scalars())
    if not expired:
        return
    by_book: dict[int, list] = {}
    for entry_id, book_id, reference, expires_at in connection.execute(
            select(EntryRow.id, EntryRow.book_id, EntryRow.reference, EntryRow.pending_expires_at)
            .where(EntryRow.id.in_(sorted(expired))).order_by(EntryRow.id)):
        by_book.setdefault(book_id, []).append(
            (journal.pending_expired(reference, utc(expires_at), now), Source(entry_id=entry_id)))
    for book_id in sorted(by_book):
        journal_store.append(book_id, by_book[book_id])


def release_lapsed_anywhere(connection: Connection, journal_store, now: datetime, at_most: int) -> int:
    """Tidies up: releases the lapsed holds of up to `at_most` accounts, skipping accounts another
    transaction holds (it releases them itself). Returns how many accounts it released holds on."""
    account_ids = connection.execute(
        select(HoldRow.account_id).where(lapsed_by(now)).distinct().limit(at_most)).scalars().all()
    if not account_ids:
        return 0
    lock = select(AccountRow.id).where(AccountRow.id.in_(account_ids)).order_by(AccountRow.id)
    locked = connection.execute(lock.with_for_update(skip_locked=True)).scalars().all()
    return len(release_lapsed(connection, journal_store, list(locked), now))
