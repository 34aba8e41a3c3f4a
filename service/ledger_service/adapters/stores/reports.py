"""What reports read: posted totals as of a date (from the per-day totals), and an account's statement
lines a page at a time."""
from __future__ import annotations

from datetime import date
from typing import Sequence

from sqlalchemy import Connection, bindparam, func, select, tuple_

from ...domain.accounts import Side
from ...service_layer.ports import StatementRow
from ..orm import AccountDayRow, EntryRow, LineRow
from .sql import SqlStore, over_lists

_TOTALS_AS_OF = over_lists(lambda one_of: (
    select(AccountDayRow.account_id, func.sum(AccountDayRow.debits), func.sum(AccountDayRow.credits))
    .where(one_of(AccountDayRow.account_id, "account_ids"), AccountDayRow.day <= bindparam("as_of"))
    .group_by(AccountDayRow.account_id)
))
_STATEMENT_LINES = (
    select(LineRow.entry_id, LineRow.position, EntryRow.reference, LineRow.effective_date, EntryRow.description,
           LineRow.side, LineRow.amount, EntryRow.reversal_of_id.is_not(None).label("reversal"))
    .join(EntryRow, EntryRow.id == LineRow.entry_id)
    .where(LineRow.account_id == bindparam("account_id"), LineRow.effective_date >= bindparam("from_date"),
           LineRow.effective_date <= bindparam("to_date"))
    .order_by(LineRow.effective_date, LineRow.entry_id, LineRow.position).limit(bindparam("limit"))
)
_STATEMENT_LINES_AFTER = _STATEMENT_LINES.where(
    tuple_(LineRow.effective_date, LineRow.entry_id, LineRow.position)
    > tuple_(bindparam("after_date"), bindparam("after_entry"), bindparam("after_position")))


class SqlReportStore(SqlStore):
    def __init__(self, connection: Connection):
        super().__init__(connection)
        self._totals_as_of = _TOTALS_AS_OF[self.dialect]

    def totals_as_of(self, account_ids: Sequence[int], as_of: date) -> dict[int, tuple[int, int]]:
        """Posted (debits, credits) per account, counting entries effective on or before `as_of`."""
        rows = self._run(self._totals_as_of, {"account_ids": list(account_ids), "as_of": as_of}).all()
        return {account_id: (int(debits), int(credits)) for account_id, debits, credits in rows}

    def statement_rows(self, account_id: int, from_date: date, to_date: date,
                       after: tuple[date, int, int] | None, limit: int) -> list[StatementRow]:
        """Posted lines of the account in the date range, in (date, entry, position) order, after a cursor."""
        parameters = {"account_id": account_id, "from_date": from_date, "to_date": to_date, "limit": limit}
        if after is not None:
            parameters.update(zip(("after_date", "after_entry", "after_position"), after))
        return [StatementRow(r.entry_id, r.position, r.reference, r.effective_date, r.description, Side(r.side), r.amount,
                             bool(r.reversal))
                for r in self._run(_STATEMENT_LINES if after is None else _STATEMENT_LINES_AFTER, parameters)]
