"""`LedgerClient`: one typed method per operation of the contract, over zeep, with the WSDL bundled."""
from __future__ import annotations

import re
import threading
import time
from datetime import date
from importlib import resources
from typing import Iterator, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import NewConnectionError
from zeep import Client, Settings
from zeep.exceptions import Fault, TransportError as ZeepTransportError, ValidationError
from zeep.transports import Transport
from zeep.wsse import Compose
from zeep.wsse.username import UsernameToken

from .errors import LedgerError, SchemaValidation, TransportError, ledger_error
from .models import (
    Account, AccountPage, AccountType, Balance, Book, CamtStatement, Entry, EntryAudit, EntryInput, EntryPage, EntryResult,
    JournalHead, JournalVerification, LineInput, Statement, StatementLine, TrialBalance,
)
from .retries import LOST_ANSWER, RetryPolicy

NAMESPACE = "urn:soap-ledger:v1"
BINDING = f"{{{NAMESPACE}}}Ledger"
ENDPOINT_PATHS = {11: "/v1/soap11", 12: "/v1/soap12"}
# A PostgreSQL WAL position, as the service writes it after a write commits and reads it back.
COMMIT_POSITION_HEADER, READ_AFTER_HEADER = "Ledger-Commit-Position", "Ledger-Read-After"
_POSITION = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")


class _Session(requests.Session):
    """requests' Session, whose own `verify`, when given, wins over REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE:
    requests lets those override it (psf/requests#3829), so that a client told to trust its service's CA
    would trust the environment's instead."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings


class _Transport(Transport):
    """zeep's HTTP transport, remembering each thread's last Retry-After (zeep keeps no headers of a
    fault it raises), and the latest position at which the service said this client's writes committed:
    every request asks to read from there on, so that a service reading from a standby shows the client
    its own writes (docs/operations.md#read-replicas)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last = threading.local()
        self.read_after: str | None = None

    def post(self, address, message, headers):
        self.last.retry_after = None
        self.last.status = None
        if self.read_after is not None:
            headers = {**headers, READ_AFTER_HEADER: self.read_after}
        response = super().post(address, message, headers)
        self.last.status = response.status_code
        retry_after = response.headers.get("Retry-After", "")
        self.last.retry_after = int(retry_after) if retry_after.isdigit() else None
        committed = response.headers.get(COMMIT_POSITION_HEADER, "")
        if _POSITION.fullmatch(committed) and (self.read_after is None
                                              or _position(committed) > _position(self.read_after)):
            self.read_after = committed
        return response


def _position(position: str) -> int:
    high, low = position.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def endpoint(url: str, soap_version: int) -> str:
    """The SOAP endpoint for `url`: the service's base URL (`https://ledger.example`) or an endpoint
    itself (`…/v1/soap11`, a `?wsdl` query dropped)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith(tuple(ENDPOINT_PATHS.values())):
        path += ENDPOINT_PATHS[soap_version]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _transport_error(error: requests.RequestException) -> TransportError:
    never_sent = isinstance(error, requests.ConnectTimeout) or isinstance(
        getattr(error.args[0] if error.args else None, "reason", None), NewConnectionError)
    return TransportError(f"{type(error).__name__}: {error}", sent=not never_sent)


def _security(username: str | None, password: str | None, digest: bool, signing_key, signing_certificate,
              signing_key_password: str | None, service_certificate) -> Compose | None:
    """The WS-Security of every request and answer: a UsernameToken, a signature, an answer's signature
    checked, each where asked for."""
    if (username is None) != (password is None):
        raise ValueError("a username needs its password, and a password its username")
    if (signing_key is None) != (signing_certificate is None):
        raise ValueError("signing needs both signing_key and signing_certificate")
    plugins = [UsernameToken(username, password, use_digest=digest)] if username is not None else []
    if signing_key is not None or service_certificate is not None:
        from . import signing  # python-xmlsec, the `signing` extra, imported only by those who sign

        if signing_key is not None:
            plugins.append(signing.RequestSignature(signing_key, signing_certificate, key_password=signing_key_password))
        if service_certificate is not None:
            plugins.append(signing.AnswerVerification(service_certificate))
    return Compose(plugins) if plugins else None


class LedgerClient:
    """A client of one soap-ledger service as one client, identified by any of a WS-Security
    UsernameToken, an X.509 signature on every request, and a TLS client certificate.

    `url` is the service's base URL or one of its endpoints; `username` and `password` make a
    UsernameToken, `digest` sending PasswordDigest instead of PasswordText; `soap_version` is 11 or 12;
    `timeout` bounds each HTTP request in seconds; `verify` is requests' TLS verification (True, False or
    a CA bundle's path); `retry` says when a failed call is tried again (see `RetryPolicy`).
    `signing_key` and `signing_certificate` (PEM files; `signing_key_password` for an encrypted key) sign
    every request (`ledger_client.signing.RequestSignature`); `service_certificate` (PEM) checks every
    answer's signature with it, raising `AnswerNotVerified` for one it does not vouch for
    (`ledger_client.signing.AnswerVerification`): both need the `signing` extra. `client_certificate` is
    requests' `cert`, a (certificate, key) pair of PEM files or one file holding both, presented for
    mutual TLS. One client per thread.
    """

    def __init__(self, url: str, username: str | None = None, password: str | None = None, digest: bool = False,
                 soap_version: int = 11, timeout: float = 30.0, verify: bool | str = True,
                 retry: RetryPolicy | None = None, *, signing_key: str | None = None,
                 signing_certificate: str | None = None, signing_key_password: str | None = None,
                 service_certificate: str | None = None,
                 client_certificate: tuple[str, str] | str | None = None):
        if soap_version not in ENDPOINT_PATHS:
            raise ValueError(f"soap_version is 11 or 12, not {soap_version!r}")
        if username is None and signing_key is None and client_certificate is None:
            raise ValueError("LedgerClient needs a username and password, a signing_key and signing_certificate, "
                             "or a client_certificate")
        security = _security(username, password, digest, signing_key, signing_certificate, signing_key_password,
                             service_certificate)
        self.endpoint = endpoint(url, soap_version)
        self.retry = retry or RetryPolicy()
        session = _Session()
        session.verify = verify
        session.cert = client_certificate
        self._transport = _Transport(session=session, timeout=timeout, operation_timeout=timeout)
        wsdl = resources.files("ledger_client") / "wsdl" / f"soap{soap_version}.wsdl"
        with resources.as_file(wsdl) as path:
            zeep = Client(str(path), wsse=security, transport=self._transport,
                          settings=Settings(strict=True, xml_huge_tree=False))
        self._service = zeep.create_service(BINDING, self.endpoint)

    def close(self) -> None:
        self._transport.session.close()

    def __enter__(self) -> "LedgerClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _call(self, operation: str, *arguments):
        attempt = 1
        while True:
            try:
                return getattr(self._service, operation)(*arguments)
            except Fault as fault:
                error = self._ledger_error(fault)
            except ZeepTransportError as failure:
                error = TransportError(failure.message, status=failure.status_code)
            except requests.RequestException as failure:
                error = _transport_error(failure)
            except ValidationError as invalid:
                raise SchemaValidation(f"refused before sending: {invalid}") from None
            attempt += 1
            wait = self.retry.wait_before(attempt, error, operation)
            if wait is None:
                raise error
            time.sleep(wait)

    def _ledger_error(self, fault: Fault) -> LedgerError | TransportError:
        detail = fault.detail.find(f"{{{NAMESPACE}}}LedgerFault") if fault.detail is not None else None
        if detail is None:
            return TransportError(f"a SOAP fault the contract does not know: {fault.message}")
        text = {child.tag.split("}")[-1]: child.text for child in detail}
        status = getattr(self._transport.last, "status", None)
        if text.get("code") == "Unavailable" and status == LOST_ANSWER:
            # The proxy's: the service took the request and its answer was lost, so it may have been done.
            return TransportError(text.get("message") or "the answer was lost", status=status)
        index = text.get("index")
        return ledger_error(text.get("code") or "", text.get("message") or "", text.get("field"),
                            int(index) if index is not None else None,
                            retry_after=getattr(self._transport.last, "retry_after", None))

    # --- books and periods ---

    def create_book(self, code: str, name: str) -> Book:
        return Book.from_soap(self._call("CreateBook", code, name))

    def close_period(self, book: str, through_date: date) -> Book:
        return Book.from_soap(self._call("ClosePeriod", book, through_date))

    # --- accounts ---

    def open_account(self, book: str, code: str, name: str, type: AccountType, currency: str,
                     parent_code: Optional[str] = None, no_negative_balance: bool = False) -> Account:
        return Account.from_soap(self._call("OpenAccount", book, {
            "code": code, "name": name, "type": AccountType(type).value, "currency": currency,
            "parentCode": parent_code, "noNegativeBalance": no_negative_balance}))

    def get_account(self, book: str, code: str) -> Account:
        return Account.from_soap(self._call("GetAccount", book, code))

    def list_accounts(self, book: str, type: Optional[AccountType] = None, code_prefix: Optional[str] = None,
                      page_size: Optional[int] = None, page_token: Optional[str] = None) -> AccountPage:
        return AccountPage.from_soap(self._call("ListAccounts", book, AccountType(type).value if type else None,
                                                code_prefix, page_size, page_token))

    def iter_accounts(self, book: str, type: Optional[AccountType] = None, code_prefix: Optional[str] = None,
                      page_size: Optional[int] = None) -> Iterator[Account]:
        """Every account of the book (of the type, under the prefix), in code order, page by page."""
        token = None
        while True:
            page = self.list_accounts(book, type, code_prefix, page_size, token)
            yield from page.accounts
            token = page.next_page_token
            if token is None:
                return

    def close_account(self, book: str, code: str) -> Account:
        return Account.from_soap(self._call("CloseAccount", book, code))

    # --- entries ---

    def post_entry(self, book: str, entry: EntryInput) -> Entry:
        return Entry.from_soap(self._call("PostEntry", book, entry.to_soap()))

    def post_entries(self, book: str, entries: Sequence[EntryInput], atomic: bool = True) -> list[EntryResult]:
        """Up to 1000 entries in one request. Atomic: all post, or the first failure is raised (its
        `index` names the entry) and none does. Not atomic: each entry's result, in order."""
        results = self._call("PostEntries", book, {"entry": [entry.to_soap() for entry in entries]}, atomic)
        return [EntryResult.from_soap(result) for result in results or []]

    def commit_pending(self, book: str, reference: str, lines: Optional[Sequence[LineInput]] = None) -> Entry:
        """Posts what the pending entry reserved; with `lines`, only those amounts (on the entry's own
        accounts and sides, each at most what it holds there, balanced), releasing the rest."""
        wrapped = None if lines is None else {"line": [line.to_soap() for line in lines]}
        return Entry.from_soap(self._call("CommitPending", book, reference, wrapped))

    def void_pending(self, book: str, reference: str, reason: Optional[str] = None) -> Entry:
        return Entry.from_soap(self._call("VoidPending", book, reference, reason))

    def reverse_entry(self, book: str, reference: str, reversal_reference: str,
                      effective_date: Optional[date] = None, reason: Optional[str] = None) -> Entry:
        return Entry.from_soap(self._call("ReverseEntry", book, reference, reversal_reference, effective_date,
                                          reason))

    def get_entry(self, book: str, reference: str) -> Entry:
        return Entry.from_soap(self._call("GetEntry", book, reference))

    def list_entries(self, book: str, from_date: date, to_date: date, account: Optional[str] = None,
                     metadata_key: Optional[str] = None, metadata_value: Optional[str] = None,
                     page_size: Optional[int] = None, page_token: Optional[str] = None) -> EntryPage:
        """One page of the book's entries effective from `from_date` to `to_date`, in journal order, optionally
        only those on `account` or carrying `metadata_key` (with `metadata_value`). A page looks through a
        bounded stretch of the journal, so it may hold fewer entries than `page_size`, or none, and still
        have a next page: `iter_entries` reads them all."""
        return EntryPage.from_soap(self._call("ListEntries", book, from_date, to_date, account, metadata_key,
                                              metadata_value, page_size, page_token))

    def iter_entries(self, book: str, from_date: date, to_date: date, account: Optional[str] = None,
                     metadata_key: Optional[str] = None, metadata_value: Optional[str] = None,
                     page_size: Optional[int] = None) -> Iterator[Entry]:
        """Every entry ListEntries finds, page by page, in journal order."""
        token = None
        while True:
            page = self.list_entries(book, from_date, to_date, account, metadata_key, metadata_value, page_size,
                                     token)
            yield from page.entries
            token = page.next_page_token
            if token is None:
                return

    def get_entry_audit(self, book: str, reference: str) -> EntryAudit:
        return EntryAudit.from_soap(self._call("GetEntryAudit", book, reference))

    # --- reports ---

    def get_balance(self, book: str, account: str, as_of: Optional[date] = None) -> Balance:
        return Balance.from_soap(self._call("GetBalance", book, account, as_of))

    def get_statement(self, book: str, account: str, from_date: date, to_date: date,
                      page_size: Optional[int] = None, page_token: Optional[str] = None) -> Statement:
        return Statement.from_soap(self._call("GetStatement", book, account, from_date, to_date, page_size,
                                              page_token))

    def statement_pages(self, book: str, account: str, from_date: date, to_date: date,
                        page_size: Optional[int] = None) -> Iterator[Statement]:
        """The statement's pages, each fetched as the one before it is used up."""
        token = None
        while True:
            page = self.get_statement(book, account, from_date, to_date, page_size, token)
            yield page
            token = page.next_page_token
            if token is None:
                return

    def iter_statement(self, book: str, account: str, from_date: date, to_date: date,
                       page_size: Optional[int] = None) -> Iterator[StatementLine]:
        """Every line of the statement, page by page, each with its running balance."""
        for page in self.statement_pages(book, account, from_date, to_date, page_size):
            yield from page.lines

    def get_camt_statement(self, book: str, account: str, from_date: date, to_date: date) -> CamtStatement:
        """The whole period in one camt.053.001.08 document, not paged (at most 10,000 lines: TooManyLines for
        more; ask for shorter periods)."""
        return CamtStatement.from_soap(self._call("GetCamtStatement", book, account, from_date, to_date))

    def get_trial_balance(self, book: str, as_of: Optional[date] = None) -> TrialBalance:
        return TrialBalance.from_soap(self._call("GetTrialBalance", book, as_of))

    # --- the journal ---

    def get_journal_head(self, book: str) -> JournalHead:
        return JournalHead.from_soap(self._call("GetJournalHead", book))

    def verify_journal(self, book: str, from_sequence: Optional[int] = None,
                       to_sequence: Optional[int] = None) -> JournalVerification:
        """The service recomputes the chain from `from_sequence` (1) to `to_sequence` (the head), at most
        100,000 records a call: `to_sequence` of the answer says where it stopped."""
        return JournalVerification.from_soap(self._call("VerifyJournal", book, from_sequence, to_sequence))
