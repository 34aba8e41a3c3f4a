"""Use cases of reports: an account's balance and statement (paged, or whole as camt.053 reports it), a book's
trial balance."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Sequence

from ..domain.accounts import Account, AccountStatus, signed_balance
from ..domain.books import Book
from ..domain.errors import FaultCode, LedgerError
from ..domain.limits import MAX_STATEMENT_DOCUMENT_LINES
from ..domain.reports import (Balance, PeriodStatement, Statement, StatementLine, TrialBalance, statement_movement,
                              trial_balance)
from .accounts import find_account
from .authentication import Authentication, use_case
from .context import Context
from .paging import Paging
from .ports import StatementRow, Stores


def _opening_and_closing(stores: Stores, account: Account, from_date: date, to_date: date) -> tuple[int, int]:
    """The account's balance on its normal side (minor units) before `from_date` and at the end of `to_date`."""
    if from_date > to_date:
        raise LedgerError(FaultCode.SchemaValidation, "fromDate must not be after toDate", ("toDate",))
    reports = stores.reports
    closing = signed_balance(account.normal_side, *reports.totals_as_of([account.id], to_date).get(account.id, (0, 0)))
    opening = 0
    if from_date > date.min:
        before = reports.totals_as_of([account.id], from_date - timedelta(days=1))
        opening = signed_balance(account.normal_side, *before.get(account.id, (0, 0)))
    return opening, closing


def _statement_lines(account: Account, rows: Sequence[StatementRow],
                     running: int) -> tuple[tuple[StatementLine, ...], int]:
    """The rows as statement lines, each with the balance after it from `running` on; and the last balance."""
    to_decimal = account.currency.to_decimal
    lines = []
    for row in rows:
        running += statement_movement(account.normal_side, row.side, row.amount)
        lines.append(StatementLine(row.reference, row.effective_date, row.description, row.side,
                                   to_decimal(row.amount), to_decimal(running), row.reversal))
    return tuple(lines), running


def period_statement(context: Context, book: Book, account: str, from_date: date, to_date: date) -> PeriodStatement:
    """The account's statement for the whole period, not paged: at most MAX_STATEMENT_DOCUMENT_LINES lines,
    or TooManyLines."""
    found = find_account(context.stores, book, account, context.now, ("account",))
    opening, closing = _opening_and_closing(context.stores, found, from_date, to_date)
    rows = context.stores.reports.statement_rows(found.id, from_date, to_date, None, MAX_STATEMENT_DOCUMENT_LINES + 1)
    if len(rows) > MAX_STATEMENT_DOCUMENT_LINES:
        raise LedgerError(FaultCode.TooManyLines, f"the period has more than {MAX_STATEMENT_DOCUMENT_LINES} statement "
                          "lines, more than one camt.053 document holds: ask for shorter periods", ("toDate",))
    lines, _ = _statement_lines(found, rows, opening)
    to_decimal = found.currency.to_decimal
    statement = Statement(found.code, found.currency.code, from_date, to_date, to_decimal(opening),
                          to_decimal(closing), lines)
    return PeriodStatement(book.code, book.name, found.name, found.normal_side, statement, context.now)


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
        opening, closing = _opening_and_closing(context.stores, found, from_date, to_date)
        limit = self.paging.size(page_size)
        query = {"kind": "statement", "book": book, "account": account,
                 "from": from_date.isoformat(), "to": to_date.isoformat()}
        cursor, running = None, opening
        position = self.paging.cursor(context.stores, query, page_token)
        if position is not None:
            cursor = (date.fromisoformat(position["date"]), position["entry"], position["line"])
            running = position["running"]
        rows = context.stores.reports.statement_rows(found.id, from_date, to_date, cursor, limit + 1)
        lines, running = _statement_lines(found, rows[:limit], running)
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = self.paging.token(context.stores, query, {
                "date": last.effective_date.isoformat(), "entry": last.entry_id, "line": last.position,
                "running": running})
        to_decimal = found.currency.to_decimal
        return Statement(found.code, found.currency.code, from_date, to_date, to_decimal(opening), to_decimal(closing),
                         lines, token)

    @use_case("GetCamtStatement", write=False)
    def get_camt_statement(self, context: Context, book: str, account: str, from_date: date,
                           to_date: date) -> PeriodStatement:
        return period_statement(context, context.book(book), account, from_date, to_date)

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
