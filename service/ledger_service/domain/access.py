"""Who may do what: the roles a client holds on a book, the role each operation needs, and the audit
of who made a write."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Mapping

from .accounts import Account
from .books import Book, book_not_found
from .errors import FaultCode, LedgerError
from .rate_limits import RateLimit


class Role(IntEnum):
    """What a client may do in one book; each role includes the ones below it."""

    reader = 1
    poster = 2
    admin = 3


class SystemRole(Enum):
    """Not a role on a book but what a client is (`clients add --system-admin`): one that manages books."""

    system_admin = "system administrator"


# The role each operation of the contract needs on the book it names (docs/contract.md#security): the
# use cases authorize by it, and /docs lists it.
REQUIRED_ROLE: Mapping[str, Role | SystemRole] = MappingProxyType({
    "CreateBook": SystemRole.system_admin,
    "OpenAccount": Role.admin,
    "GetAccount": Role.reader,
    "ListAccounts": Role.reader,
    "CloseAccount": Role.admin,
    "PostEntry": Role.poster,
    "PostEntries": Role.poster,
    "CommitPending": Role.poster,
    "VoidPending": Role.poster,
    "ReverseEntry": Role.poster,
    "GetEntry": Role.reader,
    "GetEntryAudit": Role.reader,
    "GetBalance": Role.reader,
    "GetStatement": Role.reader,
    "GetTrialBalance": Role.reader,
    "ClosePeriod": Role.admin,
    "ListEntries": Role.reader,
    "GetJournalHead": Role.reader,
    "VerifyJournal": Role.reader,
    "GetCamtStatement": Role.reader,
})


def role_label(required: Role | SystemRole) -> str:
    """How the contract's documents name what an operation needs: "reader", "poster", "admin" or
    "system administrator"."""
    return required.value if isinstance(required, SystemRole) else required.name


@dataclass(frozen=True)
class Audit:
    """Who made a write: every row a request adds records the client and the request."""

    client_id: int | None
    request_id: str | None


@dataclass(frozen=True)
class RegisteredCertificate:
    """The X.509 certificate registered to a client (`clients add --certificate`): the SHA-256 fingerprint
    of its DER encoding (lower-case hex) that names it, whom it names and who issued it (RFC 4514
    distinguished names), its serial number, and when it is valid."""

    sha256: str
    subject: str
    issuer: str
    serial_number: int
    not_before: datetime
    not_after: datetime

    def valid_at(self, moment: datetime) -> bool:
        return self.not_before <= moment <= self.not_after


@dataclass(frozen=True)
class Client:
    """A client of the service as it is registered: its password only as a hash (None: it has no
    password, and authenticates with its certificate only), its certificate, and whether every request
    of it must be signed with that certificate's key."""

    id: int
    name: str
    password_hash: str | None
    system_admin: bool
    disabled: bool
    rate_limit: RateLimit | None = None
    certificate: RegisteredCertificate | None = None
    require_signature: bool = False


@dataclass(frozen=True)
class Caller:
    """A client as one request sees it: who, the book it asked about (None: no such book), and its role
    there (None: no grant); and the account of that book it asked about, when it asked for one with
    itself (None: it did not, or the book holds no such account)."""

    client: Client
    role: Role | None
    book: Book | None
    account: Account | None = None


def ensure_allowed(operation: str, caller: Caller, book_code: str | None = None) -> None:
    """Refuses `caller` unless it holds what `operation` needs (REQUIRED_ROLE) on the book `book_code`.
    A caller without a grant learns nothing about the book, in the same words whether it exists or
    not, except a system administrator, who manages books and may learn that one does not exist."""
    required = REQUIRED_ROLE[operation]
    if isinstance(required, SystemRole):
        if not caller.client.system_admin:
            raise LedgerError(FaultCode.NotAuthorized, "only a system administrator can create books")
        return
    if caller.role is None and caller.client.system_admin and caller.book is None:
        raise book_not_found(book_code)
    if caller.role is None or caller.role < required:
        raise LedgerError(FaultCode.NotAuthorized,
                          f"client {caller.client.name} needs the {required.name} role on book {book_code}", ("book",))
