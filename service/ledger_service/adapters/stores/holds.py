"""The holds of pending entries in SQL: when one has lapsed, the pending totals that leave the lapsed
ones out, and releasing them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, select, update

from ...domain.accounts import Side
from ..orm import AccountRow, HoldRow


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


def release_lapsed(connection: Connection, account_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
    """Drops the lapsed holds on these locked accounts and takes their amounts off the accounts' pending
    totals; returns the (debits, credits) released per account."""
    if not account_ids:
        return {}
    released: dict[int, list[int]] = {}
    for account_id, side, amount in connection.execute(
        delete(HoldRow).where(HoldRow.account_id.in_(account_ids), lapsed_by(now))
        .returning(HoldRow.account_id, HoldRow.side, HoldRow.amount)
    ):
        released.setdefault(account_id, [0, 0])[0 if side == Side.DEBIT.value else 1] += amount
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


def release_lapsed_anywhere(connection: Connection, now: datetime, at_most: int) -> int:
    """Tidies up: releases the lapsed holds of up to `at_most` accounts, skipping accounts another
    transaction holds (it releases them itself). Returns how many accounts it released holds on."""
    account_ids = connection.execute(
        select(HoldRow.account_id).where(lapsed_by(now)).distinct().limit(at_most)).scalars().all()
    if not account_ids:
        return 0
    lock = select(AccountRow.id).where(AccountRow.id.in_(account_ids)).order_by(AccountRow.id)
    locked = connection.execute(lock.with_for_update(skip_locked=True)).scalars().all()
    return len(release_lapsed(connection, list(locked), now))
