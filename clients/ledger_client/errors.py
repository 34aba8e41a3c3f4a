"""What a call can fail with: a `LedgerError` (the service answered with its typed fault), one subclass
per fault code of the contract; a `TransportError` (no answer from the service at all); or, for a client
given the service's certificate, `AnswerNotVerified` (an answer the service did not sign)."""
from __future__ import annotations

from zeep.exceptions import SignatureVerificationFailed


class LedgerError(Exception):
    """The service refused the call: its `tns:LedgerFault`, with the contract's `code`, a `message` for
    people, the offending input's path in `field` (`entry.lines[1].amount`), and for a PostEntries
    batch the failing entry's 0-based `index`. Branch on the class or on `code`, never on the message."""

    code = "LedgerError"

    def __init__(self, message: str, field: str | None = None, index: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.index = index

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, field={self.field!r}, index={self.index!r})"


class TransportError(Exception):
    """No answer from the service: the connection failed or timed out, or what came back was not a SOAP
    answer (a proxy's error page, an HTTP status the contract does not use)."""

    def __init__(self, message: str, *, status: int | None = None, sent: bool = True):
        super().__init__(message)
        self.status = status
        # False when the request surely never reached the server (the connection was refused or
        # could not be opened): retrying it is safe whatever the operation.
        self.sent = sent


class AnswerNotVerified(SignatureVerificationFailed):
    """An answer the service's certificate does not vouch for: unsigned, signed with another key, changed
    after it was signed, its signature not covering its Body and its Timestamp, or expired. Whatever it
    says is not to be believed, and the request may or may not have been carried out: look (a post's
    reference tells), or call again once the cause is found. The client never retries it by itself: it
    comes from a misconfiguration or from someone between the client and the service. A zeep
    `SignatureVerificationFailed` too, for plain zeep's handlers."""


# --- caller errors ---

class SchemaValidation(LedgerError):
    code = "SchemaValidation"


class MalformedRequest(LedgerError):
    code = "MalformedRequest"


class AuthenticationFailed(LedgerError):
    code = "AuthenticationFailed"


class NotAuthorized(LedgerError):
    code = "NotAuthorized"


class RateLimited(LedgerError):
    """The client spent its rate limit; `retry_after` is how many seconds the service asked it to wait."""

    code = "RateLimited"

    def __init__(self, message: str, field: str | None = None, index: int | None = None,
                 retry_after: int | None = None):
        super().__init__(message, field, index)
        self.retry_after = retry_after


class BookNotFound(LedgerError):
    code = "BookNotFound"


class BookExists(LedgerError):
    code = "BookExists"


class AccountNotFound(LedgerError):
    code = "AccountNotFound"


class AccountExists(LedgerError):
    code = "AccountExists"


class AccountClosed(LedgerError):
    code = "AccountClosed"


class AccountNotEmpty(LedgerError):
    code = "AccountNotEmpty"


class UnknownCurrency(LedgerError):
    code = "UnknownCurrency"


class CurrencyMismatch(LedgerError):
    code = "CurrencyMismatch"


class Unbalanced(LedgerError):
    code = "Unbalanced"


class InvalidAmount(LedgerError):
    code = "InvalidAmount"


class TooFewLines(LedgerError):
    code = "TooFewLines"


class TooManyLines(LedgerError):
    code = "TooManyLines"


class BatchTooLarge(LedgerError):
    code = "BatchTooLarge"


class ReferenceConflict(LedgerError):
    code = "ReferenceConflict"


class EntryNotFound(LedgerError):
    code = "EntryNotFound"


class PeriodClosed(LedgerError):
    code = "PeriodClosed"


class InsufficientBalance(LedgerError):
    code = "InsufficientBalance"


class NotPending(LedgerError):
    code = "NotPending"


class PendingExpired(LedgerError):
    code = "PendingExpired"


class AlreadyReversed(LedgerError):
    code = "AlreadyReversed"


class NotReversible(LedgerError):
    code = "NotReversible"


# --- server errors ---

class Unavailable(LedgerError):
    """The service's database did not answer (HTTP 503); the client retries these by itself."""

    code = "Unavailable"


class InternalError(LedgerError):
    """An unexpected failure inside the service; its message carries the request id to quote."""

    code = "InternalError"


ERRORS: dict[str, type[LedgerError]] = {cls.code: cls for cls in LedgerError.__subclasses__()}


def ledger_error(code: str, message: str, field: str | None = None, index: int | None = None,
                 retry_after: int | None = None) -> LedgerError:
    """The exception for a fault's code (the base class for a code this release does not know)."""
    cls = ERRORS.get(code)
    if cls is None:
        error = LedgerError(message, field, index)
        error.code = code
        return error
    if cls is RateLimited:
        return RateLimited(message, field, index, retry_after)
    return cls(message, field, index)
