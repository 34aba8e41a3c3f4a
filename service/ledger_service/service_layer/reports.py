"""Use cases of reports: an account's balance and statement, a book's trial balance."""
from __future__ import annotations

from datetime import date, timedelta

from ..domain.accounts import AccountStatus, signed_balance
from ..domain.errors import FaultCode, LedgerError
from ..domain.reports import Balance, Statement, StatementLine, TrialBalance, statement_movement, trial_balance
from .accounts import find_account
from .authentication import Authentication, use_case
from .context import Context
from .paging import Paging


class Reports:
    def __init__(self, authentication: Authentication, paging: Paging):
        self.authentication = authentication
        self.paging = paging

    @use_case("GetBalance", write=False)
    def get_balance(self, context: Context, book: str, account: str, as_of: date | None = None) -> Balance:
        found = find_account(context.stores, context.book(book), account, context.now, ("account",))
        if as_of is None:
            return Balance.of(found)
        debits, credits = context.stores.reports.totals_as_of([found.id], as_of).get(found.id, (0, 0))
        return Balance.of(found.as_of(debits, credits), as_of)

    @use_case("GetStatement", write=False)
    def get_statement(self, context: Context, book: str, account: str, from_date: date, to_date: date,
                      page_size: int | None = None, page_token: str | None = None) -> Statement:
        found = find_account(context.stores, context.book(book), account, context.now, ("account",))
        if from_date > to_date:
            raise LedgerError(FaultCode.SchemaValidation, "fromDate must not be after toDate", ("toDate",))
        limit = self.paging.size(page_size)
        reports = context.stores.reports
        closing = signed_balance(found.normal_side, *reports.totals_as_of([found.id], to_date).get(found.id, (0, 0)))
        opening = 0
        if from_date > date.min:
            before = reports.totals_as_of([found.id], from_date - timedelta(days=1))
            opening = signed_balance(found.normal_side, *before.get(found.id, (0, 0)))
        query = {"kind": "statement", "book": book, "account": account,
                 "from": from_date.isoformat(), "to": to_date.isoformat()}
        cursor, running = None, opening
        position = self.paging.cursor(context.stores, query, page_token)
        if position is not None:
            cursor = (date.fromisoformat(position["date"]), position["entry"], position["line"])
            running = position["running"]
        rows = reports.statement_rows(found.id, from_date, to_date, cursor, limit + 1)
        lines = []
        for row in rows[:limit]:
            running += statement_movement(found.normal_side, row.side, row.amount)
            lines.append(StatementLine(row.reference, row.effective_date, row.description, row.side,
                                       found.currency.to_decimal(row.amount), found.currency.to_decimal(running)))
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = self.paging.token(context.stores, query, {
                "date": last.effective_date.isoformat(), "entry": last.entry_id, "line": last.position,
                "running": running})
        to_decimal = found.currency.to_decimal
        return Statement(found.code, found.currency.code, from_date, to_date, to_decimal(opening), to_decimal(closing),
                         tuple(lines), token)

    @use_case("GetTrialBalance", write=False)
    def get_trial_balance(self, context: Context, book: str, as_of: date | None = None) -> TrialBalance:
        accounts = context.stores.accounts.book_accounts(context.book(book).id, context.now)
        if as_of is None:
            positions = [(a, a.posted_debits, a.posted_credits) for a in accounts
                         if a.status is AccountStatus.OPEN or a.balance]
        else:
            totals = context.stores.reports.totals_as_of([a.id for a in accounts], as_of)
            positions = []
            for account in accounts:
                debits, credits = totals.get(account.id, (0, 0))
                if account.opened_at.date() <= as_of or debits or credits:
                    positions.append((account, debits, credits))
        return trial_balance(as_of, positions)
