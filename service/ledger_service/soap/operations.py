"""The v1 operations: each maps its contract parameters onto one use case and its result back.

Parameters are named and ordered as SPEC section 5 lists them, because generated clients carry
these names and this order.
"""
from __future__ import annotations

import logging

from spyne import Array, Boolean, Date, ServiceBase, rpc

from ..domain.errors import LedgerError
from ..domain.model import AccountType
from . import mapping
from . import types as contract
from .environ_keys import LEDGER, OPERATION, REQUEST
from .faults import EntryResult, LedgerFault, internal_error
from .types import Code, optional, required

log = logging.getLogger(__name__)


def operation(name: str, *parameters, returns, result: str):
    """A document/literal wrapped operation: `<name>` in, `<name>Response` holding `result` out.
    (contract.py names each message's one part `parameters`.)"""
    return rpc(*parameters, _returns=required(returns), _throws=[LedgerFault], _operation_name=name,
               _out_message_name=f"{name}Response", _out_variable_name=result, _body_style="wrapped")


def _ledger(ctx):
    environ = ctx.transport.req_env
    environ[OPERATION] = ctx.descriptor.operation_name
    return environ[LEDGER], environ[REQUEST]


class LedgerService(ServiceBase):
    @classmethod
    def call_wrapper(cls, ctx):
        try:
            return super().call_wrapper(ctx)
        except LedgerError as error:
            raise LedgerFault(error) from None
        except Exception:
            request_id = ctx.transport.req_env[REQUEST].request_id
            log.exception("request %s failed", request_id)
            raise LedgerFault(internal_error(request_id))

    @operation("CreateBook", required(Code), required(contract.Name), returns=contract.Book, result="book")
    def create_book(ctx, code, name):
        ledger, request = _ledger(ctx)
        return mapping.book(ledger.create_book(request, code, name))

    @operation("OpenAccount", required(Code), required(contract.AccountInput), returns=contract.Account, result="account")
    def open_account(ctx, book, account):
        ledger, request = _ledger(ctx)
        return mapping.account(ledger.open_account(
            request, book, account.code, account.name, AccountType(account.type), account.currency,
            account.parentCode, bool(account.noNegativeBalance)))

    @operation("GetAccount", required(Code), required(Code), returns=contract.Account, result="account")
    def get_account(ctx, book, code):
        ledger, request = _ledger(ctx)
        return mapping.account(ledger.get_account(request, book, code))

    @operation("ListAccounts", required(Code), optional(contract.AccountType), optional(Code), optional(contract.PageSize),
               optional(contract.PageToken), returns=contract.AccountPage, result="page")
    def list_accounts(ctx, book, type, codePrefix, pageSize, pageToken):
        ledger, request = _ledger(ctx)
        return mapping.account_page(ledger.list_accounts(
            request, book, AccountType(type) if type is not None else None, codePrefix, pageSize, pageToken))

    @operation("CloseAccount", required(Code), required(Code), returns=contract.Account, result="account")
    def close_account(ctx, book, code):
        ledger, request = _ledger(ctx)
        return mapping.account(ledger.close_account(request, book, code))

    @operation("PostEntry", required(Code), required(contract.EntryInput), returns=contract.Entry, result="entry")
    def post_entry(ctx, book, entry):
        ledger, request = _ledger(ctx)
        return mapping.entry(ledger.post_entry(request, book, mapping.entry_input(entry)))

    @operation("PostEntries", required(Code), required(Array(optional(contract.EntryInput), member_name="entry")), required(Boolean),
               returns=Array(optional(EntryResult), member_name="result"), result="results")
    def post_entries(ctx, book, entries, atomic):
        ledger, request = _ledger(ctx)
        return mapping.entry_results(ledger.post_entries(
            request, book, [mapping.entry_input(entry) for entry in entries or ()], atomic))

    @operation("CommitPending", required(Code), required(contract.Reference), returns=contract.Entry, result="entry")
    def commit_pending(ctx, book, reference):
        ledger, request = _ledger(ctx)
        return mapping.entry(ledger.commit_pending(request, book, reference))

    @operation("VoidPending", required(Code), required(contract.Reference), optional(contract.Description),
               returns=contract.Entry, result="entry")
    def void_pending(ctx, book, reference, reason):
        ledger, request = _ledger(ctx)
        return mapping.entry(ledger.void_pending(request, book, reference, reason))

    @operation("GetEntry", required(Code), required(contract.Reference), returns=contract.Entry, result="entry")
    def get_entry(ctx, book, reference):
        ledger, request = _ledger(ctx)
        return mapping.entry(ledger.get_entry(request, book, reference))

    @operation("GetEntryAudit", required(Code), required(contract.Reference), returns=contract.EntryAudit,
               result="audit")
    def get_entry_audit(ctx, book, reference):
        ledger, request = _ledger(ctx)
        return mapping.entry_audit(ledger.get_entry_audit(request, book, reference))

    @operation("ReverseEntry", required(Code), required(contract.Reference), required(contract.Reference),
               optional(Date), optional(contract.Description), returns=contract.Entry, result="entry")
    def reverse_entry(ctx, book, reference, reversalReference, effectiveDate, reason):
        ledger, request = _ledger(ctx)
        return mapping.entry(ledger.reverse_entry(request, book, reference, reversalReference, effectiveDate, reason))

    @operation("GetBalance", required(Code), required(Code), optional(Date), returns=contract.Balance, result="balance")
    def get_balance(ctx, book, account, asOf):
        ledger, request = _ledger(ctx)
        return mapping.balance(ledger.get_balance(request, book, account, asOf))

    @operation("GetStatement", required(Code), required(Code), required(Date), required(Date), optional(contract.PageSize),
               optional(contract.PageToken), returns=contract.Statement, result="statement")
    def get_statement(ctx, book, account, fromDate, toDate, pageSize, pageToken):
        ledger, request = _ledger(ctx)
        return mapping.statement(ledger.get_statement(request, book, account, fromDate, toDate, pageSize, pageToken))

    @operation("GetTrialBalance", required(Code), optional(Date), returns=contract.TrialBalance, result="trialBalance")
    def get_trial_balance(ctx, book, asOf):
        ledger, request = _ledger(ctx)
        return mapping.trial_balance(ledger.get_trial_balance(request, book, asOf))

    @operation("ClosePeriod", required(Code), required(Date), returns=contract.Book, result="book")
    def close_period(ctx, book, throughDate):
        ledger, request = _ledger(ctx)
        return mapping.book(ledger.close_period(request, book, throughDate))
