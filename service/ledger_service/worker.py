"""The gunicorn worker that serves soap-ledger: each request is read whole, bounded in size and in
time, by one asyncio loop, and only then handed to a thread that runs the WSGI application.

Why not gunicorn's gthread: there a thread reads the request, so a client that sends its headers and
then trickles or stalls its body holds that thread until the body arrives, and a handful of such
sockets stalls a worker. Here a slow or stalled client costs a coroutine and its buffer, never a
thread; a request not complete within LEDGER_BODY_TIMEOUT_SECONDS of its first byte is answered with
a fault and dropped. The application runs as before, in `threads` threads per worker, with the same
database pool.

What the HTTP layer refuses (bad syntax, a header section too large or with too many fields,
unsupported or conflicting framing, a body too large or too slow) is answered by the application
all the same (wsgi.py, environ key HTTP_REFUSAL): on the SOAP endpoints, as a SOAP fault of the
endpoint's version. After a refusal the connection is closed lingeringly, as nginx does: what the
client still sends is read and discarded, for a bounded time and amount, so that a client that writes
its whole body before it reads (urllib, requests and so zeep, Java's HttpURLConnection) receives the
fault instead of a broken pipe.

h11 parses HTTP/1.1. This module is strict where h11 is lenient, because a proxy in front may read
the same bytes differently (request smuggling): a line ending without CR, an obsolete folded header
line, and a request with both Content-Length and Transfer-Encoding are refused.
"""
from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formatdate
from http import HTTPStatus
from io import BytesIO
from urllib.parse import unquote_to_bytes, urlsplit

import h11
from gunicorn.workers.base import Worker

from .domain.errors import FaultCode, LedgerError
from .soap.envelope import Limits
from .soap.environ_keys import HTTP_REFUSAL

READ_SIZE = 65536
# The whole header section, request line included; gunicorn's limit_request_line,
# limit_request_field_size and limit_request_fields bound its lines and their number.
MAX_HEAD_BYTES = 32768
# Lingering close, as nginx's lingering_time and lingering_timeout; past LINGER_BYTES discarded the
# client is cut off (it would be sending far more than any request may hold).
LINGER_SECONDS = 30.0
LINGER_IDLE_SECONDS = 5.0
LINGER_BYTES = 32 * 1024 * 1024
_REQUEST_LINE = re.compile(rb"\s*([!-~]+) +([!-~]+)")


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
class _Request:
    event: h11.Request
    body: bytes
    started: float


class _BufferBudget:
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


class BufferingWorker(Worker):
    """gunicorn's `worker_class` for soap-ledger (deploy/gunicorn.conf.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits: Limits | None = None
        self.budget: _BufferBudget | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.connections: set[asyncio.Task] = set()

    @classmethod
    def check_config(cls, cfg, log):
        if cfg.is_ssl:
            raise RuntimeError("soap-ledger's worker serves plain HTTP: terminate TLS in the proxy (deploy/nginx)")

    def run(self):
        # gunicorn builds a worker in the master and loads the app in the worker's own process, from
        # the settings read there (wsgi.create_app): the limits come with it.
        self.limits = self.wsgi.limits
        self.budget = _BufferBudget(self.limits.max_buffered_bytes)
        asyncio.run(self._serve())

    def handle_exit(self, sig, frame):
        self.alive = False
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)

    # --- the worker's life ---

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.pool = ThreadPoolExecutor(self.cfg.threads, thread_name_prefix="request")
        for listener in self.sockets:
            listener.setblocking(False)
        self._accept_from_now()
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            if self.nr >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                break
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=1.0)
            except TimeoutError:
                pass
        self.alive = False
        self._pause_accepting()
        await self._finish_connections()
        self.pool.shutdown(wait=True)

    async def _finish_connections(self) -> None:
        """Lets the open connections finish what they began, within the graceful timeout. An idle one
        stays open for the rest of its keep-alive time: a request a client may already be sending on it
        is answered, with Connection: close."""
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.connections and time.monotonic() < deadline:
            self.notify()
            await asyncio.wait(set(self.connections), timeout=1.0)
        for task in self.connections:
            task.cancel()

    # Connections are accepted in a reader callback that also starts their task: nothing can come
    # between the two, so no accepted connection is ever dropped (as one could be by cancelling a task
    # that awaits an accept already made), and stopping is removing the callback.

    def _accept_from_now(self) -> None:
        for listener in self.sockets:
            self.loop.add_reader(listener.fileno(), self._accept, listener)

    def _pause_accepting(self) -> None:
        for listener in self.sockets:
            self.loop.remove_reader(listener.fileno())

    def _accept(self, listener) -> None:
        while len(self.connections) < self.cfg.worker_connections:
            try:
                client, peer = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as error:
                if error.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                # Out of descriptors or memory: give connections a moment to close.
                self._pause_accepting()
                self.loop.call_later(0.1, self._resume_accepting)
                return
            if client.family in (socket.AF_INET, socket.AF_INET6):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self.loop.create_task(self._connection(client, peer, listener.getsockname()))
            self.connections.add(task)
            task.add_done_callback(self._connection_closed)
        self._pause_accepting()  # at the limit; _connection_closed resumes

    def _connection_closed(self, task: asyncio.Task) -> None:
        full = len(self.connections) >= self.cfg.worker_connections
        self.connections.discard(task)
        if full:
            self._resume_accepting()

    def _resume_accepting(self) -> None:
        if self.alive:
            self._accept_from_now()

    # --- one connection ---

    async def _connection(self, client: socket.socket, peer, local) -> None:
        reader, writer = await asyncio.open_connection(sock=client, limit=READ_SIZE)
        pending = b""  # what arrived after the previous request (a pipelined one)
        try:
            while True:
                protocol = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
                try:
                    request, pending = await self._read_request(reader, writer, protocol, pending)
                except HttpRefusal as refusal:
                    await self._answer_refusal(writer, protocol, refusal, peer, local)
                    await _linger(reader, writer)
                    return
                if request is None:
                    return
                try:
                    keep_alive = await self._answer(writer, protocol, request, peer, local)
                finally:
                    self.budget.give_back(len(request.body))
                self.nr += 1
                if not keep_alive or not self.alive:
                    return
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            self.log.exception("connection from %s failed", peer)
        finally:
            writer.close()

    async def _read_request(self, reader, writer, protocol: h11.Connection,
                            pending: bytes) -> tuple[_Request | None, bytes]:
        """The next request, whole, and what arrived after it; (None, b"") when the client closed the
        connection or left it idle."""
        if not pending:
            try:
                pending = await asyncio.wait_for(reader.read(READ_SIZE), timeout=self.cfg.keepalive)
            except TimeoutError:
                return None, b""
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
                writer.write(protocol.send(h11.InformationalResponse(status_code=100, headers=[])))
            body = await self._read_body(reader, protocol, deadline)
        except HttpRefusal as refusal:
            raise refusal.read_from(head) from None
        leftover, _ = protocol.trailing_data
        return _Request(request, body, started), bytes(leftover)

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
                _ensure_strict_head(bytes(buffer[:end]), self.cfg)
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
            data = await asyncio.wait_for(reader.read(READ_SIZE), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise HttpRefusal("408 Request Timeout", "the request did not arrive in full within "
                              f"{self.limits.body_timeout_seconds:g} seconds") from None
        if not data:
            # Perhaps only half-closed, and waiting for the answer.
            raise HttpRefusal("400 Bad Request", "the connection ended before the request was complete")
        return data

    def _too_large(self) -> HttpRefusal:
        return HttpRefusal("413 Content Too Large", f"request body is larger than {self.limits.max_body_bytes} bytes")

    # --- answering ---

    async def _answer(self, writer, protocol: h11.Connection, request: _Request, peer, local) -> bool:
        """Runs the application on the request in a thread, writes its answer; whether the connection
        may serve another request."""
        event = request.event
        environ = self._environ(event.method, event.target, event.http_version, event.headers, request.body, peer,
                                local)
        status, headers, body = await self.loop.run_in_executor(self.pool, self._call_application, environ)
        if not self.alive:
            headers.append(("Connection", "close"))
        await self._write(writer, protocol, status, headers, body if request.event.method != b"HEAD" else b"")
        self._log_access(status, environ, request.started)
        return protocol.our_state is h11.DONE and protocol.their_state is h11.DONE

    async def _answer_refusal(self, writer, protocol: h11.Connection, refusal: HttpRefusal, peer, local) -> None:
        """The application's answer to a refused request (it runs here, in the loop: it only writes a
        fault), then the connection is closed."""
        started = time.monotonic()
        environ = self._environ(refusal.method, refusal.target or b"/", b"1.1", [], b"", peer, local)
        environ[HTTP_REFUSAL] = refusal
        status, headers, body = self._call_application(environ)
        await self._write(writer, protocol, status, [*headers, ("Connection", "close")], body)
        self._log_access(status, environ, started)

    def _call_application(self, environ: dict) -> tuple[str, list, bytes]:
        answer: list = []

        def start_response(status, headers, exc_info=None):
            answer[:] = [status, list(headers)]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        try:
            result = self.wsgi(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:
            self.log.exception("Error handling request %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            text = b"internal server error\n"
            return "500 Internal Server Error", [("Content-Type", "text/plain"),
                                                 ("Content-Length", str(len(text)))], text
        return answer[0], answer[1], b"".join(chunks)

    async def _write(self, writer, protocol: h11.Connection, status: str, headers: list, body: bytes) -> None:
        code, _, reason = status.partition(" ")
        headers = [("Date", formatdate(usegmt=True)), *headers]
        writer.write(protocol.send(h11.Response(status_code=int(code), reason=reason, headers=headers)))
        if body:
            writer.write(protocol.send(h11.Data(data=body)))
        writer.write(protocol.send(h11.EndOfMessage()))
        # A client that does not read what it asked for is dropped like one that does not send.
        await asyncio.wait_for(writer.drain(), timeout=self.limits.body_timeout_seconds)

    @staticmethod
    def _environ(method: bytes, target: bytes, http_version: bytes, headers, body: bytes, peer, local) -> dict:
        """The request as PEP 3333 describes it."""
        target = urlsplit(target)  # origin-form, or absolute-form from a proxy
        environ = {
            "REQUEST_METHOD": method.decode("latin-1"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(target.path or b"/").decode("latin-1"),
            "QUERY_STRING": target.query.decode("latin-1"),
            "SERVER_NAME": str(local[0]) if isinstance(local, tuple) else "localhost",
            "SERVER_PORT": str(local[1]) if isinstance(local, tuple) else "",
            "SERVER_PROTOCOL": f"HTTP/{http_version.decode('latin-1')}",
            "REMOTE_ADDR": str(peer[0]) if isinstance(peer, tuple) else "",
            "REMOTE_PORT": str(peer[1]) if isinstance(peer, tuple) else "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        for name, value in headers:
            if b"_" in name:
                continue  # HTTP_X_A would not tell X-A from X_A: a proxy may have checked the other one
            key = name.decode("latin-1").upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                if key == "CONTENT_TYPE":
                    environ[key] = value.decode("latin-1")
                continue
            key = "HTTP_" + key
            value = value.decode("latin-1")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _log_access(self, status: str, environ: dict, started: float) -> None:
        self.log.access(_Logged(int(status[:3])), None, environ, timedelta(seconds=time.monotonic() - started))


@dataclass(frozen=True)
class _Logged:
    """What the access log reads of a response."""

    status_code: int


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


def _ensure_strict_head(head: bytes, cfg) -> None:
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


async def _linger(reader, writer) -> None:
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
