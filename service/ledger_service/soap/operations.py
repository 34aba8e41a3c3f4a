"""The v1 operations: each maps its contract parameters onto one use case and its result back.

Parameters are named and ordered as docs/contract.md ("Operations") lists them, because generated clients carry
these names and this order. Spyne reads these declarations to write the contract; at request time the
gateway calls each function itself, with the `Call` of the request first.
"""
from __future__ import annotations

from dataclasses import dataclass

from spyne import Array, Boolean, Date, ServiceBase, rpc

from ..adapters.camt053 import camt053_document
from ..domain.accounts import AccountType
from ..service_layer.context import RequestContext
from ..service_layer.ledger import Ledger
from . import mapping
from . import types
from .faults import EntryResult, LedgerFault
from .types import Code, optional, required


@dataclass(frozen=True)
class Call:
    """What an operation is called with besides its parameters: the service layer and the request."""

    ledger: Ledger
    request: RequestContext


def operation(name: str, *parameters, returns, result: str):
    """A document/literal wrapped operation: `<name>` in, `<name>Response` holding `result` out.
    (contract.py names each message's one part `parameters`.)"""
    return rpc(*parameters, _returns=required(returns), _throws=[LedgerFault], _operation_name=name,
               _out_message_name=f"{name}Response", _out_variable_name=result, _body_style="wrapped")


class LedgerService(ServiceBase):
    @operation("CreateBook", required(Code), required(types.Name), returns=types.Book, result="book")
    def create_book(call, code, name):
        return mapping.book(call.ledger.books.create_book(call.request, code, name))

    @operation("OpenAccount", required(Code), required(types.AccountInput), returns=types.Account, result="account")
    def open_account(call, book, account):
        return mapping.account(call.ledger.accounts.open_account(
            call.request, book, account.code, account.name, AccountType(account.type), account.currency,
            account.parentCode, bool(account.noNegativeBalance)))

    @operation("GetAccount", required(Code), required(Code), returns=types.Account, result="account")
    def get_account(call, book, code):
        return mapping.account(call.ledger.accounts.get_account(call.request, book, code))

    @operation("ListAccounts", required(Code), optional(types.AccountType), optional(Code), optional(types.PageSize),
               optional(types.PageToken), returns=types.AccountPage, result="page")
    def list_accounts(call, book, type, codePrefix, pageSize, pageToken):
        return mapping.account_page(call.ledger.accounts.list_accounts(
            call.request, book, AccountType(type) if type is not None else None, codePrefix, pageSize, pageToken))

    @operation("CloseAccount", required(Code), required(Code), returns=types.Account, result="account")
    def close_account(call, book, code):
        return mapping.account(call.ledger.accounts.close_account(call.request, book, code))

    @operation("PostEntry", required(Code), required(types.EntryInput), returns=types.Entry, result="entry")
    def post_entry(call, book, entry):
        return mapping.entry(call.ledger.entries.post_entry(call.request, book, mapping.entry_input(entry)))

    @operation("PostEntries", required(Code), required(Array(optional(types.EntryInput), member_name="entry")), required(Boolean),
               returns=Array(optional(EntryResult), member_name="result"), result="results")
    def post_entries(call, book, entries, atomic):
        return mapping.entry_results(call.ledger.entries.post_entries(
            call.request, book, [mapping.entry_input(entry) for entry in entries or ()], atomic))

    @operation("CommitPending", required(Code), required(types.Reference),
               optional(Array(optional(types.LineInput), member_name="line")), returns=types.Entry, result="entry")
    def commit_pending(call, book, reference, lines):
        return mapping.entry(call.ledger.pending.commit_pending(call.request, book, reference,
                                                                mapping.line_inputs(lines)))

    @operation("VoidPending", required(Code), required(types.Reference), optional(types.Description),
               returns=types.Entry, result="entry")
    def void_pending(call, book, reference, reason):
        return mapping.entry(call.ledger.pending.void_pending(call.request, book, reference, reason))

    @operation("GetEntry", required(Code), required(types.Reference), returns=types.Entry, result="entry")
    def get_entry(call, book, reference):
        return mapping.entry(call.ledger.entries.get_entry(call.request, book, reference))

    @operation("GetEntryAudit", required(Code), required(types.Reference), returns=types.EntryAudit,
               result="audit")
    def get_entry_audit(call, book, reference):
        return mapping.entry_audit(call.ledger.entries.get_entry_audit(call.request, book, reference))

    @operation("ReverseEntry", required(Code), required(types.Reference), required(types.Reference),
               optional(Date), optional(types.Description), returns=types.Entry, result="entry")
    def reverse_entry(call, book, reference, reversalReference, effectiveDate, reason):
        return mapping.entry(call.ledger.entries.reverse_entry(call.request, book, reference, reversalReference, effectiveDate, reason))

    @operation("GetBalance", required(Code), required(Code), optional(Date), returns=types.Balance, result="balance")
    def get_balance(call, book, account, asOf):
        return mapping.balance(call.ledger.reports.get_balance(call.request, book, account, asOf))

    @operation("GetStatement", required(Code), required(Code), required(Date), required(Date), optional(types.PageSize),
               optional(types.PageToken), returns=types.Statement, result="statement")
    def get_statement(call, book, account, fromDate, toDate, pageSize, pageToken):
        return mapping.statement(call.ledger.reports.get_statement(call.request, book, account, fromDate, toDate, pageSize, pageToken))

    @operation("GetTrialBalance", required(Code), optional(Date), returns=types.TrialBalance, result="trialBalance")
    def get_trial_balance(call, book, asOf):
        return mapping.trial_balance(call.ledger.reports.get_trial_balance(call.request, book, asOf))

    @operation("ClosePeriod", required(Code), required(Date), returns=types.Book, result="book")
    def close_period(call, book, throughDate):
        return mapping.book(call.ledger.books.close_period(call.request, book, throughDate))

    @operation("ListEntries", required(Code), required(Date), required(Date), optional(Code), optional(types.MetadataKey),
               optional(types.MetadataValue), optional(types.PageSize), optional(types.PageToken),
               returns=types.EntryPage, result="page")
    def list_entries(call, book, fromDate, toDate, account, metadataKey, metadataValue, pageSize, pageToken):
        return mapping.entry_page(call.ledger.reports.list_entries(
            call.request, book, fromDate, toDate, account, metadataKey, metadataValue, pageSize, pageToken))

    @operation("GetJournalHead", required(Code), returns=types.JournalHead, result="head")
    def get_journal_head(call, book):
        return mapping.journal_head(call.ledger.journal.get_journal_head(call.request, book))

    @operation("VerifyJournal", required(Code), optional(types.Sequence), optional(types.Sequence),
               returns=types.JournalVerification, result="verification")
    def verify_journal(call, book, fromSequence, toSequence):
        return mapping.journal_verification(call.ledger.journal.verify_journal(call.request, book, fromSequence,
                                                                               toSequence))

    @operation("GetCamtStatement", required(Code), required(Code), required(Date), required(Date),
               returns=types.CamtStatement, result="statement")
    def get_camt_statement(call, book, account, fromDate, toDate):
        return mapping.camt_statement(camt053_document(call.ledger.reports.get_camt_statement(
            call.request, book, account, fromDate, toDate)))
