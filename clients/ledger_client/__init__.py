"""soap-ledger's Python client: `LedgerClient`, typed results, and one exception per fault code.

    from ledger_client import LedgerClient, EntryInput, LineInput, Side
    ledger = LedgerClient("https://ledger.example", "erp", password)
    ledger.post_entry("ACME", EntryInput("INV-1", date(2026, 1, 15), (
        LineInput("1000", Side.DEBIT, "250.00"), LineInput("4000", Side.CREDIT, "250.00"))))
    print(ledger.get_balance("ACME", "1000").balance)   # Decimal('250.00')

Signed requests and signed answers (the `signing` extra): `LedgerClient(url, signing_key="erp.key",
signing_certificate="erp.pem", service_certificate="ledger-service.pem")`; the zeep plugins themselves
are in `ledger_client.signing`.
"""
from .client import LedgerClient
from .errors import (
    AccountClosed,
    AccountExists,
    AccountNotEmpty,
    AccountNotFound,
    AlreadyReversed,
    AnswerNotVerified,
    AuthenticationFailed,
    BatchTooLarge,
    BookExists,
    BookNotFound,
    CurrencyMismatch,
    EntryNotFound,
    InsufficientBalance,
    InternalError,
    InvalidAmount,
    LedgerError,
    MalformedRequest,
    NotAuthorized,
    NotPending,
    NotReversible,
    PendingExpired,
    PeriodClosed,
    RateLimited,
    ReferenceConflict,
    SchemaValidation,
    TooFewLines,
    TooManyLines,
    TransportError,
    Unavailable,
    Unbalanced,
    UnknownCurrency,
)
from .models import (
    Account, AccountPage, AccountStatus, AccountType, Balance, Book, BreakReason, CamtStatement, CurrencyTotal, Entry,
    EntryAudit, EntryInput, EntryPage, EntryResult, EntryStatus, JournalBreak, JournalHead, JournalVerification, Line, LineInput,
    Side, Statement, StatementLine, TrialBalance, TrialBalanceRow,
)
from .retries import RetryPolicy

__all__ = [
    "LedgerClient", "RetryPolicy",
    "Account", "AccountPage", "AccountStatus", "AccountType", "Balance", "Book", "BreakReason", "CamtStatement",
    "CurrencyTotal",
    "Entry", "EntryAudit", "EntryInput", "EntryPage", "EntryResult", "EntryStatus", "JournalBreak", "JournalHead",
    "JournalVerification", "Line", "LineInput", "Side", "Statement", "StatementLine", "TrialBalance",
    "TrialBalanceRow",
    "AccountClosed",
    "AccountExists",
    "AccountNotEmpty",
    "AccountNotFound",
    "AlreadyReversed",
    "AnswerNotVerified",
    "AuthenticationFailed",
    "BatchTooLarge",
    "BookExists",
    "BookNotFound",
    "CurrencyMismatch",
    "EntryNotFound",
    "InsufficientBalance",
    "InternalError",
    "InvalidAmount",
    "LedgerError",
    "MalformedRequest",
    "NotAuthorized",
    "NotPending",
    "NotReversible",
    "PendingExpired",
    "PeriodClosed",
    "RateLimited",
    "ReferenceConflict",
    "SchemaValidation",
    "TooFewLines",
    "TooManyLines",
    "TransportError",
    "Unavailable",
    "Unbalanced",
    "UnknownCurrency",
]
