"""Reading one HTTP/1.1 request whole, within its deadline and its limits, without a thread
(serving/worker.py runs this in its event loop): what the HTTP layer refuses is an HttpRefusal.

llhttp (through httptools) parses the request line, the header fields and chunked bodies. This module
is strict where llhttp is lenient, because a proxy in front may read the same bytes differently
(request smuggling): a line ending without CR, an obsolete folded header line, a request with both
Content-Length and Transfer-Encoding, a transfer coding other than chunked alone, an HTTP/1.1 request
without exactly one Host, and an HTTP version other than 1.0 and 1.1 are refused. Those checks read
the header section before llhttp does, so this module frames each message itself and never lets the
parser see a byte of the next pipelined request before its own head is checked: the header section is
fed up to its empty line, a Content-Length body is cut at its length without the parser, and a chunked
body is fed a line at a time (such a message can only end at the end of a line).
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import httptools

from ..domain.errors import FaultCode, LedgerError
from ..soap.envelope import Limits
from .responses import CONTINUE

READ_SIZE = 65536
# The whole header section, request line included; gunicorn's limit_request_line,
# limit_request_field_size and limit_request_fields bound its lines and their number.
MAX_HEAD_BYTES = 32768
# Lingering close, as nginx's lingering_time and lingering_timeout; past LINGER_BYTES discarded the
# client is cut off (it would be sending far more than any request may hold).
LINGER_SECONDS = 30.0
LINGER_IDLE_SECONDS = 5.0
LINGER_BYTES = 32 * 1024 * 1024
STOP_IDLE_SECONDS = 1.0
# What a refusal's answer may take from a request line, however malformed the rest.
_REQUEST_LINE = re.compile(rb"\s*([!-~]+) +([!-~]+)")
# RFC 9112's request-line: method SP request-target SP HTTP-version (llhttp takes several spaces).
_STRICT_REQUEST_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([!-~]+) HTTP/([0-9]\.[0-9])")


@dataclass(frozen=True)
class LineLimits:
    """gunicorn's limits on a request's lines (its settings of the same names)."""

    limit_request_line: int
    limit_request_fields: int
    limit_request_field_size: int


class HttpRefusal(Exception):
    """A request the HTTP layer refuses: `status` is its HTTP status outside the SOAP endpoints,
    `error` the fault the SOAP endpoints answer with; `method` and `target` what its request line
    said, if it could be read."""

    def __init__(self, status: str, message: str, code: FaultCode = FaultCode.MalformedRequest,
                 retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.error = LedgerError(code, message, retry_after=retry_after)
        self.method = self.target = b""

    def read_from(self, head: bytes) -> "HttpRefusal":
        """Takes the method and target from the start of the request, when it has a request line."""
        line = _REQUEST_LINE.match(head)
        if line and not self.target:
            self.method, self.target = line.groups()
        return self


@dataclass
class Request:
    method: bytes
    target: bytes
    http_version: bytes
    headers: list[tuple[bytes, bytes]]  # names in lower case, values without surrounding whitespace
    body: bytes
    started: float
    # The client lets the connection serve another request: HTTP/1.1, no `Connection: close`, no
    # protocol switch proposed (Upgrade, CONNECT), as h11 and gunicorn decide it.
    keeps_connection: bool


class BufferBudget:
    """The bytes of request bodies one worker holds at once. Bodies are read whole before a thread runs
    them, so without a bound many clients sending large bodies at once could exhaust its memory; past
    the bound a request is refused (Unavailable) rather than held."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.limit:
            raise HttpRefusal("503 Service Unavailable", "the service is receiving too much at once; try again "
                              "shortly", FaultCode.Unavailable, retry_after=1)
        self.held += size

    def give_back(self, size: int) -> None:
        self.held -= size


class RequestReader:
    """Reads the requests of one worker's connections, within `limits`, holding their bodies against
    `budget`; a connection idle `keepalive` seconds before its next request is let go."""

    def __init__(self, limits: Limits, budget: BufferBudget, line_limits: LineLimits, keepalive: float):
        self.limits = limits
        self.budget = budget
        self.line_limits = line_limits
        self.keepalive = keepalive
        self.stopping = False
        # The waits of kept-alive connections for their next request.
        self._idle: set[asyncio.Timeout] = set()

    def stop(self) -> None:
        """The worker is stopping: an idle connection waits STOP_IDLE_SECONDS more for its next request."""
        if self.stopping:
            return
        self.stopping = True
        deadline = asyncio.get_running_loop().time() + STOP_IDLE_SECONDS
        for idle in self._idle:
            idle.reschedule(deadline)

    async def read(self, reader, writer, pending: bytes) -> tuple[Request | None, bytes]:
        """The next request, whole, and what arrived after it; (None, b"") when the client closed the
        connection or left it idle."""
        if not pending:
            pending = await self._first_bytes(reader)
            if not pending:
                return None, b""
        started = time.monotonic()
        deadline = started + self.limits.body_timeout_seconds
        head = pending
        try:
            head, end, (method, target, version) = await self._read_head(reader, pending, deadline)
            message = _Message()
            parser = httptools.HttpRequestParser(message)
            _feed(parser, memoryview(head)[:end])
            _ensure_one_host(version, message.headers)
            declared = _content_length(message.headers)
            if declared is not None and declared > self.limits.max_body_bytes:
                raise self._too_large()
            chunked = any(name == b"transfer-encoding" for name, _ in message.headers)
            received = head[end:]
            if (chunked or declared) and not received and version == b"1.1" and _expects_continue(message.headers):
                writer.write(CONTINUE)
            if chunked:
                body, leftover = await self._read_chunked(reader, parser, message, received, deadline)
            else:
                body, leftover = await self._read_sized(reader, declared or 0, received, deadline)
        except HttpRefusal as refusal:
            raise refusal.read_from(head) from None
        return Request(method, target, version, message.headers, body, started,
                       _keeps_connection(method, version, message.headers)), leftover

    async def _first_bytes(self, reader) -> bytes:
        """The first bytes of the next request on a kept-alive connection, or b"" once it has been idle
        for the keep-alive time. Once the worker is stopping, a request already on its way is still
        awaited for STOP_IDLE_SECONDS, then the connection is let go (gunicorn's gthread lingers too)."""
        try:
            async with asyncio.timeout(STOP_IDLE_SECONDS if self.stopping else self.keepalive) as idle:
                self._idle.add(idle)
                try:
                    return await reader.read(READ_SIZE)
                finally:
                    self._idle.discard(idle)
        except TimeoutError:
            return b""

    async def _read_head(self, reader, received: bytes, deadline: float) -> tuple[bytes, int, tuple[bytes, ...]]:
        """The request's header section and whatever followed it, once the section is complete and
        strictly well-formed; where the section ends; its request line's method, target and version."""
        buffer = bytearray(received)
        while True:
            end = _end_of_head(buffer)
            if (end or len(buffer)) > MAX_HEAD_BYTES:
                raise HttpRefusal("431 Request Header Fields Too Large",
                                  f"the request's header section is larger than {MAX_HEAD_BYTES} bytes"
                                  ).read_from(bytes(buffer))
            if end is not None:
                request_line = _ensure_strict_head(bytes(buffer[:end]), self.line_limits)
                return bytes(buffer), end, request_line
            try:
                buffer += await self._read_before(reader, deadline)
            except HttpRefusal as refusal:
                raise refusal.read_from(bytes(buffer)) from None

    async def _read_sized(self, reader, length: int, received: bytes, deadline: float) -> tuple[bytes, bytes]:
        """A body of `length` bytes (Content-Length), the first of them in `received`, and what
        followed it."""
        body = bytearray()
        try:
            while True:
                piece = received[:length - len(body)]
                self.budget.take(len(piece))
                body += piece
                if len(body) == length:
                    return bytes(body), received[len(piece):]
                received = await self._read_before(reader, deadline)
        except BaseException:
            self.budget.give_back(len(body))
            raise

    async def _read_chunked(self, reader, parser, message: "_Message", received: bytes,
                            deadline: float) -> tuple[bytes, bytes]:
        """A chunked body, decoded by llhttp, and what followed it. Fed a line at a time: the message
        ends at the end of its last line, so the parser stops exactly there. Its framing (chunk sizes,
        extensions, trailers) may not outweigh its data beyond MAX_HEAD_BYTES: llhttp holds a
        trailer's value whole, and a client could otherwise send framing without end."""
        held = framing = 0
        try:
            while True:
                view, start = memoryview(received), 0
                while start < len(view):
                    end = received.find(b"\n", start) + 1 or len(view)
                    _feed(parser, view[start:end])
                    framing += end - start - (len(message.body) - held)
                    start = end
                    if len(message.body) > self.limits.max_body_bytes:
                        raise self._too_large()
                    if framing > MAX_HEAD_BYTES + len(message.body):
                        raise HttpRefusal("400 Bad Request", "the chunked body's framing (chunk sizes, extensions "
                                          "and trailers) is far larger than its data")
                    self.budget.take(len(message.body) - held)
                    held = len(message.body)
                    if message.complete:
                        return bytes(message.body), received[start:]
                received = await self._read_before(reader, deadline)
        except BaseException:
            self.budget.give_back(held)
            raise

    async def _read_before(self, reader, deadline: float) -> bytes:
        """The next bytes the client sends, if they come before the request's deadline."""
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                data = await reader.read(READ_SIZE)
        except TimeoutError:
            raise HttpRefusal("408 Request Timeout", "the request did not arrive in full within "
                              f"{self.limits.body_timeout_seconds:g} seconds") from None
        if not data:
            # Perhaps only half-closed, and waiting for the answer.
            raise HttpRefusal("400 Bad Request", "the connection ended before the request was complete")
        return data

    def _too_large(self) -> HttpRefusal:
        return HttpRefusal("413 Content Too Large", f"request body is larger than {self.limits.max_body_bytes} bytes")


class _Message:
    """What llhttp reports of one request (httptools' callbacks): its header fields, its chunked
    body decoded, and whether it is complete. Trailer fields are read and dropped, as h11 and
    gunicorn drop them."""

    def __init__(self):
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.in_body = self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.in_body:
            self.headers.append((name.lower(), value.strip(b" \t")))

    def on_headers_complete(self) -> None:
        self.in_body = True

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.complete = True


def _feed(parser, data) -> None:
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        # Upgrade or CONNECT: llhttp stops after the head; the request is answered as any other (its
        # body framed here all the same), then its connection closed (Request.keeps_connection).
        pass
    except httptools.HttpParserError as error:
        raise HttpRefusal("400 Bad Request", f"the request's HTTP is not valid: {error}") from None


def _end_of_head(buffer: bytearray) -> int | None:
    """Where the header section ends (its empty line included); a bare LF counts, so that such a section
    is found, and refused."""
    match = re.search(rb"\n\r?\n", buffer)
    return match.end() if match else None


def _ensure_strict_head(head: bytes, cfg: LineLimits) -> tuple[bytes, ...]:
    """The request line's method, target and version, once the whole section has passed."""
    lines = head.split(b"\n")[:-2]  # the empty line, and what follows its LF
    if head.count(b"\n") != head.count(b"\r\n"):
        raise HttpRefusal("400 Bad Request", "every line of the request's header section must end in CRLF")
    request_line, fields = lines[0].rstrip(b"\r"), [line.rstrip(b"\r") for line in lines[1:]]
    if len(request_line) > cfg.limit_request_line > 0:
        raise HttpRefusal("414 URI Too Long", f"the request line is longer than {cfg.limit_request_line} bytes")
    if len(fields) > cfg.limit_request_fields:
        raise HttpRefusal("431 Request Header Fields Too Large",
                          f"the request has more than {cfg.limit_request_fields} header fields")
    for field in fields:
        if len(field) > cfg.limit_request_field_size > 0:
            raise HttpRefusal("431 Request Header Fields Too Large",
                              f"a header field is longer than {cfg.limit_request_field_size} bytes")
        if field[:1] in (b" ", b"\t"):
            raise HttpRefusal("400 Bad Request", "obsolete line folding is not accepted in header fields")
    method_target_version = _http_1_request_line(request_line)
    _ensure_unambiguous_framing([field.partition(b":") for field in fields])
    return method_target_version


def _http_1_request_line(request_line: bytes) -> tuple[bytes, ...]:
    """The method, target and version of a request line of HTTP/1.0 or 1.1, the only versions that
    frame their messages as this module does."""
    line = _STRICT_REQUEST_LINE.fullmatch(request_line)
    if line is None:
        raise HttpRefusal("400 Bad Request", "the request line must be: method, one space, target, one space, "
                          "HTTP version")
    if line[3] not in (b"1.0", b"1.1"):
        raise HttpRefusal("505 HTTP Version Not Supported",
                          f"HTTP/{line[3].decode()} is not spoken here; send HTTP/1.1")
    return line.groups()


def _ensure_unambiguous_framing(fields: list[tuple[bytes, bytes, bytes]]) -> None:
    codings = [value.strip(b" \t").lower() for name, _, value in fields if name.lower() == b"transfer-encoding"]
    if codings and any(name.lower() == b"content-length" for name, _, _ in fields):
        raise HttpRefusal("400 Bad Request", "a request must not carry both Content-Length and Transfer-Encoding")
    if codings and codings != [b"chunked"]:
        raise HttpRefusal("501 Not Implemented", "only Transfer-Encoding: chunked, alone, is supported")


def _ensure_one_host(version: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    hosts = sum(name == b"host" for name, _ in headers)
    if hosts > 1 or (hosts == 0 and version == b"1.1"):
        raise HttpRefusal("400 Bad Request", "an HTTP/1.1 request must carry exactly one Host header field")


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value)  # llhttp has refused any but digits, and a second one
    return None


def _expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"expect" and value.lower() == b"100-continue" for name, value in headers)


def _keeps_connection(method: bytes, version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    options = {option.strip(b" \t").lower() for name, value in headers if name == b"connection"
               for option in value.split(b",")}
    return (version == b"1.1" and b"close" not in options and method != b"CONNECT"
            and not any(name == b"upgrade" for name, _ in headers))


async def linger(reader, writer) -> None:
    """Reads and discards what the client still sends, after the answer, before the connection closes."""
    try:
        await asyncio.wait_for(writer.drain(), timeout=LINGER_IDLE_SECONDS)
        if writer.can_write_eof():
            writer.write_eof()
        deadline, discarded = time.monotonic() + LINGER_SECONDS, 0
        while discarded < LINGER_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            data = await asyncio.wait_for(reader.read(READ_SIZE), timeout=min(remaining, LINGER_IDLE_SECONDS))
            if not data:
                return
            discarded += len(data)
    except (ConnectionError, TimeoutError):
        pass
