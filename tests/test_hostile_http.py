"""Hostile HTTP against `ledger-service serve` alone, without a proxy in front (service/ledger_service/serving/).

- What the HTTP layer refuses (bad syntax, a header section too large or with too many fields,
  unsupported or conflicting framing, a body too large, cut short or too slow) is answered with the
  HTTP status that names it: on the SOAP endpoints with a SOAP fault of the endpoint's version,
  LedgerFault code MalformedRequest, never an HTML page or a closed connection; elsewhere in plain text.
- A client that writes its whole oversized body before reading (requests, urllib) receives the fault.
- Slow and stalled clients hold no thread: with 64 of them connected, calls are answered as usual,
  and each is dropped with a fault once LEDGER_BODY_TIMEOUT_SECONDS has passed.
"""
from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import requests

from conftest import ADMIN, ADMIN_PASSWORD, BACKENDS, CONTENT_TYPE, envelope, start_server
from test_hostile_input import _read_response, _read_responses, check_soap_answer
from test_worker_kills import booted, established_connections, socket_inodes, workers

VERSIONS = ["11", "12"]
MIB = 1024 ** 2
BODY_TIMEOUT = 6


@pytest.fixture(scope="module", params=BACKENDS)
def edge_server(request, tmp_path_factory):
    """A live server whose slow requests time out after BODY_TIMEOUT seconds: 2 workers on SQLite, 4 on
    PostgreSQL, as the service was measured to stall with 8 and 16 slow sockets."""
    workers = 2 if request.param == "sqlite" else 4
    return start_server(request, tmp_path_factory, request.param, workers=workers,
                        extra_env={"LEDGER_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)})


def exchange(server, data: bytes, *, half_close: bool = True, timeout: float = 30) -> tuple[int, dict, bytes]:
    """Sends `data` as it is and reads the one response."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return _read_response(sock, timeout)


def head(server, version: str, *fields: bytes, framing: bytes = b"Content-Length: 0\r\n") -> bytes:
    return (f"POST /v1/soap{version} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {CONTENT_TYPE[version]}\r\n").encode() + b"".join(fields) + framing + b"\r\n"


def get_balance(book: str) -> str:
    return f"<l:GetBalance><l:book>{book}</l:book><l:account>cash</l:account></l:GetBalance>"


# --- refusals of the HTTP layer ---

def _bare_lf(server, version):
    body = envelope(version, get_balance("B"))
    return (f"POST /v1/soap{version} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: {CONTENT_TYPE[version]}\n"
            f"Content-Length: {len(body)}\n\n").encode() + body


# What the HTTP layer refuses, and the HTTP status of the refusal.
HTTP_REFUSALS = {
    "bare LF ending a header line": (_bare_lf, 400),
    "a 65,000-character SOAPAction": (lambda s, v: head(s, v, b"SOAPAction: \"" + b"a" * 65000 + b"\"\r\n"), 431),
    "150 header fields": (lambda s, v: head(s, v, *(b"X-Field-%d: v\r\n" % n for n in range(150))), 431),
    "a header section over 32 KiB": (lambda s, v: head(s, v, *(b"X-Field-%d: %s\r\n" % (n, b"v" * 4000)
                                                                for n in range(9))), 431),
    "an unknown transfer coding": (lambda s, v: head(s, v, framing=b"Transfer-Encoding: xchunked\r\n"), 501),
    "two transfer codings": (lambda s, v: head(s, v, framing=b"Transfer-Encoding: gzip, chunked\r\n"), 501),
    "two Transfer-Encoding fields": (lambda s, v: head(
        s, v, framing=b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n") + b"0\r\n\r\n", 501),
    "both Content-Length and Transfer-Encoding": (lambda s, v: head(
        s, v, framing=b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + b"0\r\n\r\n", 400),
    "two different Content-Lengths": (lambda s, v: head(s, v, framing=b"Content-Length: 5\r\nContent-Length: 6\r\n"),
                                      400),
    "a non-numeric Content-Length": (lambda s, v: head(s, v, framing=b"Content-Length: 5x\r\n"), 400),
    "Content-Length twice, the same": (lambda s, v: head(s, v, framing=b"Content-Length: 4\r\nContent-Length: 4\r\n")
                                       + b"<x/>", 400),
    "a control character in a header value": (lambda s, v: head(s, v, b"X-Bad: a\x01b\r\n"), 400),
    "two spaces in the request line": (lambda s, v: head(s, v).replace(b"POST ", b"POST  ", 1), 400),
    "a method no HTTP registry knows": (lambda s, v: head(s, v).replace(b"POST ", b"BREW ", 1), 400),
    "an obsolete folded header line": (lambda s, v: head(s, v, b"X-Folded: a\r\n  b\r\n"), 400),
    "a header name with a space": (lambda s, v: head(s, v, b"X Bad: v\r\n"), 400),
    "no Host": (lambda s, v: head(s, v).replace(b"Host: 127.0.0.1:%d\r\n" % s.port, b""), 400),
    "two Host fields": (lambda s, v: head(s, v, b"Host: elsewhere\r\n"), 400),
    "an unsupported HTTP version": (lambda s, v: head(s, v).replace(b"HTTP/1.1", b"HTTP/2.7", 1), 505),
    "a declared body cut short": (lambda s, v: head(s, v, framing=b"Content-Length: 1000\r\n") + b"<x/>", 400),
    "a chunk size that is not hex": (lambda s, v: head(s, v, framing=b"Transfer-Encoding: chunked\r\n")
                                     + b"zz\r\n<x/>\r\n0\r\n\r\n", 400),
    "a space after the chunk size": (lambda s, v: head(s, v, framing=b"Transfer-Encoding: chunked\r\n")
                                     + b"4 \r\n<x/>\r\n0\r\n\r\n", 400),
    "chunk framing far larger than its data": (lambda s, v: head(s, v, framing=b"Transfer-Encoding: chunked\r\n")
                                               + b"1;x=%s\r\n<\r\n" % (b"y" * 4000) * 10 + b"0\r\n\r\n", 400),
    "a trailer without end": (lambda s, v: head(s, v, framing=b"Transfer-Encoding: chunked\r\n")
                              + b"4\r\n<x/>\r\n0\r\nX-Trailer: " + b"t" * 40000 + b"\r\n\r\n", 400),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", HTTP_REFUSALS)
def test_what_the_http_layer_refuses_is_a_soap_fault_of_the_endpoints_version(edge_server, case, version):
    build, expected_status = HTTP_REFUSALS[case]
    status, headers, body = exchange(edge_server, build(edge_server, version))
    assert check_soap_answer(status, headers["content-type"], body, version, fault_status=expected_status) == (
        "fault", "MalformedRequest"), body
    assert headers.get("connection") == "close"
    assert requests.get(edge_server.url + "/healthz", timeout=30).status_code == 200


def test_outside_the_soap_endpoints_a_refusal_is_plain_text_with_its_status(edge_server):
    cases = {
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Many: a\r\n" + b"X-F: v\r\n" * 150 + b"\r\n": 431,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n": 501,
        b"GET /healthz HTTP/1.1\nHost: x\n\n": 400,
        b"NOT-HTTP\r\n\r\n": 400,
    }
    for request, expected in cases.items():
        status, headers, body = exchange(edge_server, request)
        assert (status, headers["content-type"]) == (expected, "text/plain; charset=utf-8"), (request[:40], body)
        assert b"<" not in body, body


# --- an oversized body, written whole before the answer is read ---

@pytest.mark.parametrize("version", VERSIONS)
def test_a_client_that_writes_a_whole_oversized_body_receives_the_fault(edge_server, version):
    body = envelope(version, get_balance("B")).replace(b"<env:Body>", b"<env:Body>" + b" " * (20 * MIB))
    response = requests.post(edge_server.endpoint(version), data=body,
                             headers={"Content-Type": CONTENT_TYPE[version]}, timeout=60)
    kind, code = check_soap_answer(response.status_code, response.headers["Content-Type"], response.content, version,
                                   fault_status=413)
    assert (kind, code) == ("fault", "MalformedRequest") and b"larger than 4194304 bytes" in response.content
    request = urllib.request.Request(edge_server.endpoint(version), data=body,
                                     headers={"Content-Type": CONTENT_TYPE[version]})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    answer = refused.value.read()
    assert check_soap_answer(refused.value.code, refused.value.headers["Content-Type"], answer, version,
                             fault_status=413) == ("fault", "MalformedRequest")


# --- slow and stalled clients ---

class SlowClients:
    """`count` connections that never complete their requests, in three ways: a body that stops after
    3 of 100,000 declared bytes; one that trickles a byte a second; one that sends all but 500 of the
    bytes it declared."""

    def __init__(self, server, count: int):
        self.server = server
        self.sockets: list[tuple[str, socket.socket]] = []
        self.stop = threading.Event()
        payload = envelope("11", get_balance("B"))
        for n in range(count):
            kind = ("stalled", "trickling", "short")[n % 3]
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            if kind == "stalled":
                sock.sendall(head(server, "11", framing=b"Content-Length: 100000\r\n") + payload[:3])
            elif kind == "trickling":
                sock.sendall(head(server, "11", framing=b"Content-Length: %d\r\n" % len(payload)))
            else:
                sock.sendall(head(server, "11", framing=b"Content-Length: %d\r\n" % (len(payload) + 500)) + payload)
            self.sockets.append((kind, sock))
        self.trickler = threading.Thread(target=self._trickle, args=(payload,), daemon=True)
        self.trickler.start()

    def _trickle(self, payload: bytes) -> None:
        position = 0
        while not self.stop.wait(1.0):
            for kind, sock in self.sockets:
                if kind == "trickling":
                    try:
                        sock.send(payload[position:position + 1])
                    except OSError:
                        pass
            position += 1

    def close(self) -> None:
        self.stop.set()
        self.trickler.join(timeout=5)
        for _, sock in self.sockets:
            sock.close()


def _timed_balances(server, book: str, until: float, at_most: int = 200) -> list[float]:
    """GetBalance calls in a row, each on a connection of its own, until `until` (monotonic) or
    `at_most` of them; the seconds each took."""
    data = envelope("11", get_balance(book), ADMIN, ADMIN_PASSWORD)
    took = []
    while len(took) < at_most and time.monotonic() < until:
        started = time.monotonic()
        response = requests.post(server.endpoint("11"), data=data, headers={"Content-Type": CONTENT_TYPE["11"]},
                                 timeout=10)
        took.append(time.monotonic() - started)
        assert response.status_code == 200, response.text[:300]
    return took


def test_slow_and_stalled_clients_hold_no_thread_and_are_dropped_in_time(edge_server):
    book = edge_server.new_book(cash=("ASSET", "USD"))
    opened = time.monotonic()
    slow = SlowClients(edge_server, 64)
    try:
        took = sorted(_timed_balances(edge_server, book.code, until=opened + BODY_TIMEOUT - 1.5))
        p99 = took[int(len(took) * 0.99) - 1]
        print(f"\n{len(took)} GetBalance calls with 64 slow clients connected: median {took[len(took) // 2] * 1000:.1f}"
              f" ms, p99 {p99 * 1000:.1f} ms, max {took[-1] * 1000:.1f} ms")
        assert len(took) >= 30 and p99 < 1.0
        # Past the deadline, every slow client has its fault and its connection closed.
        time.sleep(max(0.0, opened + BODY_TIMEOUT + 1 - time.monotonic()))
        for kind, sock in slow.sockets:
            status, headers, body = _read_response(sock, timeout=10)
            assert check_soap_answer(status, headers["content-type"], body, "11", fault_status=408) == (
                "fault", "MalformedRequest")
            assert f"did not arrive in full within {BODY_TIMEOUT} seconds".encode() in body, (kind, body)
    finally:
        slow.close()
    assert requests.get(edge_server.url + "/healthz", timeout=10).status_code == 200


def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive_time(edge_server):
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=30) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("version", VERSIONS)
def test_a_client_that_expects_100_continue_is_told_to_send_its_body_or_refused_before(edge_server, version):
    body = envelope(version, get_balance("B"))
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=30) as sock:
        sock.sendall(head(edge_server, version, b"Expect: 100-continue\r\n",
                          framing=b"Content-Length: %d\r\n" % len(body)))
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        status, headers, answer = _read_response(sock)
    assert check_soap_answer(status, headers["content-type"], answer, version) == ("fault", "BookNotFound")
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=30) as sock:
        sock.sendall(head(edge_server, version, b"Expect: 100-continue\r\n", framing=b"Content-Length: %d\r\n" % (
            5 * MIB)))
        status, headers, answer = _read_response(sock)  # at once, with no 100 Continue before it
    assert check_soap_answer(status, headers["content-type"], answer, version, fault_status=413) == (
        "fault", "MalformedRequest")


# --- how answers are framed (serving/responses.py writes them by hand) ---

@pytest.mark.parametrize("version", VERSIONS)
def test_a_kept_alive_connection_answers_requests_in_turn_and_pipelined(edge_server, version):
    body = envelope(version, get_balance("B"))
    request = head(edge_server, version, framing=b"Content-Length: %d\r\n" % len(body)) + body
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=30) as sock:
        sock.sendall(request)
        first = _read_response(sock)
        sock.sendall(request * 3)  # pipelined: each answered in its turn, framed by its own length
        answers = [first, *_read_responses(sock, 3)]
    for status, headers, answer in answers:
        assert check_soap_answer(status, headers["content-type"], answer, version) == ("fault", "BookNotFound")
        assert "connection" not in headers and "transfer-encoding" not in headers
        assert headers["date"].endswith(" GMT")
    assert len({answer for _, _, answer in answers}) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_chunked_request_is_read_to_its_end_and_the_one_pipelined_after_it_answered(edge_server, version):
    body = envelope(version, get_balance("B"))
    middle = len(body) // 2
    chunked = (head(edge_server, version, framing=b"Transfer-Encoding: chunked\r\n")
               + b"%x;part=one\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Checksum: none\r\n\r\n"
               % (middle, body[:middle], len(body) - middle, body[middle:]))
    sized = head(edge_server, version, framing=b"Content-Length: %d\r\n" % len(body)) + body
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=30) as sock:
        sock.sendall(chunked + sized + chunked)
        answers = _read_responses(sock, 3)
    for status, headers, answer in answers:
        assert check_soap_answer(status, headers["content-type"], answer, version) == ("fault", "BookNotFound")
    assert len({answer for _, _, answer in answers}) == 1


@pytest.mark.parametrize("closing", [b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n",
                                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
                         ids=["HTTP/1.0", "Connection: close"])
def test_a_request_that_does_not_keep_its_connection_is_answered_then_closed(edge_server, closing):
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=30) as sock:
        sock.sendall(closing)
        status, headers, answer = _read_response(sock)
        assert (status, headers["connection"], json.loads(answer)["status"]) == (200, "close", "ok")
        assert sock.recv(1) == b""


def test_a_head_request_gets_the_length_of_the_body_it_does_not_get(edge_server):
    with socket.create_connection(("127.0.0.1", edge_server.port), timeout=30) as sock:
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"}"):
            piece = sock.recv(65536)
            assert piece, data
            data += piece
    head_answer, get_answer = data.split(b"HTTP/1.1 ")[1:]
    assert head_answer.startswith(b"200 ") and head_answer.endswith(b"\r\n\r\n")  # no body before the next
    get_body = get_answer.partition(b"\r\n\r\n")[2]
    assert json.loads(get_body)["status"] == "ok"
    assert f"Content-Length: {len(get_body)}\r\n".encode() in head_answer


def test_a_stopping_server_answers_a_request_already_on_its_way_and_lets_idle_connections_go(request,
                                                                                             tmp_path_factory):
    own = start_server(request, tmp_path_factory, "sqlite", workers=1)
    body = envelope("11", get_balance("B"))
    with socket.create_connection(("127.0.0.1", own.port), timeout=30) as on_its_way, \
            socket.create_connection(("127.0.0.1", own.port), timeout=30) as idle:
        for sock in (on_its_way, idle):  # both served once, and kept alive
            sock.sendall(head(own, "11", framing=b"Content-Length: %d\r\n" % len(body)) + body)
            assert _read_response(sock)[0] == 500
        own.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        on_its_way.sendall(head(own, "11", framing=b"Content-Length: %d\r\n" % len(body)) + body)
        status, headers, _ = _read_response(on_its_way)
        assert (status, headers.get("connection")) == (500, "close")
        started = time.monotonic()
        assert idle.recv(1) == b""  # let go well before its keep-alive time is out
        assert time.monotonic() - started < 3
    own.process.wait(timeout=30)


def test_kept_alive_connections_arriving_one_by_one_are_spread_over_the_workers_a_thread_each(request,
                                                                                              tmp_path_factory):
    """Four workers of two threads, eight connections opened one after another and kept alive: each
    worker holds two (whichever worker woke first took a connection: five of eight were seen on one
    worker while another held none). A ninth, when every worker's threads are taken, is still taken
    and answered. (The deferral is longer than the default's 5 ms here, so that a worker this busy
    machine has not scheduled yet still gets its turn.)"""
    own = start_server(request, tmp_path_factory, "sqlite", workers=4,
                       extra_env={"LEDGER_THREADS": "2", "LEDGER_ACCEPT_DEFERRAL_SECONDS": "0.5"})
    serving = _booted_workers(own, 4)
    opened = []
    try:
        for _ in range(9):
            connection = socket.create_connection(("127.0.0.1", own.port), timeout=30)
            opened.append(connection)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n")
            assert _read_response(connection)[0] == 200  # so the connection is held by a worker
            if len(opened) == 8:
                held = _connections_per_worker(own.port, serving, opened)
                assert sorted(held.values()) == [2, 2, 2, 2], held
        assert sum(_connections_per_worker(own.port, serving, opened).values()) == 9
    finally:
        for connection in opened:
            connection.close()


def test_a_client_opening_a_connection_for_each_call_never_waits_for_a_worker_to_listen(request, tmp_path_factory):
    """Two workers of two threads, and a deferral long enough (2 s) that a wait for it cannot pass
    unseen: a client that opens a connection for each of 60 calls, one after another, and closes it
    after the answer, is answered at once every time. A worker used to stop listening for the
    deferral whenever it reached its threads, a connection waiting or not (counting one whose client
    had just closed it); with both workers deaf, the next connection waited the whole deferral, on
    about one call in six."""
    own = start_server(request, tmp_path_factory, "sqlite", workers=2,
                       extra_env={"LEDGER_THREADS": "2", "LEDGER_ACCEPT_DEFERRAL_SECONDS": "2"})
    _booted_workers(own, 2)
    waits = []
    for _ in range(60):
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", own.port), timeout=30) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n")
            assert _read_response(connection)[0] == 200
        waits.append(time.monotonic() - started)
    assert max(waits) < 1, [round(wait, 3) for wait in waits]


def _booted_workers(server, count: int) -> set[int]:
    """The server's `count` workers, once every one of them has booted."""
    deadline = time.monotonic() + 60
    while not (len(serving := workers(server.process.pid)) == count and all(booted(pid) for pid in serving)):
        assert time.monotonic() < deadline, "the workers did not boot"
        time.sleep(0.1)
    return serving


def _connections_per_worker(port: int, serving: set[int], opened: list[socket.socket]) -> dict[int, int]:
    """How many of the connections `opened` to the server's `port` each worker holds the other end of."""
    ours = {connection.getsockname()[1] for connection in opened}
    ends = {inode: remote for local, remote, inode in established_connections() if local == port and remote in ours}
    return {worker: len(socket_inodes(worker) & ends.keys()) for worker in serving}
