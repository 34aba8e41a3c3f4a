"""Instructions a call, counted by valgrind (callgrind): the same figure on every run of the same code,
whatever else the machine does, where lifecycle.py's rates move with its speed.

    .venv/bin/python bench/instructions.py [--calls N] [--only NAME ...] [--postgres-url URL]

In this machine's Python, on PostgreSQL, one process per figure, run under callgrind with its count
switched on for the measured calls only (after 100 unmeasured ones, or 2 batches, which build what
later calls reuse), and with PYTHONHASHSEED fixed (a random one orders sets and dicts of strings
differently in each process, and Spyne's instructions a call with them, by a tenth). The service's WSGI application (`ledger_service.wsgi.LedgerApplication`, as a worker builds it)
answering PostEntry on 50 + 50 accounts, GetBalance, and PostEntries batches of 1000 entries on 4 + 4;
bare_spyne.py's application answering the same GetBalance envelopes; and ceilings.py's minimal writer
writing one entry a transaction, and 1000; and the HTTP layer alone: the service's gunicorn worker, and
gunicorn's sync worker that serves bare_spyne.py, serving an application that answers at once. Each
figure is the process's user-space instructions a call (a batch's: an entry). What the kernel does for a round trip and what PostgreSQL does for a
statement are not in them: lifecycle.py measures those with everything else, in rates.

valgrind must be installed (`apt-get install valgrind`); the databases are throwaway ones, dropped at
the end.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import lifecycle
from batch_allocation import answer
from ceilings import BATCH_SIZE, MinimalWriter
from throughput import DEFAULT_POSTGRES_URL, SOAP_PATH, envelope, ledger_service, throwaway_database, workloads

WARM_UP_CALLS = 100
WARM_UP_BATCHES = 2
COLLECTED = re.compile(r"Collected : (\d+)")
# (what is measured, how many calls of it as a share of --calls, what a figure counts, and how many of
# those a call is)
MEASUREMENTS = {
    "post": ("service: PostEntry, 50 + 50 accounts", 1, "a call", 1),
    "balance": ("service: GetBalance", 1, "a call", 1),
    "bare-balance": ("bare Spyne + one SELECT: GetBalance", 1, "a call", 1),
    "batch": ("service: PostEntries, 1000 entries a batch", 0.01, "an entry", BATCH_SIZE),
    "minimal-single": ("minimal psycopg ledger: one transaction per entry", 1, "an entry", 1),
    "minimal-batch": ("minimal psycopg ledger: one transaction per 1000 entries", 0.01, "an entry", BATCH_SIZE),
    "http-layer": ("the service's gunicorn worker, answering at once: a request", 1, "a request", 1),
    "http-layer-sync": ("gunicorn's sync worker (bare Spyne's), answering at once: a request", 1, "a request", 1),
}
ADMIN = "bench-admin"
# The HTTP layer's client: in its own process, which callgrind does not follow (its instructions are not
# counted), CONNECTIONS kept-alive connections in turn-taking threads, as a SOAP client pool would.
HTTP_CONNECTIONS = 4
HTTP_CLIENT = """
import http.client, sys, threading
port, requests, body = int(sys.argv[1]), int(sys.argv[2]), sys.stdin.buffer.read()
failures = []
def send():
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for _ in range(requests):
            connection.request("POST", "/v1/soap11", body, {"Content-Type": "text/xml; charset=utf-8"})
            response = connection.getresponse()
            if response.status != 200 or not response.read():
                raise RuntimeError(f"HTTP {response.status}")
    except Exception as failure:
        failures.append(repr(failure))
threads = [threading.Thread(target=send) for _ in range(%d)]
for thread in threads: thread.start()
for thread in threads: thread.join()
sys.exit("; ".join(failures) or None)
""" % HTTP_CONNECTIONS


def counted(calls: Callable[[], None]) -> None:
    """Runs `calls` with callgrind's count switched on (this process runs under callgrind), and the
    cyclic garbage collector off: what a collection costs depends on all that the process holds, not
    on the calls (the bare Spyne application's count grew with the number of calls with it on)."""
    gc.collect()
    gc.disable()
    subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True)
    try:
        calls()
    finally:
        subprocess.run(["callgrind_control", "--instr=off", str(os.getpid())], check=True, capture_output=True)
        gc.enable()


class InProcessService:
    """The service's WSGI application in this process, as a worker builds it, called as ADMIN."""

    def __init__(self, database_url: str, password: str):
        from ledger_service.settings import Settings
        from ledger_service.wsgi import LedgerApplication

        self.application = LedgerApplication(Settings.from_environment({"LEDGER_DATABASE_URL": database_url}))
        self.password = password

    def send(self, requests: list[bytes]) -> None:
        """Raises unless the application answers each whole request envelope with a success."""
        for request in requests:
            status, content = answer(self.application, request)
            if status != 200 or b"Fault>" in content:
                raise RuntimeError(f"HTTP {status}: {content[:500]!r}")

    def call(self, body: str) -> None:
        """The operation `body` (lifecycle.open_book's calls)."""
        self.send([envelope(body, ADMIN, self.password).encode()])


def service_calls(database_url: str, password: str, name: str, count: int) -> tuple[Callable, Callable]:
    """(warm-up, measured) calls of the service's application in this process; the references they post
    begin with `name`."""
    service = InProcessService(database_url, password)
    if name == "batch":
        bodies = [envelope(lifecycle.batch_body(lifecycle.SERVICE_BOOK, f"{name}-{n}", random.Random(n)), ADMIN,
                           password).encode() for n in range(WARM_UP_BATCHES + count)]
        warm_up, measured = bodies[:WARM_UP_BATCHES], bodies[WARM_UP_BATCHES:]
    else:
        operation = {"post": "PostEntry", "balance": "GetBalance"}[name]
        workload = workloads(ADMIN, password, *lifecycle.accounts(lifecycle.SPREAD_ACCOUNTS_PER_SIDE),
                             book=lifecycle.SPREAD_BOOK)[operation]
        chance = random.Random(1)
        bodies = [workload.body(f"{name}-{n}", n, chance) for n in range(WARM_UP_CALLS + count)]
        warm_up, measured = bodies[:WARM_UP_CALLS], bodies[WARM_UP_CALLS:]
    return lambda: service.send(warm_up), lambda: service.send(measured)


def bare_spyne_calls(minimal_url: str, count: int) -> tuple[Callable, Callable]:
    os.environ["LEDGER_DATABASE_URL"] = minimal_url
    import bare_spyne
    from ledger_service.serving.application import environ_of

    workload = workloads(ADMIN, "unused", *lifecycle.accounts(lifecycle.SPREAD_ACCOUNTS_PER_SIDE),
                         book=lifecycle.SPREAD_BOOK)["GetBalance"]
    chance = random.Random(1)
    bodies = [workload.body(None, n, chance) for n in range(WARM_UP_CALLS + count)]
    headers = [(b"Host", b"127.0.0.1"), (b"Content-Type", b"text/xml; charset=utf-8")]

    def send(bodies: list[bytes]) -> None:
        for body in bodies:
            statuses = []
            environ = environ_of(b"POST", SOAP_PATH.encode(), b"1.1", headers, body, ("127.0.0.1", 40000),
                                 ("127.0.0.1", 8000))
            content = b"".join(bare_spyne.application(environ, lambda status, *_: statuses.append(status)))
            if not statuses[0].startswith("200"):
                raise RuntimeError(f"bare Spyne: {statuses[0]}: {content[:500]!r}")

    return lambda: send(bodies[:WARM_UP_CALLS]), lambda: send(bodies[WARM_UP_CALLS:])


def minimal_calls(minimal_url: str, name: str, count: int) -> tuple[Callable, Callable]:
    writer = MinimalWriter(minimal_url, *lifecycle.accounts(lifecycle.SPREAD_ACCOUNTS_PER_SIDE),
                           lifecycle.EFFECTIVE_DATE, create=False)
    connection = writer.connect()
    size = MEASUREMENTS[name][3]
    chance = random.Random(1)

    def send(first: int, transactions: int) -> None:
        for number in range(first, first + transactions):
            writer.post(connection, [(f"{name}-{number}-{n}", *writer.entry(chance, n)) for n in range(size)])

    warm_up = WARM_UP_BATCHES if size > 1 else WARM_UP_CALLS
    return lambda: send(0, warm_up), lambda: send(warm_up, count)


class _AnswersAtOnce:
    """A WSGI application that answers every request with the same few hundred bytes: what is left of a
    request's cost is the worker's (reading, handing to a thread, writing, the access log)."""

    def __init__(self):
        from ledger_service.soap.envelope import Limits

        self.limits = Limits()  # the worker reads its own from the application, as from the service's

    def __call__(self, environ, start_response):
        environ["wsgi.input"].read()
        answer = b"<answer>" + b"0" * 400 + b"</answer>"
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(answer)))])
        return [answer]


def http_layer_calls(name: str, count: int) -> tuple[Callable, Callable]:
    """(warm-up, measured) requests to the service's worker class (serving/worker.py), or to gunicorn's
    sync worker which serves bare_spyne.py (one request a connection, in the thread that accepted it),
    in this process, in a thread of its own rather than forked by a gunicorn master, which callgrind
    could not switch."""
    import socket
    import threading

    from gunicorn.config import Config

    from gunicorn.workers.sync import SyncWorker

    from ledger_service.server import JsonAccessLog
    from ledger_service.serving.worker import BufferingWorker

    config = Config()
    config.set("threads", 4)
    listener = socket.create_server(("127.0.0.1", 0))
    worker_class = SyncWorker if name == "http-layer-sync" else BufferingWorker
    worker = worker_class(0, os.getppid(), [listener], None, 300, config, JsonAccessLog(config))
    worker.wsgi = _AnswersAtOnce()
    if worker_class is SyncWorker:
        # What gunicorn's init_process (which needs the main thread, for its signals) gives it first.
        worker.PIPE = os.pipe()
        worker.wait_fds = [listener, worker.PIPE[0]]
    threading.Thread(target=worker.run, daemon=True).start()  # until the process ends
    port = listener.getsockname()[1]
    workload = workloads(ADMIN, "unused", *lifecycle.accounts(lifecycle.SPREAD_ACCOUNTS_PER_SIDE),
                         book=lifecycle.SPREAD_BOOK)["GetBalance"]
    body = workload.body(None, 0, random.Random(1))

    def send(requests: int) -> None:
        subprocess.run([sys.executable, "-c", HTTP_CLIENT, str(port), str(requests // HTTP_CONNECTIONS)], input=body,
                       check=True)

    return lambda: send(WARM_UP_CALLS), lambda: send(count)


def measure(options: argparse.Namespace) -> None:
    """In the child that callgrind runs: one measurement, its calls counted."""
    name, count = options.measure, options.count
    if name.startswith("http-layer"):
        warm_up, measured = http_layer_calls(name, count)
    elif name in ("post", "balance", "batch"):
        warm_up, measured = service_calls(options.service_url, options.password, name, count)
    elif name == "bare-balance":
        warm_up, measured = bare_spyne_calls(options.minimal_url, count)
    else:
        warm_up, measured = minimal_calls(options.minimal_url, name, count)
    warm_up()
    counted(measured)


def prepare(service_url: str, minimal_url: str) -> str:
    """The service's database migrated, with its books, accounts and a system administrator (whose
    password it returns); the minimal ledger's schema and accounts."""
    password = secrets.token_urlsafe(18)
    ledger_service(service_url, "migrate")
    ledger_service(service_url, "clients", "add", ADMIN, "--system-admin", "--password-stdin", stdin=password + "\n")
    service = InProcessService(service_url, password)
    for book, per_side in ((lifecycle.SERVICE_BOOK, lifecycle.ACCOUNTS_PER_SIDE),
                           (lifecycle.SPREAD_BOOK, lifecycle.SPREAD_ACCOUNTS_PER_SIDE)):
        lifecycle.open_book(service, book, per_side)
    service.application.database.dispose()
    MinimalWriter(minimal_url, *lifecycle.accounts(lifecycle.SPREAD_ACCOUNTS_PER_SIDE), lifecycle.EFFECTIVE_DATE)
    return password


def instructions(name: str, count: int, service_url: str, minimal_url: str, password: str, work_dir: Path) -> float:
    """Runs measurement `name` under callgrind; its instructions a call (a batch's: an entry)."""
    completed = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work_dir}/{name}.%p",
         sys.executable, __file__, f"--measure={name}", f"--count={count}", f"--service-url={service_url}",
         f"--minimal-url={minimal_url}", f"--password={password}"],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent, env={**os.environ, "PYTHONHASHSEED": "0"})
    collected = COLLECTED.findall(completed.stderr)
    if completed.returncode != 0 or not collected:
        raise RuntimeError(f"{name} failed under valgrind (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    return int(collected[-1]) / (count * MEASUREMENTS[name][3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="single calls measured (batches: a hundredth)")
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--only", choices=MEASUREMENTS, action="append", help="this measurement only (repeatable)")
    for internal in ("--measure", "--count", "--service-url", "--minimal-url", "--password"):
        parser.add_argument(internal, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.measure:
        options.count = int(options.count)
        measure(options)
        return 0
    figures = {}
    with throwaway_database(options.postgres_url) as service_url, \
            throwaway_database(options.postgres_url) as minimal_url, \
            tempfile.TemporaryDirectory(prefix="ledger-instructions-") as work_dir:
        password = prepare(service_url, minimal_url)
        for name, (label, share, unit, _) in MEASUREMENTS.items():
            if options.only and name not in options.only:
                continue
            count = max(1, round(options.calls * share))
            figures[name] = instructions(name, count, service_url, minimal_url, password, Path(work_dir))
            print(f"  {label}: {figures[name]:,.0f} instructions {unit}", flush=True)
    print()
    for label, service, ceiling in (("GetBalance, bare Spyne's / the service's", "balance", "bare-balance"),
                                    ("a posted entry, the minimal writer's / PostEntry's", "post", "minimal-single"),
                                    ("a batched entry, the minimal batch's / PostEntries'", "batch", "minimal-batch"),
                                    ("a request, gunicorn's sync worker's / the service's worker's", "http-layer",
                                     "http-layer-sync")):
        if service in figures and ceiling in figures:
            print(f"  {label}: {figures[ceiling] / figures[service]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
