"""The envelope rules (docs/integrators.md, "Envelope rules"), against live servers on SQLite and PostgreSQL,
on both SOAP versions, with raw envelopes on the wire.

- Namespace declarations and attributes: an envelope under the body limit is answered at once, however many
  it carries (MalformedRequest past the caps). Validating the operation used to copy every declaration of
  Envelope and Body onto it, each checked against the others: 200,000 of them took minutes.
- Structure: an optional Header, before the Body and only one; exactly one Body; nothing else.
- Who is calling is never ambiguous: at most one wsse:Security header block addressed to the service,
  holding at most one UsernameToken; blocks addressed to other actors are ignored, never used to log in.
- A mandatory header block the service does not process gets the SOAP MustUnderstand fault (SOAP 1.2: with
  env:NotUnderstood naming it); a Security header marked mandatory, as SOAP stacks send it, works.
- A UsernameToken with absurdly long parts is refused exactly as any failed login is, and leaves nothing
  behind.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select

from conftest import BACKENDS, CONTENT_TYPE, SOAP_ENV, TNS, WSSE_NS, fault_code, start_server, unique
from ledger_service.adapters.orm import SeenNonceRow
from ledger_service.domain.errors import FaultCode
from ledger_service.ns import SOAP11_ENV
from ledger_service.soap.envelope import Limits, RequestRefused, parse, read_envelope, validate
from ledger_service.wsgi import contracts
from test_hostile_input import check_soap_answer
from test_password_digest import KEY, add_client, digest_header

MIB = 1024 ** 2
VERSIONS = pytest.mark.parametrize("version", ["11", "12"])
ROLE = {"11": "actor", "12": "role"}
FOR_THIS_SERVICE = [("11", "http://schemas.xmlsoap.org/soap/actor/next"),
                    ("12", f"{SOAP_ENV['12']}/role/next"), ("12", f"{SOAP_ENV['12']}/role/ultimateReceiver")]
OTHER_ACTOR = "http://other.example/actor"
TRACE = "<x:Trace xmlns:x='urn:example:trace' env:mustUnderstand='{}'>on</x:Trace>"


# --- envelopes ---

def soap(version: str, *children: str, envelope_attributes: str = "") -> bytes:
    return (f'<env:Envelope xmlns:env="{SOAP_ENV[version]}" xmlns:l="{TNS}" {envelope_attributes}>'
            f'{"".join(children)}</env:Envelope>').encode()


def header(*blocks: str) -> str:
    return f"<env:Header>{''.join(blocks)}</env:Header>"


def body(operation: str, attributes: str = "") -> str:
    return f"<env:Body {attributes}>{operation}</env:Body>"


def security(*tokens: str, attributes: str = "") -> str:
    return f'<wsse:Security xmlns:wsse="{WSSE_NS}" {attributes}>{"".join(tokens)}</wsse:Security>'


def token(username: str, password: str) -> str:
    return (f"<wsse:UsernameToken><wsse:Username>{username}</wsse:Username>"
            f"<wsse:Password>{password}</wsse:Password></wsse:UsernameToken>")


def get_balance(book: str, attributes: str = "") -> str:
    return f"<l:GetBalance {attributes}><l:book>{book}</l:book><l:account>cash</l:account></l:GetBalance>"


def post_entry(book: str, reference: str) -> str:
    return (f"<l:PostEntry><l:book>{book}</l:book><l:entry><l:reference>{reference}</l:reference>"
            "<l:effectiveDate>2026-01-15</l:effectiveDate><l:lines>"
            "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1.00</l:amount></l:line>"
            "<l:line><l:account>sales</l:account><l:side>CREDIT</l:side><l:amount>1.00</l:amount></l:line>"
            "</l:lines></l:entry></l:PostEntry>")


# --- answers ---

@dataclass
class Answer:
    status: int
    code: str | None  # the LedgerFault code; None for an operation's response
    soap_code: str | None  # faultcode (1.1) or Code/Value (1.2), without its prefix
    message: str | None
    root: etree._Element
    content: bytes


def send(server, version: str, document: bytes, timeout: float = 60, request_id: str | None = None) -> Answer:
    headers = {"Content-Type": CONTENT_TYPE[version], **({"X-Request-Id": request_id} if request_id else {})}
    response = requests.post(server.endpoint(version), data=document, headers=headers, timeout=timeout)
    kind, code = check_soap_answer(response.status_code, response.headers["Content-Type"], response.content,
                                   version)
    root = etree.fromstring(response.content)
    env = SOAP_ENV[version]
    soap_code = root.findtext(".//faultcode") if version == "11" else root.findtext(f".//{{{env}}}Code/{{{env}}}Value")
    return Answer(response.status_code, code if kind == "fault" else None,
                  soap_code.partition(":")[2] if soap_code else None,
                  root.findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}message"), root, response.content)


# --- the service ---

@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, request.param, extra_env={"LEDGER_SECRET_KEY": KEY})


@pytest.fixture(scope="module")
def ledger(service):
    """A book, and two clients on it (PasswordText and PasswordDigest both work for them)."""
    book = service.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    return SimpleNamespace(book=book, poster=add_client(service, f"{book.code}:poster"),
                           reader=add_client(service, f"{book.code}:reader"))


def assert_not_posted(ledger, reference: str) -> None:
    assert fault_code(ledger.book.service.GetEntry, ledger.book.code, reference) == "EntryNotFound"


def assert_posted(ledger, reference: str) -> None:
    assert ledger.book.service.GetEntry(ledger.book.code, reference).reference == reference


# --- namespace declarations and attributes ---

def declarations(count: int) -> str:
    return " ".join(f'xmlns:n{i}="u"' for i in range(count))


@VERSIONS
@pytest.mark.parametrize("where", ["Envelope", "Body"])
def test_two_hundred_thousand_namespace_declarations_are_answered_at_once(service, ledger, version, where):
    many = declarations(200_000)
    document = soap(version, header(security(token(*ledger.reader))), body(get_balance(ledger.book.code),
                                                                           many if where == "Body" else ""),
                    envelope_attributes=many if where == "Envelope" else "")
    assert 3 * MIB < len(document) < 4 * MIB
    started = time.monotonic()
    answer = send(service, version, document, timeout=30)
    elapsed = time.monotonic() - started
    assert (answer.code, answer.message) == ("MalformedRequest", "an element declares more than 64 namespaces")
    assert elapsed < 3, f"answered after {elapsed:.1f} s"
    assert send(service, version, soap(version, header(security(token(*ledger.reader))),
                                       body(get_balance(ledger.book.code)))).code is None


@VERSIONS
def test_two_hundred_thousand_attributes_are_refused_at_once(service, ledger, version):
    attributes = " ".join(f'a{i}=""' for i in range(200_000))
    document = soap(version, header(security(token(*ledger.reader))), body(get_balance(ledger.book.code, attributes)))
    started = time.monotonic()
    answer = send(service, version, document, timeout=30)
    elapsed = time.monotonic() - started
    assert (answer.code, answer.message) == ("MalformedRequest", "an element has more than 64 attributes")
    assert elapsed < 3, f"answered after {elapsed:.1f} s"


def _nested(levels: int, each: int) -> str:
    """`levels` elements inside one another in the Body, each declaring `each` namespaces of its own."""
    opening = "".join(f'<l:x {" ".join(f"xmlns:d{level}x{i}=%urn:n%" for i in range(each))}>'
                      for level in range(levels)).replace("%", '"')
    return opening + "</l:x>" * levels


@pytest.mark.parametrize("document, refusal", [
    (soap("11", body(get_balance("B")), envelope_attributes=declarations(62)), None),  # with env and l: 64
    (soap("11", body(get_balance("B")), envelope_attributes=declarations(63)),
     "an element declares more than 64 namespaces"),
    (soap("11", body(_nested(4, 60))), None),  # 242 in scope
    (soap("11", body(_nested(5, 60))), "more than 256 namespace declarations are in scope"),
    (soap("11", body(get_balance("B", " ".join(f'a{i}=""' for i in range(64))))), None),
    (soap("11", body(get_balance("B", " ".join(f'a{i}=""' for i in range(65))))),
     "an element has more than 64 attributes"),
], ids=["64-declarations", "65-declarations", "242-in-scope", "302-in-scope", "64-attributes", "65-attributes"])
def test_the_caps_on_namespace_declarations_and_attributes(document, refusal):
    if refusal is None:
        parse(document, SOAP11_ENV, Limits())
        return
    with pytest.raises(RequestRefused) as caught:
        parse(document, SOAP11_ENV, Limits())
    assert (caught.value.error.code, caught.value.error.message) == (FaultCode.MalformedRequest, refusal)


def test_validation_costs_nothing_per_declaration_on_envelope_and_body():
    """The source of the quadratic time is gone, not only capped: validating an envelope whose Envelope and
    Body declare 100,000 namespaces each (read here without the caps) took over a minute."""
    many = declarations(100_000)
    root = etree.fromstring(soap("11", body(get_balance("B"), many.replace("xmlns:n", "xmlns:m")),
                                 envelope_attributes=many))
    operation = read_envelope(root, SOAP11_ENV).operation
    schema = contracts()["soap11"].schema(SOAP11_ENV)
    started = time.perf_counter()
    validate(schema, root, operation, frozenset({operation.tag}))
    assert time.perf_counter() - started < 1


# --- the envelope's structure ---

EXTRA = "<x:Extra xmlns:x='urn:x'/>"
STRUCTURES = {
    "header-after-body": (lambda v, sec, op: soap(v, body(op), header(sec)),
                          "the SOAP Header must come before the Body"),
    "two-headers": (lambda v, sec, op: soap(v, header(), header(sec), body(op)),
                    "a SOAP envelope has at most one Header"),
    "two-bodies": (lambda v, sec, op: soap(v, header(sec), body(op), body(op)), "a SOAP envelope needs exactly one Body"),
    "no-body": (lambda v, sec, op: soap(v, header(sec, op)), "a SOAP envelope needs exactly one Body"),
    "element-before-the-header": (lambda v, sec, op: soap(v, EXTRA, header(sec), body(op)),
                                  "a SOAP envelope holds an optional Header and the Body, nothing else: not {urn:x}Extra"),
    "element-after-the-body": (lambda v, sec, op: soap(v, header(sec), body(op), EXTRA),
                               "a SOAP envelope holds an optional Header and the Body, nothing else: not {urn:x}Extra"),
    "unqualified-header-block": (lambda v, sec, op: soap(v, header(sec, "<Trace>on</Trace>"), body(op)),
                                 "header block Trace is not namespace-qualified"),
    "mustUnderstand-not-a-boolean": (
        lambda v, sec, op: soap(v, header(sec, TRACE.format("yes")), body(op)),
        "mustUnderstand on header {urn:example:trace}Trace is not 1, 0, true or false"),
}


@VERSIONS
@pytest.mark.parametrize("structure", STRUCTURES)
def test_an_envelope_out_of_shape_is_malformed_and_posts_nothing(service, ledger, version, structure):
    reference = unique("S")
    build, refusal = STRUCTURES[structure]
    answer = send(service, version, build(version, security(token(*ledger.poster)), post_entry(ledger.book.code,
                                                                                                reference)))
    assert (answer.code, answer.message) == ("MalformedRequest", refusal)
    assert_not_posted(ledger, reference)


# --- who is calling ---

@VERSIONS
@pytest.mark.parametrize("order", ["poster-then-reader", "reader-then-poster", "none-then-next"])
def test_two_security_blocks_for_the_service_are_malformed(service, ledger, version, order):
    poster, reader = security(token(*ledger.poster)), security(token(*ledger.reader))
    blocks = {"poster-then-reader": [poster, reader], "reader-then-poster": [reader, poster],
              "none-then-next": [poster, security(token(*ledger.poster), attributes=(
                  f'env:{ROLE[version]}="{dict(FOR_THIS_SERVICE)[version]}"'))]}[order]
    reference = unique("S")
    answer = send(service, version, soap(version, header(*blocks), body(post_entry(ledger.book.code, reference))))
    assert (answer.code, answer.message) == (
        "MalformedRequest", "a request carries at most one wsse:Security header block for this service")
    assert_not_posted(ledger, reference)


@VERSIONS
def test_an_ambiguous_username_token_is_malformed(service, ledger, version):
    reader_name, reader_password = ledger.reader
    two_tokens = security(token(reader_name, reader_password), token("admin", "wrong"))
    answer = send(service, version, soap(version, header(two_tokens), body(get_balance(ledger.book.code))))
    assert (answer.code, answer.message) == ("MalformedRequest",
                                             "a wsse:Security header block holds at most one UsernameToken")
    two_passwords = token(reader_name, reader_password).replace(
        "</wsse:UsernameToken>", "<wsse:Password>wrong</wsse:Password></wsse:UsernameToken>")
    answer = send(service, version, soap(version, header(security(two_passwords)), body(get_balance(ledger.book.code))))
    assert (answer.code, answer.message) == ("MalformedRequest", "a UsernameToken holds at most one Password")


@VERSIONS
def test_a_security_block_for_another_actor_is_never_used(service, ledger, version):
    elsewhere = f'env:{ROLE[version]}="{OTHER_ACTOR}"'
    poster_elsewhere = security(token(*ledger.poster), attributes=elsewhere)
    alone = send(service, version, soap(version, header(poster_elsewhere), body(get_balance(ledger.book.code))))
    assert alone.code == "AuthenticationFailed"
    # Beside the reader's own block, it does not lend the reader the poster's role.
    reference = unique("S")
    beside = send(service, version, soap(version, header(poster_elsewhere, security(token(*ledger.reader))),
                                         body(post_entry(ledger.book.code, reference))))
    assert beside.code == "NotAuthorized"
    assert_not_posted(ledger, reference)
    # Whatever another actor must understand is no concern of this service.
    theirs = TRACE.format("1").replace("env:mustUnderstand", f"{elsewhere} env:mustUnderstand")
    assert send(service, version, soap(version, header(theirs, security(token(*ledger.reader))),
                                       body(get_balance(ledger.book.code)))).code is None


@pytest.mark.parametrize("version, target", FOR_THIS_SERVICE)
def test_a_security_block_for_the_next_node_or_the_ultimate_receiver_is_ours(service, ledger, version, target):
    reference = unique("S")
    block = security(token(*ledger.poster), attributes=f'env:{ROLE[version]}=" {target} "')
    assert send(service, version, soap(version, header(block), body(post_entry(ledger.book.code, reference)))).code \
        is None
    assert_posted(ledger, reference)


# --- mustUnderstand ---

@VERSIONS
@pytest.mark.parametrize("value", ["1", "true"])
def test_a_mandatory_header_the_service_does_not_process_gets_must_understand(service, ledger, version, value):
    reference = unique("S")
    answer = send(service, version, soap(version, header(security(token(*ledger.poster)), TRACE.format(value)),
                                         body(post_entry(ledger.book.code, reference))))
    assert (answer.soap_code, answer.code) == ("MustUnderstand", "MalformedRequest")
    assert answer.message == "header {urn:example:trace}Trace must be understood, and this service does not know it"
    env = SOAP_ENV[version]
    named = [(element.get("qname"), element.nsmap) for element in answer.root.iterfind(f"{{{env}}}Header/*")]
    if version == "12":
        # SOAP 1.2 part 1 section 5.4.8: one env:NotUnderstood header block for each, naming it by QName.
        [(qname, scope)] = named
        prefix, _, local = qname.partition(":")
        assert (scope[prefix], local) == ("urn:example:trace", "Trace")
        assert [element.tag for element in answer.root.find(f"{{{env}}}Header")] == [f"{{{env}}}NotUnderstood"]
    else:
        assert named == []
    assert_not_posted(ledger, reference)


@VERSIONS
@pytest.mark.parametrize("marking", ["env:mustUnderstand='1'", "env:mustUnderstand='true'",
                                     "mustUnderstand='true'", "env:mustUnderstand='0'"],
                         ids=["1", "true", "unqualified-true (suds)", "0"])
def test_security_marked_mandatory_and_optional_headers_are_fine(service, ledger, version, marking):
    reference = unique("S")
    optional = TRACE.format("0") if marking.startswith("env:mustUnderstand='0'") else ""
    answer = send(service, version, soap(version, header(security(token(*ledger.poster), attributes=marking), optional),
                                         body(post_entry(ledger.book.code, reference))))
    assert answer.code is None
    assert_posted(ledger, reference)


# --- absurd credentials ---

def _seen_nonces(server) -> int:
    database = server.database()
    try:
        return database.run(lambda store: store.connection.execute(
            select(func.count()).select_from(SeenNonceRow)).scalar_one(), write=False)
    finally:
        database.dispose()


def _absurd_headers(ledger) -> dict[str, str]:
    """Each a token with one part of absurd length; the digests are right, so that only the length is wrong."""
    name, password = ledger.reader
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "username": security(token("u" * 100_000, password)),
        "password": security(token(name, "p" * 100_000)),
        "nonce": digest_header(name, password, nonce=os.urandom(2048)),
        "created": digest_header(name, password, stamp=f"{now}.{'1' * 5000}Z"),
    }


@VERSIONS
@pytest.mark.parametrize("part", ["username", "password", "nonce", "created"])
def test_a_token_with_an_absurdly_long_part_is_refused_like_any_failed_login(service, ledger, version, part):
    operation = body(get_balance(ledger.book.code))
    # The reader's digests are accepted when no part is too long.
    assert send(service, version, soap(version, header(digest_header(*ledger.reader)), operation)).code is None
    wrong_password = send(service, version, soap(version, header(security(token(ledger.reader[0], "wrong"))),
                                                 operation))
    nonces = _seen_nonces(service)
    request_id = unique("absurd")
    answer = send(service, version, soap(version, header(_absurd_headers(ledger)[part]), operation),
                  request_id=request_id)
    assert (answer.status, answer.code) == (500, "AuthenticationFailed")
    assert answer.content == wrong_password.content
    assert _seen_nonces(service) == nonces
    assert "u" * 1000 not in _access_log_line(service, request_id)


def _access_log_line(server, request_id: str) -> str:
    """The server's log line for the request (written just after its response, so waited for)."""
    deadline = time.monotonic() + 30
    while True:
        lines = [line for line in server.log().splitlines() if f'"request_id": "{request_id}"' in line]
        if lines:
            return lines[0]
        assert time.monotonic() < deadline, f"no log line for request {request_id}"
        time.sleep(0.1)
