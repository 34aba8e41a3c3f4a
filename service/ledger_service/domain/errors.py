"""The fault codes of the contract, and the one exception that carries them."""
from __future__ import annotations

from enum import Enum

# Where in a request a refusal applies, as data: field names and list positions from the outside in,
# ("entry", "lines", 1, "amount") for the second line's amount. The SOAP layer writes it as the contract's
# field path (soap/faults.py); the importer reads the line of a file from it.
Location = tuple[str | int, ...]


class FaultCode(str, Enum):
    SchemaValidation = "SchemaValidation"
    MalformedRequest = "MalformedRequest"
    AuthenticationFailed = "AuthenticationFailed"
    NotAuthorized = "NotAuthorized"
    RateLimited = "RateLimited"
    BookNotFound = "BookNotFound"
    BookExists = "BookExists"
    AccountNotFound = "AccountNotFound"
    AccountExists = "AccountExists"
    AccountClosed = "AccountClosed"
    AccountNotEmpty = "AccountNotEmpty"
    UnknownCurrency = "UnknownCurrency"
    CurrencyMismatch = "CurrencyMismatch"
    Unbalanced = "Unbalanced"
    InvalidAmount = "InvalidAmount"
    TooFewLines = "TooFewLines"
    TooManyLines = "TooManyLines"
    BatchTooLarge = "BatchTooLarge"
    ReferenceConflict = "ReferenceConflict"
    EntryNotFound = "EntryNotFound"
    PeriodClosed = "PeriodClosed"
    InsufficientBalance = "InsufficientBalance"
    NotPending = "NotPending"
    PendingExpired = "PendingExpired"
    AlreadyReversed = "AlreadyReversed"
    NotReversible = "NotReversible"
    Unavailable = "Unavailable"
    InternalError = "InternalError"

    @property
    def is_server_error(self) -> bool:
        return self in (FaultCode.Unavailable, FaultCode.InternalError)

    def __str__(self) -> str:
        return self.value


class LedgerError(Exception):
    """A refusal the caller is told about: a contract fault code, a message, and where it applies."""

    def __init__(self, code: FaultCode, message: str, location: Location = (), index: int | None = None,
                 *, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location
        # The position of the failing entry in a batch.
        self.index = index
        # Whole seconds after which the same request may succeed (RateLimited: HTTP Retry-After).
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"LedgerError({self.code.value}, {self.message!r}, location={self.location!r})"

    def within(self, *outer: str | int) -> "LedgerError":
        """The same refusal, located inside `outer` (a field read inside an entry: ("entry", *location))."""
        self.location = (*outer, *self.location)
        return self
