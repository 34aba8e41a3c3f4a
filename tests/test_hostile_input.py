"""Hostile input against a live service, beyond the catalogue of test_faults.py.

- A body far over the limit (1 GiB, chunked or declared) is refused while it is being read: the
  client never has to send it whole, the worker's memory does not grow with it, and the same worker
  goes on serving.
- Generated envelopes (random bytes, and valid requests mutated in every way hypothesis can think of)
  always get a well-formed SOAP answer of the endpoint's version, an operation response or a fault
  whose detail is exactly a tns:LedgerFault with a code of docs/contract.md#faults, and a fault never leaves
  anything written behind.
"""
from __future__ import annotations

import copy
import select
import socket
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from zeep.exceptions import Fault

from conftest import ADMIN, ADMIN_PASSWORD, CONTENT_TYPE, FAULT_CODES, SOAP_ENV, TNS, WSSE_NS, envelope, fault_detail, \
    start_server

GIB = 1024 ** 3
MIB = 1024 ** 2
MEDIA_TYPE = {"11": "text/xml", "12": "application/soap+xml"}


# --- reading answers ---

def check_soap_answer(status: int, content_type: str, body: bytes, version: str,
                      fault_status: int = 500) -> tuple[str, str | None]:
    """The answer is a SOAP envelope of `version` (SOAP 1.1 for a VersionMismatch): ('response', localname)
    or ('fault', LedgerFault code) with HTTP status `fault_status` (500, or the HTTP status of what the
    HTTP layer itself refuses)."""
    assert status in (200, fault_status), (status, body[:300])
    media_type = content_type.split(";")[0].strip()
    assert media_type in MEDIA_TYPE.values(), (content_type, body[:300])
    assert b"<html" not in body[:512].lower()
    root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    answered = "11" if root.tag == f"{{{SOAP_ENV['11']}}}Envelope" else "12"
    assert root.tag == f"{{{SOAP_ENV[answered]}}}Envelope", root.tag
    assert media_type == MEDIA_TYPE[answered]
    soap = SOAP_ENV[answered]
    [soap_body] = root.findall(f"{{{soap}}}Body")
    [child] = list(soap_body)
    if child.tag != f"{{{soap}}}Fault":
        assert (status, answered) == (200, version), body[:300]
        assert etree.QName(child).namespace == TNS and child.tag.endswith("Response"), child.tag
        return "response", etree.QName(child).localname
    assert status == fault_status, body[:300]
    if answered == "11":
        detail, soap_code = child.find("detail"), child.findtext("faultcode")
    else:
        detail, soap_code = child.find(f"{{{soap}}}Detail"), child.findtext(f"{{{soap}}}Code/{{{soap}}}Value")
    assert [element.tag for element in detail] == [f"{{{TNS}}}LedgerFault"], body[:500]
    code = detail[0].findtext(f"{{{TNS}}}code")
    assert code in FAULT_CODES, code
    if answered != version:
        # Only a VersionMismatch is answered in the other version (SOAP 1.2 Appendix A: in SOAP 1.1).
        assert (answered, soap_code.partition(":")[2], code) == ("11", "VersionMismatch", "MalformedRequest")
    return "fault", code


# --- the worker's memory ---

def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _worker_pid(server) -> int:
    deadline = time.monotonic() + 10
    while True:
        workers = _children(server.process.pid)
        if len(workers) == 1:
            return workers[0]
        assert time.monotonic() < deadline, f"expected one worker, found {workers}"
        time.sleep(0.1)


# --- streaming a huge body over a raw socket ---

def _read_responses(sock: socket.socket, count: int, timeout: float = 30) -> list[tuple[int, dict, bytes]]:
    """`count` HTTP responses off the socket in turn (Content-Length framed): what arrives of the next one
    with the one before it is kept for it."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    data, answers = b"", []

    def received(what: str) -> bytes:
        piece = sock.recv(65536)
        assert piece, what
        return piece
    for _ in range(count):
        while b"\r\n\r\n" not in data:
            data += received(f"connection closed before a response: {data!r}")
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in header_lines)}
        length = int(headers["content-length"])
        while len(data) < length:
            data += received("connection closed in the middle of the response")
        answers.append((int(status_line.split()[1]), headers, data[:length]))
        data = data[length:]
    return answers


def _read_response(sock: socket.socket, timeout: float = 30) -> tuple[int, dict, bytes]:
    """One HTTP response off the socket (Content-Length framed), whatever happens to the connection after."""
    return _read_responses(sock, 1, timeout)[0]


def _stream_huge_body(server, *, chunked: bool, total: int = GIB, ignore_answer: bool = False):
    """Starts sending a `total`-byte request body and stops as soon as the server answers, or, with
    `ignore_answer`, only once the server closes the connection. Returns the bytes of body sent, how
    sending ended, and the response (None with `ignore_answer`)."""
    piece = b"<!-- " + b"x" * (65536 - 9) + b" -->"
    framing = (b"Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n".encode())
    head = (f"POST /v1/soap11 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {CONTENT_TYPE['11']}\r\n").encode() + framing + b"\r\n"
    out = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") if chunked else piece
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        opening = envelope("11", "")[:-len(b"</env:Body></env:Envelope>")]
        sock.sendall(head + (f"{len(opening):x}\r\n".encode() + opening + b"\r\n" if chunked else opening))
        sock.setblocking(False)
        sent, pending, ended = len(opening), b"", "sent everything"
        deadline = time.monotonic() + 120
        while sent < total:
            assert time.monotonic() < deadline, f"still sending after {sent} bytes"
            readable, writable, _ = select.select([] if ignore_answer else [sock], [sock], [], 5)
            if readable:
                ended = "server answered"
                break
            if not writable:
                continue
            pending = pending or out
            try:
                written = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                ended = "server closed"
                break
            except BlockingIOError:
                continue
            pending = pending[written:]
            sent += written
        return sent, ended, None if ignore_answer else _read_response(sock)
    finally:
        sock.close()


@pytest.fixture(scope="module")
def one_worker(request, tmp_path_factory):
    """A server with the default body limit (4 MiB) and a single worker whose memory can be watched."""
    return start_server(request, tmp_path_factory, "sqlite", workers=1)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_gigabyte_body_is_refused_while_reading_and_never_held(one_worker, chunked):
    book = one_worker.new_book(cash=("ASSET", "USD"))
    worker = _worker_pid(one_worker)
    rss_before, peak_before = _status_kib(worker, "VmRSS"), _status_kib(worker, "VmHWM")

    sent, ended, (status, headers, body) = _stream_huge_body(one_worker, chunked=chunked)

    kind, code = check_soap_answer(status, headers["content-type"], body, "11", fault_status=413)
    assert (kind, code) == ("fault", "MalformedRequest")
    assert b"4194304 bytes" in body
    # Refused at the limit, not at the end: only the limit and what the socket buffers held went out.
    assert sent < 64 * MIB, f"{sent} bytes sent before the refusal ({ended})"
    rss_after, peak_after = _status_kib(worker, "VmRSS"), _status_kib(worker, "VmHWM")
    print(f"\n{'chunked' if chunked else 'content-length'}: sent {sent} bytes ({ended}); worker {worker} "
          f"VmRSS {rss_before} -> {rss_after} KiB, VmHWM {peak_before} -> {peak_after} KiB")
    assert (peak_after - peak_before) * 1024 < 64 * MIB
    assert (rss_after - rss_before) * 1024 < 64 * MIB
    # A client that does not listen is cut off too: the server does not read on to the end.
    sent, ended, _ = _stream_huge_body(one_worker, chunked=chunked, ignore_answer=True)
    print(f"ignoring the answer: sent {sent} bytes ({ended})")
    assert ended == "server closed" and sent < 64 * MIB, f"{sent} bytes sent ({ended})"
    assert _status_kib(worker, "VmHWM") * 1024 - peak_before * 1024 < 64 * MIB
    # The same worker goes on serving.
    assert one_worker.zeep().service.GetBalance(book.code, "cash", None).balance == 0
    assert _worker_pid(one_worker) == worker


def _raw_exchange(server, request: bytes) -> tuple[int, dict, bytes]:
    """Sends `request` as is, says it has nothing more to send, and reads the one response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        return _read_response(sock)


BROKEN_FRAMING = [
    pytest.param(b"Transfer-Encoding: chunked\r\n\r\nzz\r\n<x/>\r\n0\r\n\r\n", id="chunk-size-not-hex"),
    pytest.param(b"Transfer-Encoding: chunked\r\n\r\n4\r\n<x/>XX0\r\n\r\n", id="chunk-without-terminator"),
    pytest.param(b"Transfer-Encoding: chunked\r\n\r\n400\r\n<x/>", id="chunked-body-cut-short"),
    pytest.param(b"Content-Length: 1000\r\n\r\n<x/>", id="declared-body-cut-short"),
]


@pytest.mark.parametrize("framing", BROKEN_FRAMING)
def test_a_body_with_broken_http_framing_is_a_malformed_request(one_worker, framing):
    head = (f"POST /v1/soap11 HTTP/1.1\r\nHost: 127.0.0.1:{one_worker.port}\r\n"
            f"Content-Type: {CONTENT_TYPE['11']}\r\n").encode()
    status, headers, body = _raw_exchange(one_worker, head + framing)
    assert check_soap_answer(status, headers["content-type"], body, "11", fault_status=400) == (
        "fault", "MalformedRequest")
    assert requests.get(one_worker.url + "/healthz", timeout=30).status_code == 200


# --- generated envelopes ---

XSI = "http://www.w3.org/2001/XMLSchema-instance"
LEDGER_TABLES = ("books", "grants", "period_closes", "accounts", "account_days", "entries", "lines")
OPERATIONS = ("PostEntry", "OpenAccount", "GetBalance")
XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r"),
                   max_size=40)
NAMES = st.sampled_from(["book", "entry", "lines", "line", "account", "amount", "side", "reference", "code", "asOf",
                         "memo", "Frobnicate", "PostEntries", "GetEntry", "ListAccounts", "Envelope", "Body",
                         "Fault"]) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,15}", fullmatch=True)
NAMESPACES = st.sampled_from([TNS, "", "urn:soap-ledger:v2", SOAP_ENV["11"], SOAP_ENV["12"], WSSE_NS, XSI,
                              "http://example.com/evil"])
DECIMALS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40).map(str),
    st.from_regex(r"[+-]?[0-9]{0,30}(\.[0-9]{0,30})?([eE][+-]?[0-9]{1,6})?", fullmatch=True),
    st.sampled_from(["0", "-0.00", "0.001", "1.005", "9223372036854775807", "92233720368547758.07",
                     "9223372036854775808", "-9223372036854775808", "1e3", "1E-2", ".5", "5.", "+1.00", " 1.00 ",
                     "1,00", "NaN", "INF", "-INF", "0x10", "１.００", "1" * 200, "0." + "0" * 199 + "1"]),
)
DATES = st.sampled_from(["2026-01-15", "2026-02-30", "0001-01-01", "9999-12-31", "-2026-01-01", "2026-1-5",
                         "2026-01-15Z", "2026-01-15+14:00", "20260115", "yesterday", ""]) | st.dates().map(str)


def _operation_xml(operation: str, book: str, key: str) -> str:
    if operation == "PostEntry":
        return (f"<l:PostEntry><l:book>{book}</l:book><l:entry><l:reference>R-{key}</l:reference>"
                "<l:effectiveDate>2026-01-15</l:effectiveDate><l:description>fuzz</l:description><l:lines>"
                "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1.00</l:amount>"
                "<l:memo>m</l:memo></l:line>"
                "<l:line><l:account>sales</l:account><l:side>CREDIT</l:side><l:amount>1.00</l:amount></l:line>"
                "</l:lines></l:entry></l:PostEntry>")
    if operation == "OpenAccount":
        return (f"<l:OpenAccount><l:book>{book}</l:book><l:account><l:code>a-{key}</l:code><l:name>A</l:name>"
                "<l:type>ASSET</l:type><l:currency>USD</l:currency><l:parentCode>cash</l:parentCode>"
                "<l:noNegativeBalance>false</l:noNegativeBalance></l:account></l:OpenAccount>")
    return (f"<l:GetBalance><l:book>{book}</l:book><l:account>cash</l:account><l:asOf>2026-12-31</l:asOf>"
            "</l:GetBalance>")


def _pick(data, elements: list):
    return elements[data.draw(st.integers(0, len(elements) - 1), label="element")]


def _mutate(data, root: etree._Element) -> None:
    """One mutation of the request tree (below the wrapper `root`), at an element hypothesis picks."""
    everything = list(root.iter(tag=etree.Element))[1:]
    if not everything:
        return
    element = _pick(data, everything)
    parent = element.getparent()
    kind = data.draw(st.sampled_from(["drop", "duplicate", "reorder", "text", "decimal", "date", "rename",
                                      "namespace", "nest", "deep", "attribute", "comment", "empty"]), label="mutation")
    if kind == "drop" and parent is not None:
        parent.remove(element)
    elif kind == "duplicate" and parent is not None:
        element.addnext(copy.deepcopy(element))
    elif kind == "reorder" and len(element):
        children = list(element)
        order = data.draw(st.permutations(range(len(children))), label="order")
        for child in children:
            element.remove(child)
        element.extend(children[i] for i in order)
    elif kind == "text":
        element.text = data.draw(XML_TEXT, label="text")
    elif kind == "decimal":
        amounts = [e for e in everything if etree.QName(e).localname == "amount"] or [element]
        _pick(data, amounts).text = data.draw(DECIMALS, label="decimal")
    elif kind == "date":
        element.text = data.draw(DATES, label="date")
    elif kind == "rename":
        element.tag = etree.QName(etree.QName(element).namespace, data.draw(NAMES, label="name")).text
    elif kind == "namespace":
        namespace = data.draw(NAMESPACES, label="namespace")
        local = etree.QName(element).localname
        element.tag = f"{{{namespace}}}{local}" if namespace else local
    elif kind == "nest" and parent is not None:
        wrapper = etree.Element(etree.QName(TNS, data.draw(NAMES, label="wrapper")).text)
        element.addprevious(wrapper)
        wrapper.append(element)
    elif kind == "deep":
        inner = element
        for _ in range(data.draw(st.integers(1, 80), label="depth")):
            inner = etree.SubElement(inner, f"{{{TNS}}}n")
    elif kind == "attribute":
        name = data.draw(st.sampled_from([f"{{{XSI}}}nil", f"{{{XSI}}}type", "id", f"{{{TNS}}}x",
                                          f"{{{SOAP_ENV['11']}}}mustUnderstand"]), label="attribute")
        element.set(name, data.draw(st.sampled_from(["true", "1", "xs:string", "l:Foo", ""]) | XML_TEXT,
                                    label="value"))
    elif kind == "comment":
        element.append(etree.Comment("c"))
        element.append(etree.ProcessingInstruction("pi", "x"))
    elif kind == "empty":
        for child in list(element):
            element.remove(child)
        element.text = None


def _generated_request(data, book: str, key: str) -> tuple[str, bytes]:
    version = data.draw(st.sampled_from(["11", "12"]), label="version")
    if data.draw(st.integers(0, 9), label="random bytes?") == 0:
        return version, data.draw(st.binary(max_size=300), label="bytes")
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    wrapper = etree.fromstring(f'<w xmlns:l="{TNS}">{_operation_xml(operation, book, key)}</w>')
    for _ in range(data.draw(st.integers(0, 4), label="mutations")):
        _mutate(data, wrapper)
    body = "".join(etree.tostring(child).decode() for child in wrapper)
    credentials = data.draw(st.sampled_from([(ADMIN, ADMIN_PASSWORD)] * 6 + [(ADMIN, "wrong"), (None, ""),
                                                                            ("nobody", "x")]), label="credentials")
    envelope_version = data.draw(st.sampled_from([version] * 9 + [{"11": "12", "12": "11"}[version]]),
                                 label="envelope version")
    document = envelope(envelope_version, body, *credentials)
    cut = data.draw(st.sampled_from(["none"] * 8 + ["truncate", "flip"]), label="bytes mutation")
    if cut == "truncate":
        document = document[:data.draw(st.integers(0, len(document) - 1), label="length")]
    elif cut == "flip":
        position = data.draw(st.integers(0, len(document) - 1), label="position")
        document = document[:position] + bytes([data.draw(st.integers(0, 255), label="byte")]) + document[position + 1:]
    return version, document


def _ledger_state(path: str) -> tuple:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as database:
        state = tuple(tuple(database.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall())
                      for table in LEDGER_TABLES)
        unbalanced = database.execute(
            "SELECT a.currency, SUM(CASE l.side WHEN 'DEBIT' THEN l.amount ELSE -l.amount END) FROM lines l "
            "JOIN accounts a ON a.id = l.account_id GROUP BY a.currency "
            "HAVING SUM(CASE l.side WHEN 'DEBIT' THEN l.amount ELSE -l.amount END) != 0").fetchall()
    database.close()
    assert not unbalanced, unbalanced
    return state


@pytest.fixture(scope="module")
def fuzz_target(request, tmp_path_factory):
    server = start_server(request, tmp_path_factory, "sqlite", workers=2)
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    session = requests.Session()
    request.addfinalizer(session.close)
    seen: dict = {"examples": 0, "responses": 0, "faults": {}}
    yield server, book, session, seen
    print(f"\nfuzz: {seen}")


@settings(max_examples=500, deadline=None, derandomize=True, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_envelopes_get_soap_answers_and_faults_write_nothing(fuzz_target, data):
    server, book, session, seen = fuzz_target
    path = server.database_url.split(":///", 1)[1]
    version, document = _generated_request(data, book.code, uuid.uuid4().hex[:10])
    before = _ledger_state(path)
    response = session.post(server.endpoint(version), data=document, timeout=30,
                             headers={"Content-Type": CONTENT_TYPE[version]})
    kind, name = check_soap_answer(response.status_code, response.headers.get("Content-Type", ""), response.content,
                                   version)
    seen["examples"] += 1
    if kind == "fault":
        seen["faults"][name] = seen["faults"].get(name, 0) + 1
        assert name not in ("InternalError", "Unavailable", "RateLimited"), response.text[:1000]
        assert _ledger_state(path) == before, f"a {name} fault left a write behind"
    else:
        seen["responses"] += 1
        _ledger_state(path)  # whatever it wrote, the book still balances


LARGEST_USD = "999999999999999.99"  # the largest amount one line takes: 10**17 - 1 cents


def test_totals_past_what_an_account_can_hold_are_invalid_amount_and_write_nothing(server):
    """Each line's amount is in range, but together they would take an account's running total past
    the 64-bit integer the database keeps it in: a caller error, not an InternalError."""
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("FIRST", [("cash", "DEBIT", LARGEST_USD), ("sales", "CREDIT", LARGEST_USD)] * 50)
    before = book.balance("cash")
    with pytest.raises(Fault) as caught:
        book.post("OVER", [("sales", "CREDIT", LARGEST_USD), ("cash", "DEBIT", LARGEST_USD)] * 50)
    detail = fault_detail(caught.value)
    assert (detail["code"], detail["field"]) == ("InvalidAmount", "entry.lines[0].amount"), detail
    assert book.balance("cash") == before and book.balance("sales").balance == before.balance
    with pytest.raises(Fault) as missing:
        book.service.GetEntry(book.code, "OVER")
    assert fault_detail(missing.value)["code"] == "EntryNotFound"
    trial = book.service.GetTrialBalance(book.code, None)
    assert [(t.debit, t.credit) for t in trial.totals.total] == [(before.balance, before.balance)]
