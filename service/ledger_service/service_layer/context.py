"""One attempt at a use case: the transaction's stores, one clock reading for every row it writes, and
who is calling once that is established."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Protocol

from ..domain.access import Audit, Caller, ensure_allowed
from ..domain.accounts import Account, account_not_found
from ..domain.books import Book, book_not_found
from ..domain.errors import Location
from .ports import Stores


def utc_now() -> datetime:
    """The clock every use case reads, unless it is given another."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Credentials:
    """What a request's WS-Security UsernameToken carried."""

    username: str
    password: str
    password_type: str = "PasswordText"
    # PasswordDigest's nonce (None when absent or not Base64) and Created timestamp, as sent.
    nonce: bytes | None = None
    created: str | None = None

    def __repr__(self) -> str:
        return f"Credentials({self.username!r}, {self.password_type})"


@dataclass(frozen=True)
class ClientCertificate:
    """An X.509 certificate a request comes with, its DER encoding: one a client presented for mutual TLS,
    as the trusted proxy that verified it forwarded it (addresses.py), or the one whose key signed the
    request."""

    der: bytes

    @property
    def sha256(self) -> str:
        """The SHA-256 fingerprint of the DER encoding, in lower-case hex."""
        return hashlib.sha256(self.der).hexdigest()

    def __repr__(self) -> str:
        return f"ClientCertificate(sha256={self.sha256})"


@dataclass(frozen=True)
class RequestContext:
    credentials: Credentials | None
    request_id: str | None = None
    # Where the request came from (the peer, or the client a trusted proxy names): whose budget of
    # failed authentications it spends.
    client_address: str | None = None
    # The certificate a trusted proxy verified for mutual TLS, when it forwarded one: the TLS peer holds
    # its key, which says nothing of the message.
    client_certificate: ClientCertificate | None = None
    # The certificate whose key verifiably signed this message (its Body and Timestamp), when it was
    # signed and the signature verified.
    signed_by: ClientCertificate | None = None


def find_account(stores: Stores, book: Book, code: str, now: datetime, location: Location) -> Account:
    """The account `code` of `book` as it stands at `now`; AccountNotFound, at `location`, when there is none."""
    account = stores.accounts.account(book.id, code, now)
    if account is None:
        raise account_not_found(code, location)
    return account


class Authenticate(Protocol):
    """Who the request's credentials authenticate, in this transaction, asking about a book (None: none)
    and, with `account_code`, about that book's account of that code, read in the same query."""

    def __call__(self, stores: Stores, book_code: str | None, now: datetime,
                 account_code: str | None = None) -> Caller: ...


@dataclass
class Context:
    """What a use case works with in one transaction. `operation` names the contract operation it serves
    (what the caller must hold is REQUIRED_ROLE's, domain/access.py); None with no `authenticate`: an
    operator's command, which no client makes."""

    stores: Stores
    now: datetime
    clock: Callable[[], datetime]
    request_id: str | None
    operation: str | None = None
    authenticate: Authenticate | None = None
    client_id: int | None = None

    @property
    def audit(self) -> Audit:
        return Audit(self.client_id, self.request_id)

    def caller(self, book_code: str | None = None, account_code: str | None = None) -> Caller:
        """The authenticated caller, allowed what `operation` needs (on `book_code`, if it names one),
        with the book's account `account_code` when asked."""
        caller = self.authenticate(self.stores, book_code, self.now, account_code)
        self.client_id = caller.client.id
        ensure_allowed(self.operation, caller, book_code)
        return caller

    def book(self, code: str, *, for_update: bool = False) -> Book:
        """The book `code`, once the caller is allowed the operation on it."""
        if self.authenticate is not None:
            caller = self.caller(code)
            if not for_update:
                return caller.book
        book = self.stores.books.book(code, for_update=for_update)
        if book is None:
            raise book_not_found(code)
        return book

    def account(self, book_code: str, code: str, location: Location) -> Account:
        """The account `code` of the book `book_code` as it stands now, once the caller is allowed the
        operation on the book. A client's request reads it with the caller, in one query: a read of one
        account is then one round trip to the database."""
        if self.authenticate is None:
            return find_account(self.stores, self.book(book_code), code, self.now, location)
        account = self.caller(book_code, code).account
        if account is None:
            raise account_not_found(code, location)
        return account

    def read_clock(self) -> None:
        """Reads the clock again: a decision that depends on time (has a pending entry expired?) taken
        after locks are held is then taken as late as it can be."""
        self.now = self.clock()
