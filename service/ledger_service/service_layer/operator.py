"""The operator's use cases behind the `ledger-service` command: books, clients, and bulk loads of
accounts and entries (`import`), each step in one transaction. No client makes them, so no grant is
checked; every write records the operator's request id."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Callable, ContextManager

from ..domain.access import Audit, Client, RegisteredCertificate
from ..domain.accounts import AccountSpec
from ..domain.books import Book
from ..domain.entries import EntryInput
from ..domain.journal import JournalHead
from ..domain.reports import PeriodStatement
from ..domain.journal_chain import export_header, export_line
from ..domain.errors import FaultCode, LedgerError
from ..domain.limits import MAX_BATCH, MAX_CLIENT_NAME, MAX_PASSWORD
from ..domain.rate_limits import RateLimit
from .accounts import open_in_book
from .admin_input import AdminError, Grant
from .books import add_book
from .context import Context, utc_now
from .entries import post_batch
from .reports import period_statement
from .journal import seal_queued, walk
from .ports import ImportFile, NewCertificate, Passwords, SecretBox, Stores, UnitOfWork

ACCOUNTS_PER_CHUNK = 500
ENTRIES_PER_CHUNK = MAX_BATCH
# Chunks between two refreshes of the database's statistics (EntryStore.refresh_statistics).
CHUNKS_PER_STATISTICS = 10


@dataclass(frozen=True)
class ClientSummary:
    name: str
    system_admin: bool
    disabled: bool
    grants: tuple[Grant, ...]
    rate_limit: RateLimit | None = None
    certificate: RegisteredCertificate | None = None
    require_signature: bool = False


# --- books and clients ---

def create_book(database: UnitOfWork, code: str, name: str) -> Book:
    return database.run(lambda stores: add_book(stores, code, name, utc_now(), Audit(None, None)), write=True)


def _grant(stores: Stores, client_id: int, grant: Grant) -> None:
    book = stores.books.book(grant.book)
    if book is None:
        raise AdminError(f"book {grant.book} does not exist")
    stores.clients.grant(client_id, book.id, grant.role)


def add_client(database: UnitOfWork, name: str, password: str | None, system_admin: bool, grants: list[Grant], *,
               passwords: Passwords, secret_box: SecretBox | None = None, rate_limit: RateLimit | None = None,
               certificate: NewCertificate | None = None, require_signature: bool = False) -> None:
    """Adds a client; with a secret box, its password is also kept encrypted, for PasswordDigest. A
    client with a certificate may have no password (None)."""
    if not name or len(name) > MAX_CLIENT_NAME or not name.isprintable() or " " in name:
        raise AdminError(f"a client name is 1 to {MAX_CLIENT_NAME} printable characters without spaces")
    if password is None and certificate is None:
        raise AdminError("a client without a password needs a certificate")
    if password is not None and (not password or len(password) > MAX_PASSWORD):
        raise AdminError(f"the password is 1 to {MAX_PASSWORD} characters")
    if require_signature and certificate is None:
        raise AdminError("--require-signature needs the client's --certificate")
    password_hash = passwords.hash(password) if password is not None else None

    def work(stores: Stores) -> None:
        if stores.clients.client(name) is not None:
            raise AdminError(f"client {name} already exists")
        now = utc_now()
        client_id = stores.clients.add_client(name, password_hash, system_admin, now)
        if certificate is not None:
            _register(stores, client_id, certificate, now)
            stores.clients.set_require_signature(client_id, require_signature)
        if secret_box is not None and password is not None:
            stores.clients.set_secret_ciphertext(client_id, secret_box.encrypt(password))
        if rate_limit is not None:
            stores.clients.set_rate_limit(client_id, rate_limit)
        for grant in grants:
            _grant(stores, client_id, grant)

    database.run(work, write=True)


def _register(stores: Stores, client_id: int, certificate: NewCertificate, now) -> None:
    """Registers `certificate` to the client, in place of any it had, unless it has expired or another
    client's certificate is found by the same fingerprint, issuer and serial number, or key identifier."""
    registered = certificate.certificate
    if registered.not_after < now:
        raise AdminError(f"the certificate for {registered.subject} expired on {registered.not_after:%Y-%m-%d %H:%M:%S} "
                         "UTC: register one that is valid")
    for holder_id, holder, what in stores.clients.certificate_holders(certificate):
        if holder_id != client_id:
            raise AdminError(f"client {holder} is registered with {what}: a certificate names one client only")
    stores.clients.set_certificate(client_id, certificate, now)


def register_certificate(database: UnitOfWork, name: str, certificate: NewCertificate | None) -> bool:
    """Registers `certificate` to the client in place of any it had, at once for every worker; None
    removes it, unless the client requires signed requests. Whether the client still has a password."""
    def work(stores: Stores) -> bool:
        client = _existing_client(stores, name)
        if certificate is None:
            if client.require_signature:
                raise AdminError(f"client {name} requires signed requests: "
                                 f"`clients require-signature {name} --off` first")
            stores.clients.set_certificate(client.id, None, utc_now())
        else:
            _register(stores, client.id, certificate, utc_now())
        return client.password_hash is not None

    return database.run(work, write=True)


def require_signature(database: UnitOfWork, name: str, required: bool) -> None:
    """Whether every request of the client must be signed with its registered certificate's key."""
    def work(stores: Stores) -> None:
        client = _existing_client(stores, name)
        if required and client.certificate is None:
            raise AdminError(f"client {name} has no certificate: `clients certificate {name} FILE.pem` first")
        stores.clients.set_require_signature(client.id, required)

    database.run(work, write=True)


def rekey_secrets(database: UnitOfWork, secret_box: SecretBox) -> int:
    """Encrypts every stored client secret again under the first key; how many there were. Changes
    nothing when a secret is found that no key decrypts."""
    def work(stores: Stores) -> int:
        stored = stores.clients.secret_ciphertexts()
        unreadable = []
        for client_id, name, ciphertext in stored:
            rekeyed = secret_box.rekey(ciphertext)
            if rekeyed is None:
                unreadable.append(name)
            else:
                stores.clients.set_secret_ciphertext(client_id, rekeyed)
        if unreadable:
            raise AdminError(f"no key in LEDGER_SECRET_KEY decrypts the secret of {', '.join(unreadable)}: "
                             "put back the key they were encrypted under; nothing was changed")
        return len(stored)

    return database.run(work, write=True)


def _existing_client(stores: Stores, name: str) -> Client:
    client = stores.clients.client(name)
    if client is None:
        raise AdminError(f"there is no client {name}")
    return client


def _existing_client_id(stores: Stores, name: str) -> int:
    return _existing_client(stores, name).id


def grant(database: UnitOfWork, name: str, grant: Grant) -> None:
    database.run(lambda stores: _grant(stores, _existing_client_id(stores, name), grant), write=True)


def limit_client(database: UnitOfWork, name: str, rate_limit: RateLimit | None) -> None:
    """Sets (None: lifts) the client's rate limit, from a full bucket; every worker sees it at its next request."""
    database.run(lambda stores: stores.clients.set_rate_limit(_existing_client_id(stores, name), rate_limit),
                 write=True)


def disable_client(database: UnitOfWork, name: str) -> None:
    database.run(lambda stores: stores.clients.disable_client(_existing_client_id(stores, name)), write=True)


def list_clients(database: UnitOfWork) -> list[ClientSummary]:
    return [
        ClientSummary(client.name, client.system_admin, client.disabled,
                      tuple(Grant(book, role) for book, role in grants), client.rate_limit, client.certificate,
                      client.require_signature)
        for client, grants in database.run(lambda stores: stores.clients.clients(), write=False)
    ]


# --- bulk loads ---

@dataclass
class Report:
    """What a load did: of the accounts or entries in its `rows`, `done` loaded now, `unchanged` found
    loaded already, and each refused one's line number with the reason."""

    rows: int = 0
    done: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def _refusal(line: int, error: LedgerError, what: str = "") -> tuple[int, str]:
    """A refused item: its line (an entry's refusal located in its Nth line names the Nth row after the
    entry's first) and why, with where in it."""
    location = error.location
    if location[:2] == ("entry", "lines") and len(location) > 2:
        line, location = line + location[2], location[3:]
    where = f" ({'.'.join(map(str, location))})" if location else ""
    return line, f"{what}{error.code.value}: {error.message}{where}"


def _in_book(database: UnitOfWork, book: str, work: Callable[[Context, Book], object], request_id: str | None, *,
             write: bool = True):
    """`work` in one transaction as an operator, on the book `book`."""
    def attempt(stores: Stores):
        context = Context(stores, utc_now(), utc_now, request_id)
        return work(context, context.book(book))

    return database.run(attempt, write=write)


def _parents_first(specs: list[tuple[int, AccountSpec]]) -> list[tuple[int, AccountSpec]]:
    """The accounts with every parent the file opens before its children, otherwise in file order."""
    in_file = {spec.code for _, spec in specs}
    placed: set[str] = set()
    ordered, waiting = [], list(specs)
    while waiting:
        ready = [(line, spec) for line, spec in waiting
                 if spec.parent_code is None or spec.parent_code not in in_file or spec.parent_code in placed]
        if not ready:  # a cycle of parents: let them fail, in file order
            ordered += waiting
            break
        ordered += ready
        placed |= {spec.code for _, spec in ready}
        waiting = [item for item in waiting if item not in ready]
    return ordered


def _open_accounts(context: Context, book: Book, specs: list[AccountSpec]) -> list[bool | LedgerError]:
    """Opens each account in order: True, opened now; False, found open as the spec says (a load run again
    changes nothing); or why not (one open otherwise is AccountExists)."""
    outcomes: list[bool | LedgerError] = []
    for spec in specs:
        try:
            account, opened = open_in_book(context.stores, book, spec, context.now, context.audit)
            if not opened and not account.is_opened_as(spec):
                raise LedgerError(FaultCode.AccountExists, f"account {spec.code} already exists, not as this row says",
                                  ("code",))
            outcomes.append(opened)
        except LedgerError as error:
            outcomes.append(error)
    return outcomes


def _refresh_statistics_now_and_then(database: UnitOfWork, chunk_number: int) -> None:
    """After a load's first chunk (numbered from 0), and every CHUNKS_PER_STATISTICS chunks after it."""
    if chunk_number % CHUNKS_PER_STATISTICS == 0:
        database.run(lambda stores: stores.entries.refresh_statistics(), write=True)


def import_accounts(database: UnitOfWork, book: str, file: ImportFile,
                    progress: Callable[[int], None] = lambda rows: None) -> Report:
    """Loads a chart of accounts, a parent before its children, in chunks of one transaction each."""
    report, specs = Report(), []
    for line, spec in file.accounts():
        report.rows += 1
        if isinstance(spec, LedgerError):
            report.refused.append(_refusal(line, spec))
            progress(1)
        else:
            specs.append((line, spec))
    request_id = f"import-{uuid.uuid4().hex[:12]}"
    ordered = _parents_first(specs)
    for number, start in enumerate(range(0, len(ordered), ACCOUNTS_PER_CHUNK)):
        chunk = ordered[start:start + ACCOUNTS_PER_CHUNK]
        outcomes = _in_book(database, book, lambda context, found: _open_accounts(
            context, found, [spec for _, spec in chunk]), request_id)
        _refresh_statistics_now_and_then(database, number)
        for (line, spec), outcome in zip(chunk, outcomes):
            if isinstance(outcome, LedgerError):
                report.refused.append(_refusal(line, outcome, f"account {spec.code}: "))
            elif outcome:
                report.done += 1
            else:
                report.unchanged += 1
        progress(len(chunk))
    report.refused.sort()
    return report


def import_entries(database: UnitOfWork, book: str, file: ImportFile,
                   progress: Callable[[int], None] = lambda rows: None) -> Report:
    """Posts the entries as PostEntries does, not atomic, a chunk to a transaction: each entry posted,
    found already posted under its reference (a load run again posts nothing twice), or refused."""
    report = Report()
    request_id = f"import-{uuid.uuid4().hex[:12]}"
    chunk: list[tuple[int, int, EntryInput]] = []
    chunks = 0

    def load() -> None:
        nonlocal chunks
        entries = [entry for _, _, entry in chunk]
        outcomes = _in_book(database, book, lambda context, found: post_batch(context, found, entries, atomic=False),
                            request_id)
        _refresh_statistics_now_and_then(database, chunks)
        chunks += 1
        for (line, rows, entry), outcome in zip(chunk, outcomes):
            if outcome.error is not None:
                report.refused.append(_refusal(line, outcome.error, f"entry {entry.reference}: "))
            elif outcome.new:
                report.done += 1
            else:
                report.unchanged += 1
        progress(sum(rows for _, rows, _ in chunk))
        chunk.clear()

    for line, rows, reference, entry in file.entries():
        report.rows += 1
        if isinstance(entry, LedgerError):
            report.refused.append(_refusal(line, entry, f"entry {reference}: " if reference else ""))
            progress(rows)
            continue
        chunk.append((line, rows, entry))
        if len(chunk) == ENTRIES_PER_CHUNK:
            load()
    if chunk:
        load()
    report.refused.sort()
    return report


# --- statements ---

def export_camt053(database: UnitOfWork, book: str, account: str, from_date: date, to_date: date) -> PeriodStatement:
    """What GetCamtStatement reports of the account and period, for `export camt053`."""
    return _in_book(database, book, lambda context, found: period_statement(context, found, account, from_date, to_date),
                    None, write=False)


# --- the journal ---

def export_journal(database: UnitOfWork, book_code: str, open_output: Callable[[], ContextManager[IO[str]]]) -> tuple[int, JournalHead]:
    """Writes a book's journal as an export file (docs/contract.md#journal-export) to what `open_output`
    opens, from one snapshot once what was committed is sealed: every record with its hash as stored and its content as the rows say now
    (`null` where they say nothing), and in their places the history rows no record records. An
    offline check of the file (`ledger-client verify-journal`) then finds what VerifyJournal finds.
    Returns how many lines of records it wrote and the head it wrote up to."""
    def work(stores: Stores) -> tuple[int, JournalHead]:
        book = stores.books.book(book_code)
        if book is None:
            raise AdminError(f"book {book_code} does not exist")
        sequence, hash, recorded_at = stores.journal.head(book.id)
        written = 0
        with open_output() as output:
            output.write(export_header(book.code))
            for walked in walk(stores, book, 1, sequence):
                content = walked.rows_say if walked.rows_say is not None else b"null"
                output.write(export_line(walked.sequence, walked.hash, content))
                written += 1
        return written, JournalHead(book.code, sequence, hash, recorded_at)

    seal_queued(database, book_code)
    return database.run(work, write=False)
