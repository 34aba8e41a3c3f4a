"""Domain results as contract types, and contract inputs as domain values."""
from __future__ import annotations

from ..domain import model
from . import types
from .faults import EntryResult, LedgerFault


def book(value: model.Book) -> types.Book:
    return types.Book(code=value.code, name=value.name, closedThrough=value.closed_through)


def account(value: model.Account) -> types.Account:
    return types.Account(
        code=value.code, name=value.name, type=value.type.value, currency=value.currency.code,
        parentCode=value.parent_code, noNegativeBalance=value.no_negative_balance, status=value.status.value,
        openedAt=value.opened_at,
    )


def account_page(value: model.AccountPage) -> types.AccountPage:
    return types.AccountPage(accounts=[account(a) for a in value.accounts], nextPageToken=value.next_page_token)


def entry_input(value: types.EntryInput) -> model.EntryInput:
    return model.EntryInput(
        reference=value.reference,
        effective_date=value.effectiveDate,
        description=value.description,
        lines=tuple(model.LineInput(line.account, model.Side(str(line.side)), line.amount, line.memo)
                    for line in value.lines),
        pending=bool(value.pending),
        pending_timeout_seconds=value.pendingTimeoutSeconds,
    )


def entry(value: model.Entry) -> types.Entry:
    return types.Entry(
        id=value.id, reference=value.reference, effectiveDate=value.effective_date, recordedAt=value.recorded_at,
        description=value.description, status=value.status.value,
        lines=[types.Line(account=line.account, side=line.side.value, amount=line.amount, currency=line.currency,
                          memo=line.memo) for line in value.lines],
        pendingExpiresAt=value.pending_expires_at, reversalOf=value.reversal_of, reversedBy=value.reversed_by,
    )


def entry_results(values) -> list[EntryResult]:
    """A PostEntries batch's outcomes: each the entry, or its fault as a LedgerFault."""
    return [EntryResult(reference=value.reference, entry=entry(value.entry) if value.entry is not None else None,
                        fault=LedgerFault(value.error) if value.error is not None else None) for value in values]


def entry_audit(value: model.EntryAudit) -> types.EntryAudit:
    return types.EntryAudit(reference=value.reference, postedBy=value.posted_by, requestId=value.request_id,
                            recordedAt=value.recorded_at, settledBy=value.settled_by,
                            settledRequestId=value.settled_request_id, settledAt=value.settled_at,
                            voidReason=value.void_reason)


def balance(value: model.Balance) -> types.Balance:
    return types.Balance(
        account=value.account, currency=value.currency, asOf=value.as_of, postedDebits=value.posted_debits,
        postedCredits=value.posted_credits, pendingDebits=value.pending_debits, pendingCredits=value.pending_credits,
        balance=value.balance, availableBalance=value.available_balance,
    )


def statement(value: model.Statement) -> types.Statement:
    return types.Statement(
        account=value.account, currency=value.currency, fromDate=value.from_date, toDate=value.to_date,
        openingBalance=value.opening_balance, closingBalance=value.closing_balance,
        lines=[types.StatementLine(reference=line.reference, effectiveDate=line.effective_date,
                                   description=line.description, side=line.side.value, amount=line.amount,
                                   runningBalance=line.running_balance) for line in value.lines],
        nextPageToken=value.next_page_token,
    )


def trial_balance(value: model.TrialBalance) -> types.TrialBalance:
    return types.TrialBalance(
        asOf=value.as_of,
        rows=[types.TrialBalanceRow(account=row.account, name=row.name, type=row.type.value, currency=row.currency,
                                    debit=row.debit, credit=row.credit) for row in value.rows],
        totals=[types.CurrencyTotal(currency=total.currency, debit=total.debit, credit=total.credit)
                for total in value.totals],
    )
