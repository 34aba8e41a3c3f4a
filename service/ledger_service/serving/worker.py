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
all the same (ledger_service/wsgi.py, environ key HTTP_REFUSAL): on the SOAP endpoints, as a SOAP fault of the
endpoint's version. After a refusal the connection is closed lingeringly, as nginx does: what the
client still sends is read and discarded, for a bounded time and amount, so that a client that writes
its whole body before it reads (urllib, requests and so zeep, Java's HttpURLConnection) receives the
fault instead of a broken pipe.
Reading a request is serving/requests.py's; the environ and the call, serving/application.py's;
writing the answer, serving/responses.py's.
"""
from __future__ import annotations

import asyncio
import errno
import os
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import uvloop
from gunicorn.workers.base import Worker

from ..soap.envelope import Limits
from ..soap.environ_keys import HTTP_REFUSAL
from . import application, memory, responses
from .requests import READ_SIZE, BufferBudget, HttpRefusal, LineLimits, Request, RequestReader, linger


class BufferingWorker(Worker):
    """gunicorn's `worker_class` for soap-ledger (deploy/gunicorn.conf.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits: Limits | None = None
        self.budget: BufferBudget | None = None
        self.requests: RequestReader | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.connections: set[asyncio.Task] = set()
        self.accept_deferral = 0.0  # LEDGER_ACCEPT_DEFERRAL_SECONDS

    @classmethod
    def check_config(cls, cfg, log):
        if cfg.is_ssl:
            raise RuntimeError("soap-ledger's worker serves plain HTTP: terminate TLS in the proxy (deploy/nginx)")

    def run(self):
        # gunicorn builds a worker in the master and loads the app in the worker's own process, from
        # the settings read there (wsgi.create_app): the limits come with it.
        self.limits = self.wsgi.limits
        self.accept_deferral = self.wsgi.settings.accept_deferral_seconds
        self.budget = BufferBudget(self.limits.max_buffered_bytes)
        self.requests = RequestReader(self.limits, self.budget, LineLimits(
            self.cfg.limit_request_line, self.cfg.limit_request_fields, self.cfg.limit_request_field_size),
            self.cfg.keepalive)
        # uvloop's loop and transports (libuv, in C) cost the worker a sixth less CPU a request than
        # asyncio's own, and switch its threads once a request rather than three times (bench/README.md,
        # "HTTP layer").
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(self._serve())

    def handle_exit(self, sig, frame):
        self.alive = False
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._stop)

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
        self._stop()
        self._pause_accepting()
        await self._finish_connections()
        self.pool.shutdown(wait=True)

    def _stop(self) -> None:
        self.stopping.set()
        self.requests.stop()

    async def _finish_connections(self) -> None:
        """Lets the open connections finish what they began, within the graceful timeout. An idle one
        stays open STOP_IDLE_SECONDS more (serving/requests.py): a request a client may already be
        sending on it is answered, with Connection: close."""
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.connections and time.monotonic() < deadline:
            self.notify()
            await asyncio.wait(set(self.connections), timeout=1.0)
        for task in self.connections:
            task.cancel()

    # Connections are accepted in a reader callback that also starts their task: nothing can come
    # between the two, so no accepted connection is ever dropped (as one could be by cancelling a task
    # that awaits an accept already made), and stopping is removing the callback.
    #
    # The workers share the listening sockets, and whichever wakes first takes a new connection: eight
    # kept-alive clients arriving together were seen spread 5, 2, 1 and 0 over four workers of two
    # threads, one worker's interpreter lock serving most of the load while another sat idle. So a
    # worker that holds as many connections as it has threads leaves a connection that is waiting, for
    # `accept_deferral` seconds, to the workers that have a thread free (as nginx's workers leave
    # connections to the less loaded ones), and takes it only if none did. Only one that is waiting:
    # a worker that stopped listening whenever it reached its threads, whether or not a connection
    # waited, was deaf when the next one came, and with its neighbours deaf too, a client opening a
    # connection a call waited the whole deferral on one call in six (two workers), on most calls
    # with eight such clients (four). The count includes connections whose client has just closed
    # them and whose close the loop has not read yet, so a deferral must stay short: 5 ms spread
    # eight clients two by each worker in 11 trials of 12, 2 ms in half (docs/operations.md, "Serving
    # model").

    def _accept_from_now(self) -> None:
        for listener in self.sockets:
            self.loop.add_reader(listener.fileno(), self._accept, listener)

    def _pause_accepting(self) -> None:
        for listener in self.sockets:
            self.loop.remove_reader(listener.fileno())

    def _accept(self, listener, deferred: bool = False) -> None:
        while len(self.connections) < self.cfg.worker_connections:
            if (not deferred and self.accept_deferral and self.cfg.workers > 1
                    and len(self.connections) >= self.cfg.threads):
                if _connection_waiting(listener):
                    self._pause_accepting()
                    self.loop.call_later(self.accept_deferral, self._accept_deferred)
                return
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

    def _accept_deferred(self) -> None:
        """Accepting again, first what no worker with a thread free took while this one waited."""
        if not self.alive:
            return
        self._resume_accepting()
        for listener in self.sockets:
            self._accept(listener, deferred=True)

    def _connection_closed(self, task: asyncio.Task) -> None:
        full = len(self.connections) >= self.cfg.worker_connections
        self.connections.discard(task)
        if full:
            self._resume_accepting()

    def _resume_accepting(self) -> None:
        if self.alive and len(self.connections) < self.cfg.worker_connections:
            self._accept_from_now()

    # --- one connection ---

    async def _connection(self, client: socket.socket, peer, local) -> None:
        reader, writer = await asyncio.open_connection(sock=client, limit=READ_SIZE)
        pending = b""  # what arrived after the previous request (a pipelined one)
        try:
            while True:
                try:
                    request, pending = await self.requests.read(reader, writer, pending)
                except HttpRefusal as refusal:
                    await self._answer_refusal(writer, refusal, peer, local)
                    await linger(reader, writer)
                    return
                if request is None:
                    return
                try:
                    keep_alive = await self._answer(writer, request, peer, local)
                finally:
                    self.budget.give_back(len(request.body))
                memory.trim_after(len(request.body))
                self.nr += 1
                if not keep_alive or not self.alive:
                    return
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            self.log.exception("connection from %s failed", peer)
        finally:
            writer.close()

    # --- answering ---

    async def _answer(self, writer, request: Request, peer, local) -> bool:
        """Runs the application on the request in a thread, writes its answer; whether the connection
        may serve another request."""
        environ = application.environ_of(request.method, request.target, request.http_version, request.headers,
                                         request.body, peer, local)
        status, headers, body = await self._in_thread(environ)
        keep_alive = request.keeps_connection and self.alive
        await self._write(writer, responses.response(status, headers, body, keep_alive=keep_alive,
                                                     head_only=request.method == b"HEAD"))
        self._log_access(status, environ, request.started)
        return keep_alive

    async def _in_thread(self, environ: dict) -> tuple[str, list, bytes]:
        """The application's answer, from one of the worker's threads. By hand rather than with
        run_in_executor, whose chaining of a concurrent future to an asyncio one cost 54,000
        instructions a request (bench/README.md, "HTTP layer"). The pool is shut down, its threads
        finished, before the loop closes (_serve), so the loop is always there to be told."""
        answered = self.loop.create_future()

        def settle(answer, error: BaseException | None) -> None:
            if answered.cancelled():  # the connection's task was cancelled: the worker is stopping
                return
            if error is None:
                answered.set_result(answer)
            else:
                answered.set_exception(error)

        def run() -> None:
            try:
                answer, error = application.call(self.wsgi, environ, self.log), None
            except BaseException as failure:  # raised in the connection's task, as run_in_executor would
                answer, error = None, failure
            self.loop.call_soon_threadsafe(settle, answer, error)

        self.pool.submit(run)
        return await answered

    async def _answer_refusal(self, writer, refusal: HttpRefusal, peer, local) -> None:
        """The application's answer to a refused request (it runs here, in the loop: it only writes a
        fault), then the connection is closed."""
        started = time.monotonic()
        environ = application.environ_of(refusal.method, refusal.target or b"/", b"1.1", [], b"", peer, local)
        environ[HTTP_REFUSAL] = refusal
        status, headers, body = application.call(self.wsgi, environ, self.log)
        await self._write(writer, responses.response(status, headers, body, keep_alive=False))
        self._log_access(status, environ, started)

    async def _write(self, writer, answer: bytes) -> None:
        writer.write(answer)
        if writer.transport.get_write_buffer_size():
            # A client that does not read what it asked for is dropped like one that does not send.
            async with asyncio.timeout(self.limits.body_timeout_seconds):
                await writer.drain()

    def _log_access(self, status: str, environ: dict, started: float) -> None:
        self.log.access(_Logged(int(status[:3])), None, environ, timedelta(seconds=time.monotonic() - started))


@dataclass(frozen=True)
class _Logged:
    """What the access log reads of a response."""

    status_code: int


def _connection_waiting(listener: socket.socket) -> bool:
    """Whether a connection is waiting on the listening socket to be accepted."""
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    return bool(poller.poll(0))
