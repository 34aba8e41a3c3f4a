"""Every fault code the v1 operations can raise, provoked over real HTTP and checked as it travels.

For each fault: the HTTP status (500, or 503 for Unavailable), an XML Content-Type (never an HTML
page), the SOAP fault code of each version (1.1 Client/Server, 1.2 Sender/Receiver, or what SOAP
itself names), and a detail holding exactly one child, the qualified tns:LedgerFault with code,
message, then the optional field and index, in that order. After every refused write the book is
exactly as it was, and after hostile input the service goes on serving.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import psycopg
import pytest
import requests
from lxml import etree
from sqlalchemy import text
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    CONTENT_TYPE,
    POSTGRES_URL,
    SOAP_ENV,
    TNS,
    WSSE_NS,
    cli,
    envelope,
    fault_detail,
    post_raw,
    start_server,
    unique,
)
from test_password_digest import digest_header

VERSIONS = ["11", "12"]
MEDIA_TYPE = {"11": "text/xml", "12": "application/soap+xml"}
CALLER_FAULT = {"11": "Client", "12": "Sender"}
SERVER_FAULT = {"11": "Server", "12": "Receiver"}
SERVER_CODES = {"Unavailable", "InternalError"}
LEDGER_FAULT_SHAPES = (["code", "message"], ["code", "message", "field"], ["code", "message", "index"],
                       ["code", "message", "field", "index"])
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NO_SUCH_BOOK = "NOSUCHBOOK"
ANY = object()


# --- reading a fault off the wire ---

@dataclass(frozen=True)
class WireFault:
    status: int
    soap_code: str
    code: str
    message: str
    field: str | None
    index: str | None
    request_id: str | None


def read_fault(response: requests.Response, version: str) -> WireFault:
    assert response.headers["Content-Type"].split(";")[0].strip() == MEDIA_TYPE[version], response.text[:500]
    soap = SOAP_ENV[version]
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{soap}}}Envelope"
    [body] = root.findall(f"{{{soap}}}Body")
    [fault] = list(body)
    assert fault.tag == f"{{{soap}}}Fault"
    if version == "11":
        qualified_code, reason = fault.findtext("faultcode"), fault.findtext("faultstring")
        detail = fault.find("detail")
    else:
        qualified_code = fault.findtext(f"{{{soap}}}Code/{{{soap}}}Value")
        reason, detail = fault.findtext(f"{{{soap}}}Reason/{{{soap}}}Text"), fault.find(f"{{{soap}}}Detail")
    prefix, _, soap_code = qualified_code.partition(":")
    # Client, Sender, VersionMismatch… are QNames of the envelope namespace, not bare words.
    assert fault.nsmap.get(prefix) == soap, qualified_code
    assert [child.tag for child in detail] == [f"{{{TNS}}}LedgerFault"]
    members = list(detail[0])
    assert all(etree.QName(member).namespace == TNS for member in members)
    names = [etree.QName(member).localname for member in members]
    assert names in LEDGER_FAULT_SHAPES, names
    values = {name: member.text for name, member in zip(names, members)}
    assert reason == values["message"]
    return WireFault(response.status_code, soap_code, values["code"], values["message"], values.get("field"),
                     values.get("index"), response.headers.get("X-Request-Id"))


def expect_fault(response: requests.Response, version: str, code: str, *, field=None, soap_code: str | None = None,
                 status: int = 500) -> WireFault:
    """The response is the LedgerFault `code`, with `field` (None: no field; ANY: not checked)."""
    seen = read_fault(response, version)
    expected_soap_code = soap_code or (SERVER_FAULT if code in SERVER_CODES else CALLER_FAULT)[version]
    assert (seen.code, seen.soap_code, seen.status) == (code, expected_soap_code, status), seen.message
    if field is not ANY:
        assert seen.field == field, seen.message
    # index belongs to PostEntries batches, whose faults test_batches.py reads.
    assert seen.index is None
    return seen


class RecordingTransport(Transport):
    """Keeps the last HTTP response, so a fault zeep raised can be checked as it travelled."""

    last_response: requests.Response | None = None

    def post(self, address, message, headers):
        self.last_response = super().post(address, message, headers)
        return self.last_response


@dataclass
class Wire:
    """One client on one binding, over zeep, as a generated client would call the service."""

    version: str
    client: Client
    transport: RecordingTransport

    @property
    def service(self):
        return self.client.service

    def fault(self, operation: str, *args, code: str, field=None) -> WireFault:
        with pytest.raises(Fault) as caught:
            getattr(self.service, operation)(*args)
        seen = expect_fault(self.transport.last_response, self.version, code, field=field)
        as_zeep_reads_it = {"code": seen.code, "message": seen.message, "field": seen.field}
        assert fault_detail(caught.value) == {name: value for name, value in as_zeep_reads_it.items() if value}
        return seen


def wire(server, username: str = ADMIN, password: str = ADMIN_PASSWORD, version: str = "11") -> Wire:
    transport = RecordingTransport(timeout=60, operation_timeout=60)
    client = Client(f"{server.endpoint(version)}?wsdl", wsse=UsernameToken(username, password), transport=transport,
                    settings=Settings(strict=True))
    return Wire(version, client, transport)


# --- building requests and reading state ---

def account_input(code: str, kind: str = "ASSET", currency: str = "USD", **extra) -> dict:
    return {"code": code, "name": code.title(), "type": kind, "currency": currency, **extra}


def entry_input(reference: str, lines, effective: str = "2026-01-15", **extra) -> dict:
    return {"reference": reference, "effectiveDate": effective, **extra,
            "lines": {"line": [{"account": a, "side": s, "amount": amount} for a, s, amount in lines]}}


def lines_xml(lines) -> str:
    return "".join(f"<l:line><l:account>{account}</l:account><l:side>{side}</l:side><l:amount>{amount}</l:amount>"
                   "</l:line>" for account, side, amount in lines)


def post_entry_xml(book: str, reference: str, lines, effective: str = "2026-01-15") -> str:
    return (f"<l:PostEntry><l:book>{book}</l:book><l:entry><l:reference>{reference}</l:reference>"
            f"<l:effectiveDate>{effective}</l:effectiveDate><l:lines>{lines_xml(lines)}</l:lines></l:entry>"
            "</l:PostEntry>")


def get_account_xml(book: str, code: str) -> str:
    return f"<l:GetAccount><l:book>{book}</l:book><l:code>{code}</l:code></l:GetAccount>"


def book_state(book) -> tuple:
    """What a refused write must leave alone: every account's status, and its posted and pending totals
    both as the running totals hold them and as the per-day totals add up."""
    service = book.service
    accounts = service.ListAccounts(book.code, None, None, None, None).accounts.account
    balances = [(a.code, a.status, b.postedDebits, b.postedCredits, b.pendingDebits, b.pendingCredits)
                for a in accounts for b in [book.balance(a.code)]]
    as_of_days = [(a.code, book.balance(a.code, date(2099, 12, 31)).balance) for a in accounts]
    return balances, as_of_days


@contextmanager
def leaves_no_trace(book, admin: Wire, reference: str):
    """The entry posted inside is refused: afterwards the book is as it was and has no entry `reference`."""
    before = book_state(book)
    yield
    assert book_state(book) == before
    admin.fault("GetEntry", book.code, reference, code="EntryNotFound", field="reference")


@pytest.fixture(scope="module")
def shared_book(server):
    """A book for tests that only read, or that must show they changed nothing."""
    return server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))


# --- SchemaValidation ---

SCHEMA_VIOLATIONS = [
    pytest.param("<l:GetAccount><l:book>{book}</l:book></l:GetAccount>", ANY, id="required-element-missing"),
    pytest.param(f'<l:GetAccount><l:book>{{book}}</l:book><l:code xsi:nil="true" xmlns:xsi="{XSI}"/></l:GetAccount>',
                 "code", id="required-element-nil"),
    pytest.param("<l:OpenAccount><l:book>{book}</l:book><l:account><l:code>c</l:code><l:name>C</l:name>"
                 "<l:type>CASH</l:type><l:currency>USD</l:currency></l:account></l:OpenAccount>",
                 "account.type", id="enumeration-value-unknown"),
    pytest.param("<l:OpenAccount><l:book>{book}</l:book><l:account><l:code>c</l:code><l:name>C</l:name>"
                 "<l:type>ASSET</l:type><l:currency>usd</l:currency></l:account></l:OpenAccount>",
                 "account.currency", id="currency-not-three-capitals"),
    pytest.param(post_entry_xml("{book}", "R1", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "abc")]),
                 "entry.lines[1].amount", id="amount-not-a-decimal"),
    pytest.param(post_entry_xml("{book}", "R1", [("cash", "DEBIT", "1"), ("sales", "CREDIT", "1"), ("x", "LEFT", "1")]),
                 "entry.lines[2].side", id="side-not-debit-or-credit"),
    pytest.param(post_entry_xml("{book}", "R1", [("cash", "DEBIT", "1"), ("sales", "CREDIT", "1")], "2026-02-30"),
                 "entry.effectiveDate", id="date-that-does-not-exist"),
    pytest.param(post_entry_xml("{book}", "R1", [("cash", "DEBIT", "1"), ("sales", "CREDIT", "1")], "10000-01-01"),
                 "entry.effectiveDate", id="date-after-year-9999"),
    pytest.param("<l:GetAccount><l:book>{book}</l:book><l:code>c</l:code><l:colour>red</l:colour></l:GetAccount>",
                 "colour", id="element-not-in-contract"),
    pytest.param("<l:ListAccounts><l:book>{book}</l:book><l:pageSize>0</l:pageSize></l:ListAccounts>",
                 "pageSize", id="page-size-zero"),
    pytest.param("<l:ListAccounts><l:book>{book}</l:book><l:pageSize>1001</l:pageSize></l:ListAccounts>",
                 "pageSize", id="page-size-over-limit"),
    pytest.param("<l:Frobnicate><l:book>{book}</l:book></l:Frobnicate>", None, id="operation-unknown"),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("body, field", SCHEMA_VIOLATIONS)
def test_input_outside_the_schema_is_refused_before_any_handler_runs(server, version, body, field):
    # The book does not exist and the caller is a system admin: a handler would have said BookNotFound.
    response = post_raw(server, envelope(version, body.format(book=NO_SUCH_BOOK)), version)
    expect_fault(response, version, "SchemaValidation", field=field)


@pytest.mark.parametrize("written", ["2026-01-15Z", "2026-01-15+02:00", "2026-01-15-11:00"])
def test_a_date_the_schema_allows_is_the_day_it_names(server, written):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    reference = unique("TZ")
    response = post_raw(server, envelope("11", post_entry_xml(book.code, reference, [("cash", "DEBIT", "1.00"),
                                                                                     ("sales", "CREDIT", "1.00")],
                                                              written)))
    assert response.status_code == 200, response.text
    assert book.service.GetEntry(book.code, reference).effectiveDate == date(2026, 1, 15)


def test_schema_rules_the_handlers_check_name_the_field(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    admin = wire(server)
    admin.fault("ClosePeriod", book.code, date.today() + timedelta(days=2), code="SchemaValidation",
                field="throughDate")
    admin.fault("GetStatement", book.code, "cash", date(2026, 3, 2), date(2026, 3, 1), None, None,
                code="SchemaValidation", field="toDate")
    issued = admin.service.ListAccounts(book.code, None, None, 1, None).nextPageToken
    # A token is bound to the query that made it, and a forged one is refused the same way.
    admin.fault("ListAccounts", book.code, "INCOME", None, 1, issued, code="SchemaValidation", field="pageToken")
    forged = issued[:-2] + ("BB" if issued.endswith("AA") else "AA")  # never the token itself
    admin.fault("ListAccounts", book.code, None, None, 1, forged, code="SchemaValidation",
                field="pageToken")


# --- MalformedRequest ---

def _with_doctype(version: str, doctype: str, book_text: str = NO_SUCH_BOOK) -> bytes:
    document = envelope(version, get_account_xml(book_text, "cash"))
    return document.replace(b"?>", f"?>{doctype}".encode(), 1)


BILLION_LAUGHS = "<!DOCTYPE env:Envelope [<!ENTITY lol0 'lol'>" + "".join(
    f"<!ENTITY lol{n} '{f'&lol{n - 1};' * 10}'>" for n in range(1, 10)) + "]>"

HOSTILE_BODIES = [
    pytest.param(lambda version: b"this is not XML", id="not-xml"),
    pytest.param(lambda version: b"", id="empty-body"),
    pytest.param(lambda version: envelope(version, get_account_xml(NO_SUCH_BOOK, "cash"))[:-30], id="truncated-xml"),
    pytest.param(lambda version: envelope(version, get_account_xml("MARK", "cash")).replace(b"MARK", b"B\xff\xfe"),
                 id="invalid-utf-8"),
    pytest.param(lambda version: _with_doctype(version, "<!DOCTYPE env:Envelope>"), id="doctype-alone"),
    pytest.param(lambda version: _with_doctype(version, BILLION_LAUGHS, "&lol9;"), id="billion-laughs"),
    pytest.param(lambda version: _with_doctype(
        version, "<!DOCTYPE env:Envelope [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>", "&xxe;"),
        id="external-entity-file"),
    pytest.param(lambda version: _with_doctype(version, "<!DOCTYPE env:Envelope SYSTEM 'file:///etc/passwd'>"),
                 id="external-dtd-file"),
    pytest.param(lambda version: envelope(version, "<l:x>" * 100 + "</l:x>" * 100), id="nesting-too-deep"),
    pytest.param(lambda version: envelope(version, "<l:x>" * 5000 + "</l:x>" * 5000), id="nesting-beyond-the-parser"),
    pytest.param(lambda version: f'<l:GetAccount xmlns:l="{TNS}"><l:book>B</l:book></l:GetAccount>'.encode(),
                 id="not-a-soap-envelope"),
    pytest.param(lambda version: envelope(version, "").replace(b"<env:Body></env:Body>", b""), id="body-missing"),
    pytest.param(lambda version: envelope(version, ""), id="body-empty"),
    pytest.param(lambda version: envelope(version, get_account_xml(NO_SUCH_BOOK, "a") * 2),
                 id="two-operations-in-body"),
]


@pytest.fixture(scope="module")
def secret_file_line() -> str:
    with open("/etc/passwd") as secrets:
        return secrets.readline().strip()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("build", HOSTILE_BODIES)
def test_broken_or_hostile_xml_gets_a_malformed_request_fault(server, shared_book, secret_file_line, version, build):
    response = post_raw(server, build(version), version)
    expect_fault(response, version, "MalformedRequest")
    # Nothing was expanded or read from disk: the fault is small and holds no file content.
    assert len(response.content) < 2000
    assert secret_file_line not in response.text
    assert wire(server, version=version).service.GetTrialBalance(shared_book.code).rows is not None


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "application/json", "text/html",
                                          "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_xml_is_refused(server, content_type):
    response = post_raw(server, envelope("11", get_account_xml(NO_SUCH_BOOK, "cash")), "11", content_type)
    fault = expect_fault(response, "11", "MalformedRequest")
    assert content_type.split(";")[0] in fault.message


@pytest.mark.parametrize("endpoint_version", VERSIONS)
def test_soap_requests_must_be_posted(server, endpoint_version):
    response = requests.get(server.endpoint(endpoint_version), timeout=60)
    expect_fault(response, endpoint_version, "MalformedRequest")


@pytest.mark.parametrize("endpoint_version, sent_version", [("11", "12"), ("12", "11")])
def test_an_envelope_of_the_other_soap_version_is_a_version_mismatch(server, endpoint_version, sent_version):
    response = post_raw(server, envelope(sent_version, get_account_xml(NO_SUCH_BOOK, "cash")), sent_version,
                        endpoint_version=endpoint_version)
    # Always SOAP 1.1: a 1.1 endpoint knows no other, and SOAP 1.2 (Appendix A) answers a 1.1 sender in 1.1.
    expect_fault(response, "11", "MalformedRequest", soap_code="VersionMismatch")


def _security_header(must_understand: str) -> str:
    return (f'<wsse:Security xmlns:wsse="{WSSE_NS}" env:mustUnderstand="{must_understand}"><wsse:UsernameToken>'
            f"<wsse:Username>{ADMIN}</wsse:Username><wsse:Password>{ADMIN_PASSWORD}</wsse:Password>"
            "</wsse:UsernameToken></wsse:Security>")


@pytest.mark.parametrize("version, must_understand", [("11", "1"), ("12", "1"), ("12", "true")])
def test_a_mandatory_header_the_service_does_not_know_is_refused(server, shared_book, version, must_understand):
    operation = f"<l:GetTrialBalance><l:book>{shared_book.code}</l:book></l:GetTrialBalance>"
    unknown = f'<t:Transaction xmlns:t="urn:example:tx" env:mustUnderstand="{must_understand}">42</t:Transaction>'
    refused = post_raw(server, envelope(version, operation, header_extra=unknown), version)
    expect_fault(refused, version, "MalformedRequest", soap_code="MustUnderstand")
    # wsse:Security is the one header this service understands, mandatory or not.
    accepted = post_raw(server, envelope(version, operation, username=None,
                                         header_extra=_security_header(must_understand)), version)
    assert accepted.status_code == 200, accepted.text


@pytest.fixture(scope="module")
def small_body_server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", workers=1, extra_env={"LEDGER_MAX_BODY_BYTES": "20000"})


def _padded_get_account(book: str, size: int) -> bytes:
    document = envelope("11", get_account_xml(book, "cash"))
    return document.replace(b"<env:Body>", b"<env:Body>" + b" " * (size - len(document)), 1)


def test_a_body_over_the_size_limit_is_refused_and_the_connection_goes_on(small_body_server):
    book = small_body_server.new_book(cash=("ASSET", "USD"))
    headers = {"Content-Type": CONTENT_TYPE["11"]}
    with requests.Session() as session:
        endpoint = small_body_server.endpoint("11")
        declared = session.post(endpoint, data=_padded_get_account(book.code, 20001), headers=headers, timeout=60)
        assert "20000 bytes" in expect_fault(declared, "11", "MalformedRequest", status=413).message
        # Chunked, the size is only known while reading; the limit must hold all the same.
        chunked = session.post(endpoint, data=iter([_padded_get_account(book.code, 30000)]), headers=headers,
                               timeout=60)
        assert "20000 bytes" in expect_fault(chunked, "11", "MalformedRequest", status=413).message
        # The refused body must not leak into the next request on the same keep-alive connection.
        at_the_limit = session.post(endpoint, data=_padded_get_account(book.code, 20000), headers=headers, timeout=60)
        assert at_the_limit.status_code == 200, at_the_limit.text


# --- AuthenticationFailed ---

@pytest.mark.parametrize("version", VERSIONS)
def test_every_authentication_failure_looks_the_same(server, shared_book, version):
    reader, password = server.add_client(grants={shared_book.code: "reader"})
    disabled, disabled_password = server.add_client(grants={shared_book.code: "reader"})
    operation = f"<l:GetTrialBalance><l:book>{shared_book.code}</l:book></l:GetTrialBalance>"
    for name, secret in [(reader, password), (disabled, disabled_password)]:
        assert post_raw(server, envelope(version, operation, name, secret), version).status_code == 200
    result = cli("clients", "disable", disabled, env={"LEDGER_DATABASE_URL": server.database_url})
    assert result.returncode == 0, result.stderr

    no_password = (f'<wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken><wsse:Username>{reader}'
                   "</wsse:Username></wsse:UsernameToken></wsse:Security>")
    attempts = {
        "no security header": envelope(version, operation, username=None),
        "no password": envelope(version, operation, username=None, header_extra=no_password),
        "wrong password": envelope(version, operation, reader, password + "x"),
        "empty password": envelope(version, operation, reader, ""),
        "unknown user": envelope(version, operation, unique("nobody"), password),
        "disabled client": envelope(version, operation, disabled, disabled_password),
        # This server has no LEDGER_SECRET_KEY, so no client secret is recoverable for PasswordDigest.
        "password digest without a secret key": envelope(version, operation, username=None, header_extra=digest_header(reader, password)),
    }
    responses = {why: post_raw(server, document, version) for why, document in attempts.items()}
    for why, response in responses.items():
        assert expect_fault(response, version, "AuthenticationFailed").message == "authentication failed", why
    # Not a byte differs, so no failure tells a guesser which part was wrong.
    assert len({response.content for response in responses.values()}) == 1


# --- NotAuthorized and BookNotFound ---

def test_a_client_without_a_grant_cannot_tell_whether_a_book_exists(server, shared_book):
    outsider, password = server.add_client()
    caller = wire(server, outsider, password)
    faults = {}
    for book in (shared_book.code, unique("GHOST")):
        seen = caller.fault("GetAccount", book, "cash", code="NotAuthorized", field="book")
        faults[book] = caller.transport.last_response.content.replace(book.encode(), b"BOOK")
        assert seen.message == f"client {outsider} needs the reader role on book {book}"
    assert len(set(faults.values())) == 1


ROLE_LIMITS = [
    pytest.param("reader", "PostEntry", id="reader-posts-an-entry"),
    pytest.param("reader", "OpenAccount", id="reader-opens-an-account"),
    pytest.param("poster", "OpenAccount", id="poster-opens-an-account"),
    pytest.param("poster", "CloseAccount", id="poster-closes-an-account"),
    pytest.param("poster", "ClosePeriod", id="poster-closes-a-period"),
]


@pytest.mark.parametrize("role, operation", ROLE_LIMITS)
def test_a_role_allows_only_its_own_operations(server, role, operation):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), spare=("ASSET", "USD"))
    name, password = server.add_client(grants={book.code: role})
    arguments = {
        "PostEntry": (book.code, entry_input("R1", [("cash", "DEBIT", "5.00"), ("sales", "CREDIT", "5.00")])),
        "OpenAccount": (book.code, account_input("newcomer")),
        "CloseAccount": (book.code, "spare"),
        "ClosePeriod": (book.code, date(2026, 1, 31)),
    }[operation]
    before = book_state(book)
    required = "admin" if operation != "PostEntry" else "poster"
    seen = wire(server, name, password).fault(operation, *arguments, code="NotAuthorized", field="book")
    assert seen.message == f"client {name} needs the {required} role on book {book.code}"
    assert book_state(book) == before
    admin = wire(server)
    admin.fault("GetAccount", book.code, "newcomer", code="AccountNotFound", field="code")
    admin.fault("GetEntry", book.code, "R1", code="EntryNotFound", field="reference")
    # The period is still open: an entry inside it posts.
    book.post("IN-PERIOD", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")], effective="2026-01-15")


def test_only_a_system_administrator_creates_books(server, shared_book):
    book_admin, password = server.add_client(grants={shared_book.code: "admin"})
    code = unique("B")
    seen = wire(server, book_admin, password).fault("CreateBook", code, "Mine", code="NotAuthorized")
    assert "system administrator" in seen.message
    # Nothing of the refused book was written: the code is still free.
    assert wire(server).service.CreateBook(code, "Created later").code == code


@pytest.mark.parametrize("operation, arguments", [
    ("GetAccount", ("cash",)),
    ("GetTrialBalance", (None,)),
    ("PostEntry", (entry_input("R1", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")]),)),
    ("OpenAccount", (account_input("cash"),)),
])
def test_a_system_administrator_learns_that_a_book_does_not_exist(server, operation, arguments):
    # A second system admin, so the answer cannot depend on grants that CreateBook gave the first one.
    name, password = server.add_client(system_admin=True)
    missing = unique("GHOST")
    seen = wire(server, name, password, "12").fault(operation, missing, *arguments, code="BookNotFound", field="book")
    assert missing in seen.message


def test_a_book_code_is_taken_once(server, shared_book):
    wire(server).fault("CreateBook", shared_book.code, "Again", code="BookExists", field="code")
    # The existing book is untouched and still the admin's.
    assert shared_book.service.GetAccount(shared_book.code, "cash").name == "Cash"


# --- accounts ---

@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_accounts_are_named_by_the_field_that_asked(server, version):
    book = server.new_book(version, cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    admin = wire(server, version=version)
    admin.fault("GetAccount", book.code, "ghost", code="AccountNotFound", field="code")
    admin.fault("GetBalance", book.code, "ghost", None, code="AccountNotFound", field="account")
    admin.fault("GetStatement", book.code, "ghost", date(2026, 1, 1), date(2026, 1, 31), None, None,
                code="AccountNotFound", field="account")
    admin.fault("CloseAccount", book.code, "ghost", code="AccountNotFound", field="code")
    admin.fault("OpenAccount", book.code, account_input("child", parentCode="ghost"),
                code="AccountNotFound", field="account.parentCode")
    admin.fault("GetAccount", book.code, "child", code="AccountNotFound", field="code")
    lines = [("cash", "DEBIT", "3.00"), ("sales", "CREDIT", "2.00"), ("ghost", "CREDIT", "1.00")]
    with leaves_no_trace(book, admin, "R1"):
        admin.fault("PostEntry", book.code, entry_input("R1", lines), code="AccountNotFound",
                    field="entry.lines[2].account")


def test_an_account_code_is_taken_once(server):
    book = server.new_book(cash=("ASSET", "USD"))
    admin = wire(server)
    admin.fault("OpenAccount", book.code, account_input("cash", "LIABILITY", "EUR"), code="AccountExists",
                field="account.code")
    kept = admin.service.GetAccount(book.code, "cash")
    assert (kept.name, kept.type, kept.currency) == ("Cash", "ASSET", "USD")


def test_a_closed_account_takes_no_entries_and_no_children(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), old=("ASSET", "USD"))
    admin = wire(server)
    admin.service.CloseAccount(book.code, "old")
    lines = [("cash", "DEBIT", "2.00"), ("sales", "CREDIT", "1.00"), ("old", "CREDIT", "1.00")]
    with leaves_no_trace(book, admin, "R1"):
        admin.fault("PostEntry", book.code, entry_input("R1", lines), code="AccountClosed",
                    field="entry.lines[2].account")
    admin.fault("OpenAccount", book.code, account_input("child", parentCode="old"), code="AccountClosed",
                field="account.parentCode")
    admin.fault("GetAccount", book.code, "child", code="AccountNotFound", field="code")


def test_an_account_with_a_balance_cannot_be_closed(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("R1", [("cash", "DEBIT", "0.01"), ("sales", "CREDIT", "0.01")])
    admin = wire(server)
    seen = admin.fault("CloseAccount", book.code, "cash", code="AccountNotEmpty", field="code")
    assert "0.01 USD" in seen.message
    assert admin.service.GetAccount(book.code, "cash").status == "OPEN"
    assert book.balance("cash").balance == book.balance("sales").balance


@pytest.mark.parametrize("currency", ["XXX", "ABC"])
def test_an_account_needs_a_known_currency(server, shared_book, currency):
    code = unique("acct")
    seen = wire(server).fault("OpenAccount", shared_book.code, account_input(code, currency=currency),
                              code="UnknownCurrency", field="account.currency")
    assert currency in seen.message
    wire(server).fault("GetAccount", shared_book.code, code, code="AccountNotFound", field="code")


def test_a_child_account_shares_its_parents_currency(server, shared_book):
    code = unique("acct")
    seen = wire(server).fault("OpenAccount", shared_book.code, account_input(code, currency="EUR", parentCode="cash"),
                              code="CurrencyMismatch", field="account.currency")
    assert "EUR" in seen.message and "USD" in seen.message
    wire(server).fault("GetAccount", shared_book.code, code, code="AccountNotFound", field="code")


# --- entries ---

@pytest.fixture(scope="module")
def rules_book(server):
    return server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), fees=("EXPENSE", "USD"),
                           eur_sales=("INCOME", "EUR"), yen=("ASSET", "JPY"), yen_sales=("INCOME", "JPY"),
                           dinar=("ASSET", "BHD"), dinar_sales=("INCOME", "BHD"))


POSTING_RULES = [
    pytest.param([("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "9.99")], "Unbalanced", "entry.lines",
                 id="debits-exceed-credits"),
    pytest.param([("cash", "DEBIT", "10.00"), ("eur_sales", "CREDIT", "10.00")], "Unbalanced", "entry.lines",
                 id="balanced-in-total-not-per-currency"),
    pytest.param([("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "5.00"), ("fees", "CREDIT", "5.001")],
                 "InvalidAmount", "entry.lines[2].amount", id="usd-with-three-decimals"),
    pytest.param([("yen", "DEBIT", "100"), ("yen_sales", "CREDIT", "99"), ("yen_sales", "CREDIT", "1.5")],
                 "InvalidAmount", "entry.lines[2].amount", id="jpy-with-decimals"),
    pytest.param([("dinar", "DEBIT", "1.000"), ("dinar_sales", "CREDIT", "0.500"),
                  ("dinar_sales", "CREDIT", "0.5001")], "InvalidAmount", "entry.lines[2].amount",
                 id="bhd-with-four-decimals"),
    pytest.param([("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00"), ("fees", "DEBIT", "0.00")],
                 "InvalidAmount", "entry.lines[2].amount", id="zero"),
    pytest.param([("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "6.00"), ("fees", "DEBIT", "-5.00")],
                 "InvalidAmount", "entry.lines[2].amount", id="negative"),
    pytest.param([("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00"), ("fees", "DEBIT", "1" + "0" * 20)],
                 "InvalidAmount", "entry.lines[2].amount", id="beyond-the-largest-amount"),
    pytest.param([("cash", "DEBIT", "10.00")], "TooFewLines", "entry.lines", id="one-line"),
]


@pytest.mark.parametrize("lines, code, field", POSTING_RULES)
def test_an_entry_breaking_a_posting_rule_is_refused_whole(server, rules_book, lines, code, field):
    admin = wire(server)
    reference = unique("R")
    with leaves_no_trace(rules_book, admin, reference):
        admin.fault("PostEntry", rules_book.code, entry_input(reference, lines), code=code, field=field)


def test_an_entry_holds_at_most_a_thousand_lines(server, rules_book):
    def pairs(count: int) -> list[tuple[str, str, str]]:
        return [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")] * (count // 2)

    admin = wire(server)
    too_many = pairs(1000) + [("fees", "DEBIT", "1.00")]
    with leaves_no_trace(rules_book, admin, "BIG"):
        response = post_raw(server, envelope("11", post_entry_xml(rules_book.code, "BIG", too_many)))
        expect_fault(response, "11", "TooManyLines", field="entry.lines")
    response = post_raw(server, envelope("11", post_entry_xml(rules_book.code, "LIMIT", pairs(1000))))
    assert response.status_code == 200, response.text[:500]
    assert len(admin.service.GetEntry(rules_book.code, "LIMIT").lines.line) == 1000


@pytest.mark.parametrize("change", [
    pytest.param({"lines": [("cash", "DEBIT", "10.51"), ("sales", "CREDIT", "10.51")]}, id="amount"),
    pytest.param({"lines": [("sales", "DEBIT", "10.50"), ("cash", "CREDIT", "10.50")]}, id="sides"),
    pytest.param({"effective": "2026-01-16"}, id="effective-date"),
    pytest.param({"description": "another sale"}, id="description"),
])
def test_a_reference_names_one_entry_for_ever(server, change):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    original = {"lines": [("cash", "DEBIT", "10.50"), ("sales", "CREDIT", "10.50")], "effective": "2026-01-15",
                "description": "sale"}
    first = book.post("INV-1", **original)
    settled = book_state(book)

    # A retry in another notation of the same amounts is the same entry: returned, not posted again.
    retry = book.post("INV-1", [("cash", "DEBIT", "10.5"), ("sales", "CREDIT", "10.500")], effective="2026-01-15",
                      description="sale")
    assert (retry.id, retry.recordedAt) == (first.id, first.recordedAt)
    assert book_state(book) == settled

    changed = {**original, **change}
    admin = wire(server, version="12")
    admin.fault("PostEntry", book.code, entry_input("INV-1", changed["lines"], changed["effective"],
                                                    description=changed["description"]),
                code="ReferenceConflict", field="entry.reference")
    assert book_state(book) == settled
    kept = admin.service.GetEntry(book.code, "INV-1")
    assert (kept.id, kept.description, [line.amount for line in kept.lines.line]) == (
        first.id, "sale", [line.amount for line in first.lines.line])


def test_an_unknown_reference_is_entry_not_found(server, shared_book):
    seen = wire(server).fault("GetEntry", shared_book.code, "NEVER-POSTED", code="EntryNotFound", field="reference")
    assert "NEVER-POSTED" in seen.message


def test_a_closed_period_takes_no_entries(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    admin = wire(server)
    assert admin.service.ClosePeriod(book.code, date(2026, 1, 31)).closedThrough == date(2026, 1, 31)
    lines = [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")]
    for reference, effective in [("ON-CLOSE", "2026-01-31"), ("BEFORE-CLOSE", "2026-01-15")]:
        with leaves_no_trace(book, admin, reference):
            admin.fault("PostEntry", book.code, entry_input(reference, lines, effective), code="PeriodClosed",
                        field="entry.effectiveDate")
    book.post("AFTER-CLOSE", lines, effective="2026-02-01")
    admin.fault("ClosePeriod", book.code, date.today() + timedelta(days=2), code="SchemaValidation",
                field="throughDate")
    # Closing an earlier date moves nothing, and shows the refused future close moved nothing either.
    assert admin.service.ClosePeriod(book.code, date(2026, 1, 1)).closedThrough == date(2026, 1, 31)


def test_a_guarded_account_never_goes_below_zero(server):
    book = server.new_book(wallet=("ASSET", "USD", True), income=("INCOME", "USD"), spend=("EXPENSE", "USD"))
    book.post("FUND", [("wallet", "DEBIT", "10.00"), ("income", "CREDIT", "10.00")])
    admin = wire(server)
    overdraw = [("spend", "DEBIT", "10.01"), ("wallet", "CREDIT", "10.01")]
    with leaves_no_trace(book, admin, "OVER"):
        seen = admin.fault("PostEntry", book.code, entry_input("OVER", overdraw), code="InsufficientBalance",
                           field="entry.lines[1].amount")
    assert "wallet" in seen.message
    book.post("EXACT", [("spend", "DEBIT", "10.00"), ("wallet", "CREDIT", "10.00")])
    assert book.balance("wallet").balance == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_only_a_pending_entry_is_settled_and_only_before_it_expires(server, version):
    book = server.new_book(wallet=("ASSET", "USD", True), income=("INCOME", "USD"), spend=("EXPENSE", "USD"))
    book.post("FUND", [("wallet", "DEBIT", "10.00"), ("income", "CREDIT", "10.00")])
    hold = [("spend", "DEBIT", "4.00"), ("wallet", "CREDIT", "4.00")]
    book.post("VOIDED", hold, pending=True)
    book.service.VoidPending(book.code, "VOIDED", None)
    book.post("LAPSING", hold, pending=True, pendingTimeoutSeconds=1)
    admin = wire(server, version=version)
    deadline = time.monotonic() + 15
    while admin.service.GetEntry(book.code, "LAPSING").status != "EXPIRED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    settled = book_state(book)
    for operation, extra in (("CommitPending", ()), ("VoidPending", (None,))):
        admin.fault(operation, book.code, "FUND", *extra, code="NotPending", field="reference")
        admin.fault(operation, book.code, "LAPSING", *extra, code="PendingExpired", field="reference")
    seen = admin.fault("CommitPending", book.code, "VOIDED", code="NotPending", field="reference")
    assert "VOIDED" in seen.message
    assert book_state(book) == settled


# --- server faults ---

@contextmanager
def _corrupt_account_type(server, book: str, account: str):
    """The account's type made one no code knows, for as long as the block runs: the server is shared,
    and its journals are verified once its tests are done."""
    database = server.database()
    statement = text("UPDATE accounts SET type = :type WHERE code = :account"
                     " AND book_id = (SELECT id FROM books WHERE code = :book)")
    try:
        with database.engine.begin() as connection:
            kind = connection.execute(text("SELECT type FROM accounts WHERE code = :account AND book_id = "
                                           "(SELECT id FROM books WHERE code = :book)"),
                                      {"account": account, "book": book}).scalar_one()
            assert connection.execute(statement, {"type": "BOGUS", "account": account, "book": book}).rowcount == 1
        yield
    finally:
        with database.engine.begin() as connection:
            connection.execute(statement, {"type": kind, "account": account, "book": book})
        database.dispose()


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unexpected_failure_is_an_internal_error_without_internals(server, version):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    with _corrupt_account_type(server, book.code, "cash"):
        response = post_raw(server, envelope(version, get_account_xml(book.code, "cash")), version)
        seen = expect_fault(response, version, "InternalError")
        assert seen.request_id and seen.request_id in seen.message
        for internal in ("Traceback", 'File "', "ValueError", "BOGUS", "AccountType", "ledger_service", ".py"):
            assert internal not in response.text
        assert book.service.GetAccount(book.code, "sales").type == "INCOME"
        # A write that fails the same way leaves nothing behind.
        failed_post = post_raw(server, envelope(version, post_entry_xml(book.code, "R1", [("cash", "DEBIT", "1.00"),
                                                                                          ("sales", "CREDIT", "1.00")])),
                               version)
        expect_fault(failed_post, version, "InternalError")
        assert book.balance("sales").postedCredits == 0
        wire(server, version=version).fault("GetEntry", book.code, "R1", code="EntryNotFound", field="reference")


def _wait_for_no_sessions(postgres: psycopg.Connection, database: str) -> None:
    """pg_terminate_backend only signals; the pooled sessions are gone once their backends have exited."""
    deadline = time.monotonic() + 10
    count = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
    while postgres.execute(count, (database,)).fetchone()[0]:
        assert time.monotonic() < deadline, f"sessions on {database} outlived pg_terminate_backend"
        time.sleep(0.05)


@pytest.mark.postgres
def test_a_database_outage_is_unavailable_and_the_service_recovers_by_itself(request, tmp_path_factory):
    live = start_server(request, tmp_path_factory, "postgres")
    book = live.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("BEFORE", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")])
    name = live.database_url.rsplit("/", 1)[1]
    balance = f"<l:GetBalance><l:book>{book.code}</l:book><l:account>cash</l:account></l:GetBalance>"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as postgres:
        try:
            postgres.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            postgres.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            _wait_for_no_sessions(postgres, name)
            assert requests.get(live.url + "/healthz", timeout=30).status_code == 503
            for version in VERSIONS:
                for operation in (balance, post_entry_xml(book.code, "DURING", [("cash", "DEBIT", "2.00"),
                                                                                ("sales", "CREDIT", "2.00")])):
                    response = post_raw(live, envelope(version, operation), version)
                    seen = expect_fault(response, version, "Unavailable", status=503)
                    assert name not in seen.message and "psycopg" not in response.text
        finally:
            postgres.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert requests.get(live.url + "/healthz", timeout=30).status_code == 200
    assert book.balance("cash").balance == 1
    wire(live).fault("GetEntry", book.code, "DURING", code="EntryNotFound", field="reference")
    book.post("AFTER", [("cash", "DEBIT", "2.00"), ("sales", "CREDIT", "2.00")])
    assert book.balance("cash").balance == 3
