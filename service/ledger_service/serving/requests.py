"""Reading one HTTP/1.1 request whole, within its deadline and its limits, without a thread
(serving/worker.py runs this in its event loop): what the HTTP layer refuses is an HttpRefusal.

h11 parses HTTP/1.1. This module is strict where h11 is lenient, because a proxy in front may read
the same bytes differently (request smuggling): a line ending without CR, an obsolete folded header
line, and a request with both Content-Length and Transfer-Encoding are refused.
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from http import HTTPStatus

import h11

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
_REQUEST_LINE = re.compile(rb"\s*([!-~]+) +([!-~]+)")


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
    event: h11.Request
    body: bytes
    started: float


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

    async def read(self, reader, writer, protocol: h11.Connection, pending: bytes) -> tuple[Request | None, bytes]:
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
            head = await self._read_head(reader, pending, deadline)
            protocol.receive_data(head)
            request = _next_event(protocol)
            _ensure_http_1(request)
            _ensure_unambiguous_framing(request)
            declared = _content_length(request)
            if declared is not None and declared > self.limits.max_body_bytes:
                raise self._too_large()
            if protocol.they_are_waiting_for_100_continue:
                writer.write(CONTINUE)
            body = await self._read_body(reader, protocol, deadline)
        except HttpRefusal as refusal:
            raise refusal.read_from(head) from None
        leftover, _ = protocol.trailing_data
        return Request(request, body, started), bytes(leftover)

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

    async def _read_head(self, reader, received: bytes, deadline: float) -> bytes:
        """The request's header section and whatever followed it, once the section is complete and
        strictly well-formed."""
        buffer = bytearray(received)
        while True:
            end = _end_of_head(buffer)
            if (end or len(buffer)) > MAX_HEAD_BYTES:
                raise HttpRefusal("431 Request Header Fields Too Large",
                                  f"the request's header section is larger than {MAX_HEAD_BYTES} bytes"
                                  ).read_from(bytes(buffer))
            if end is not None:
                _ensure_strict_head(bytes(buffer[:end]), self.line_limits)
                return bytes(buffer)
            try:
                buffer += await self._read_before(reader, deadline)
            except HttpRefusal as refusal:
                raise refusal.read_from(bytes(buffer)) from None

    async def _read_body(self, reader, protocol: h11.Connection, deadline: float) -> bytes:
        body = bytearray()
        try:
            while True:
                event = _next_event(protocol)
                if event is h11.NEED_DATA:
                    protocol.receive_data(await self._read_before(reader, deadline))
                elif isinstance(event, h11.Data):
                    if len(body) + len(event.data) > self.limits.max_body_bytes:
                        raise self._too_large()
                    self.budget.take(len(event.data))
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return bytes(body)
        except BaseException:
            self.budget.give_back(len(body))
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


def _next_event(protocol: h11.Connection):
    try:
        return protocol.next_event()
    except h11.RemoteProtocolError as error:
        # h11's message ends with the offending bytes, which the answer has no need to echo.
        reason = re.sub(r": (bytearray\(|b['\"]).*", "", str(error), flags=re.DOTALL)
        raise HttpRefusal(_status_line(error.error_status_hint), f"the request's HTTP is not valid: {reason}") from None


def _status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _end_of_head(buffer: bytearray) -> int | None:
    """Where the header section ends (its empty line included), as h11 sees it (a bare LF counts)."""
    match = re.search(rb"\n\r?\n", buffer)
    return match.end() if match else None


def _ensure_strict_head(head: bytes, cfg: LineLimits) -> None:
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


def _ensure_http_1(request: h11.Request) -> None:
    """h11 reads any HTTP/d.d request line; only 1.0 and 1.1 frame their messages as it does."""
    if request.http_version not in (b"1.0", b"1.1"):
        raise HttpRefusal("505 HTTP Version Not Supported",
                          f"HTTP/{request.http_version.decode()} is not spoken here; send HTTP/1.1")


def _ensure_unambiguous_framing(request: h11.Request) -> None:
    names = {name for name, _ in request.headers}
    if b"transfer-encoding" in names and b"content-length" in names:
        raise HttpRefusal("400 Bad Request", "a request must not carry both Content-Length and Transfer-Encoding")


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)
    return None


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
