"""The contract as a reference: what its WSDL declares, joined with what a WSDL cannot say (the role each
operation needs, what it does and the faults particular to it; for every fault code, when it is
raised and how it travels). /docs (soap/docs.py) and the tables of docs/contract.md (tables.py) are
both written from `ContractReference`, so the two cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from ..domain.access import REQUIRED_ROLE, role_label
from ..domain.errors import FaultCode
from .reading import Field, display_name, read

# The role each operation needs on the book it names, as the service layer enforces it (CreateBook:
# no grant, but a system administrator).
ROLES = {operation: role_label(required) for operation, required in REQUIRED_ROLE.items()}
OPERATIONS = {
    # operation: (what it does, the faults particular to it)
    "CreateBook": ("Creates a book; the caller becomes its admin.", ["BookExists"]),
    "OpenAccount": ("Opens an account, optionally under a parent account of the same currency.",
                    ["AccountExists", "AccountNotFound", "AccountClosed", "UnknownCurrency", "CurrencyMismatch"]),
    "GetAccount": ("One account.", ["AccountNotFound"]),
    "ListAccounts": ("The book's accounts in code order, a page at a time, by type or code prefix.",
                     ["SchemaValidation"]),
    "CloseAccount": ("Closes an account with a zero balance and nothing pending.",
                     ["AccountNotFound", "AccountNotEmpty"]),
    "PostEntry": ("Posts a journal entry, or with pending reserves its amounts. The reference makes it "
                  "idempotent: the same content again returns the entry first posted.",
                  ["Unbalanced", "InvalidAmount", "TooFewLines", "TooManyLines", "AccountNotFound", "AccountClosed",
                   "ReferenceConflict", "PeriodClosed", "InsufficientBalance"]),
    "PostEntries": ("Up to 1000 entries in one request and one transaction; atomic: all or none, otherwise one "
                    "result per entry.",
                    ["BatchTooLarge", "Unbalanced", "InvalidAmount", "ReferenceConflict", "InsufficientBalance"]),
    "CommitPending": ("Posts what a pending entry reserved, or with lines only those amounts, releasing the rest.",
                      ["EntryNotFound", "NotPending", "PendingExpired", "PeriodClosed", "InvalidAmount", "Unbalanced",
                       "TooFewLines", "TooManyLines"]),
    "VoidPending": ("Releases what a pending entry reserved.", ["EntryNotFound", "NotPending", "PendingExpired"]),
    "ReverseEntry": ("Posts the mirror of an entry under a new reference, linking the two.",
                     ["EntryNotFound", "AlreadyReversed", "NotReversible", "ReferenceConflict", "PeriodClosed",
                      "AccountClosed", "InsufficientBalance"]),
    "GetEntry": ("One entry by its reference, with its status now.", ["EntryNotFound"]),
    "GetEntryAudit": ("Who posted an entry, in which request, and who settled it if it was pending.",
                      ["EntryNotFound"]),
    "GetBalance": ("An account's posted and pending totals and balances, now or as of a date.", ["AccountNotFound"]),
    "GetStatement": ("An account's posted lines between two dates with running balances, a page at a time.",
                     ["AccountNotFound", "SchemaValidation"]),
    "GetTrialBalance": ("Every account's net debit or credit, with totals per currency.", []),
    "ClosePeriod": ("Refuses entries dated on or before the date from now on.", ["PeriodClosed", "SchemaValidation"]),
    "ListEntries": ("The book's entries effective between two dates in journal order, optionally only those on an "
                    "account or carrying a metadata key (and value), a page at a time; a page looks through at most "
                    "10,000 journal records, so it may hold fewer entries than asked for while a next page exists.",
                    ["AccountNotFound", "SchemaValidation"]),
    "GetJournalHead": ("The last record of the book's hash-chained journal: its sequence and hash, to keep and "
                       "verify an export against later.", []),
    "VerifyJournal": ("Recomputes the book's hash chain from the stored rows of entries, lines and outcomes, over "
                      "a stretch of at most 100,000 records, and names the first record that breaks it.",
                      ["SchemaValidation"]),
    "GetCamtStatement": ("The account's whole statement for a period as one ISO 20022 camt.053.001.08 document "
                         "(base64 of its UTF-8 bytes), at most 10,000 lines.",
                         ["AccountNotFound", "SchemaValidation", "TooManyLines"]),
}
# Faults any operation may answer.
COMMON_FAULTS = ["SchemaValidation", "MalformedRequest", "AuthenticationFailed", "NotAuthorized", "RateLimited",
                 "BookNotFound", "Unavailable", "InternalError"]
FAULT_MEANINGS = {
    FaultCode.SchemaValidation: "The request does not match the schema, names no operation of the contract, or "
                                "breaks a rule of its own (pageSize, pageToken, fromDate after toDate, ClosePeriod "
                                "past today).",
    FaultCode.MalformedRequest: "Not XML, empty, a DTD, too large, too deep, too many namespace declarations or "
                                "attributes on an element, not a SOAP envelope, the other SOAP version "
                                "(VersionMismatch), an envelope out of shape (a Header after the Body or twice, not "
                                "exactly one Body, anything else beside them), two wsse:Security headers for the "
                                "service or two UsernameTokens, Timestamps, BinarySecurityTokens or Signatures in "
                                "one, an unknown mandatory header (MustUnderstand), "
                                "not an XML content type.",
    FaultCode.AuthenticationFailed: "Missing, unknown or wrong credentials, a signature that does not verify or "
                                    "breaks a rule of signed requests, or a disabled client; always the same words.",
    FaultCode.NotAuthorized: "The client lacks the role on the book; without any grant it cannot tell whether the "
                             "book exists.",
    FaultCode.RateLimited: "The client spent its rate limit, or the username or the address spent its budget of "
                           "failed logins; Retry-After says in how many seconds to try again.",
    FaultCode.BookNotFound: "A system administrator asked about a book that does not exist.",
    FaultCode.BookExists: "The book code is taken.",
    FaultCode.AccountNotFound: "No such account in the book.",
    FaultCode.AccountExists: "The account code is taken in the book.",
    FaultCode.AccountClosed: "Posting to, or opening a child under, a closed account.",
    FaultCode.AccountNotEmpty: "Closing an account with a balance or something pending.",
    FaultCode.UnknownCurrency: "Not an ISO 4217 currency code.",
    FaultCode.CurrencyMismatch: "A child account in another currency than its parent.",
    FaultCode.Unbalanced: "Debits and credits of an entry, or of a partial commit's lines, differ in some currency.",
    FaultCode.InvalidAmount: "An amount that is not positive or is finer than its currency's minor unit; in a partial "
                             "commit, lines committing more on an account and side than the entry holds there.",
    FaultCode.TooFewLines: "An entry, or a partial commit, of fewer than 2 lines.",
    FaultCode.TooManyLines: "An entry, or a partial commit, of more than 1000 lines, or a camt.053 statement of "
                            "more than 10,000.",
    FaultCode.BatchTooLarge: "A PostEntries batch of more than 1000 entries.",
    FaultCode.ReferenceConflict: "The reference was used for a different entry.",
    FaultCode.EntryNotFound: "No entry has that reference in the book.",
    FaultCode.PeriodClosed: "The entry is dated on or before the book's closed-through date.",
    FaultCode.InsufficientBalance: "A noNegativeBalance account would go below zero, counting pending reductions.",
    FaultCode.NotPending: "Committing or voiding an entry that was never pending, or that the other outcome "
                          "settled; committing with lines an entry already committed with other lines.",
    FaultCode.PendingExpired: "Committing or voiding a pending entry past its pendingExpiresAt.",
    FaultCode.AlreadyReversed: "Reversing an entry that was already reversed.",
    FaultCode.NotReversible: "Reversing a reversal, or an entry that is not posted.",
    FaultCode.Unavailable: "The ledger's database does not answer; retry.",
    FaultCode.InternalError: "An unexpected failure; the message carries the request id to quote.",
}
# A fault travels with HTTP 500, as SOAP over HTTP and WS-I Basic Profile 1.1 (R1126) have it, but these.
_HTTP_STATUS = {FaultCode.RateLimited: HTTPStatus.TOO_MANY_REQUESTS, FaultCode.Unavailable: HTTPStatus.SERVICE_UNAVAILABLE}


def http_status_of(code: FaultCode) -> HTTPStatus:
    """The HTTP status of a response that carries a fault of `code`."""
    return _HTTP_STATUS.get(code, HTTPStatus.INTERNAL_SERVER_ERROR)


def soap_fault_codes(code: FaultCode) -> tuple[str, str]:
    """The SOAP 1.1 and SOAP 1.2 fault codes of a fault of `code`: the caller's error, or the service's."""
    return ("Server", "Receiver") if code.is_server_error else ("Client", "Sender")


@dataclass(frozen=True)
class FieldDoc:
    """A field as the reference shows it: its type's name (Code, xs:date), and for a list the name and type
    of its items (lines: line, LineInput)."""

    name: str
    type: str
    optional: bool
    item: tuple[str, str] | None = None


@dataclass(frozen=True)
class OperationDoc:
    name: str
    role: str
    summary: str
    faults: tuple[str, ...]
    parameters: tuple[FieldDoc, ...]
    results: tuple[FieldDoc, ...]


@dataclass(frozen=True)
class TypeDoc:
    name: str
    fields: tuple[FieldDoc, ...]


@dataclass(frozen=True)
class SimpleTypeDoc:
    name: str
    base: str
    values: tuple[str, ...]  # an enumeration's, in order; none for any other type
    facets: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FaultDoc:
    code: str
    soap_codes: tuple[str, str]
    http_status: HTTPStatus
    meaning: str


@dataclass(frozen=True)
class ContractReference:
    operations: tuple[OperationDoc, ...]  # in the order the portType declares them
    types: tuple[TypeDoc, ...]  # the data types, by name: neither operation wrappers nor lists
    simple_types: tuple[SimpleTypeDoc, ...]
    faults: tuple[FaultDoc, ...]  # in the order of FaultCode
    common_faults: tuple[str, ...]


def build(document: bytes) -> ContractReference:
    """The reference of the WSDL `document`."""
    definitions = read(document)

    def field_doc(field: Field) -> FieldDoc:
        item = definitions.list_item(field.type)
        return FieldDoc(field.name, display_name(field.type), field.optional,
                        None if item is None else (item.name, display_name(item.type)))

    operations, wrappers = [], set()
    for name, operation in definitions.operations().items():
        wrappers.update(definitions.elements.get(reference) for _, reference in operation.input + operation.output)
        summary, faults = OPERATIONS[name]
        operations.append(OperationDoc(
            name, ROLES[name], summary, tuple(faults),
            tuple(field_doc(field) for field in definitions.message_fields(operation.input)),
            tuple(field_doc(field) for field in definitions.message_fields(operation.output))))
    types = [TypeDoc(display_name(name), tuple(field_doc(field) for field in fields))
             for name, fields in definitions.complex_types.items()
             if name not in wrappers and definitions.list_item(name) is None]
    simple_types = [SimpleTypeDoc(display_name(name), display_name(restriction.base), restriction.values or (),
                                  restriction.facets)
                    for name, restriction in definitions.simple_types.items()]
    faults = [FaultDoc(code.value, soap_fault_codes(code), http_status_of(code), FAULT_MEANINGS[code])
              for code in FaultCode]
    return ContractReference(tuple(operations), tuple(sorted(types, key=lambda doc: doc.name)),
                             tuple(sorted(simple_types, key=lambda doc: doc.name)), tuple(faults),
                             tuple(COMMON_FAULTS))
