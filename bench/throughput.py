"""Requests per second of GetBalance and PostEntry on a real `ledger-service serve` over PostgreSQL.

One command, `.venv/bin/python bench/throughput.py`, does everything: a throwaway database, the
schema, a system-admin client, the server on a free loopback port, a book with a few accounts, then
per operation a warm-up and a measurement with wrk (or the built-in Python generator), and finally a
check that the ledger still balances and holds exactly the entries the service confirmed. The
server is stopped and the database dropped however the run ends. bench/README.md has the details.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import http.client
import importlib.util
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ElementTree
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

WRK_SCRIPT = Path(__file__).resolve().with_name("soap_load.lua")
LEDGER_SERVICE = [sys.executable, "-m", "ledger_service.cli"]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SOAP_PATH = "/v1/soap11"
CONTENT_TYPE = "text/xml; charset=utf-8"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
TNS = "urn:soap-ledger:v1"
ADMIN_NAME = "bench-admin"
BOOK_CODE = "BENCH"
EFFECTIVE_DATE = "2026-01-15"
OPERATIONS = ("GetBalance", "PostEntry")
MAX_ERROR_PERCENT = 1
# Generous, so that a slow response under contention counts as slow rather than as an error.
REQUEST_TIMEOUT_SECONDS = 30
SERVER_START_SECONDS = 60
# Lets every generator process fork and connect before the clock starts.
PYTHON_GENERATOR_START_DELAY_SECONDS = 1.0
FAULT = re.compile(rb"<(?:[\w.-]+:)?Fault[\s/>]")
EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2


class BenchmarkFailed(Exception):
    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


# --- the requests ---

def envelope(body: str, username: str, password: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP11_ENV}" xmlns:l="{TNS}">'
            f'<env:Header><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
            f"<wsse:Username>{username}</wsse:Username><wsse:Password>{password}</wsse:Password>"
            f"</wsse:UsernameToken></wsse:Security></env:Header><env:Body>{body}</env:Body></env:Envelope>")


@dataclasses.dataclass(frozen=True)
class Workload:
    """One operation's request, as an envelope template that both generators fill in the same way.
    Placeholders: {reference} {amount} {debit} {credit} {account}, as bench/soap_load.lua reads them."""

    operation: str
    template: str
    debit_accounts: tuple[str, ...]
    credit_accounts: tuple[str, ...]

    @property
    def posts_entries(self) -> bool:
        return "{reference}" in self.template

    def body(self, reference: str | None, counter: int, chance: random.Random) -> bytes:
        if not self.posts_entries:
            return self.template.replace(
                "{account}", chance.choice(self.debit_accounts + self.credit_accounts)).encode()
        amount = Decimal(counter % 999 + 1).scaleb(-2)
        return (self.template.replace("{reference}", reference).replace("{amount}", f"{amount:.2f}")
                .replace("{debit}", chance.choice(self.debit_accounts))
                .replace("{credit}", chance.choice(self.credit_accounts))).encode()


def workloads(username: str, password: str, debit_accounts: tuple[str, ...],
              credit_accounts: tuple[str, ...], book: str = BOOK_CODE) -> dict[str, Workload]:
    get_balance = f"<l:GetBalance><l:book>{book}</l:book><l:account>{{account}}</l:account></l:GetBalance>"
    post_entry = (
        f"<l:PostEntry><l:book>{book}</l:book><l:entry><l:reference>{{reference}}</l:reference>"
        f"<l:effectiveDate>{EFFECTIVE_DATE}</l:effectiveDate><l:lines>"
        "<l:line><l:account>{debit}</l:account><l:side>DEBIT</l:side><l:amount>{amount}</l:amount></l:line>"
        "<l:line><l:account>{credit}</l:account><l:side>CREDIT</l:side><l:amount>{amount}</l:amount></l:line>"
        "</l:lines></l:entry></l:PostEntry>")
    return {operation: Workload(operation, envelope(body, username, password), debit_accounts, credit_accounts)
            for operation, body in (("GetBalance", get_balance), ("PostEntry", post_entry))}


# --- what a run measured ---

@dataclasses.dataclass
class LoadRun:
    operation: str
    seconds: float
    responses: int
    error_responses: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    sample_error: str | None
    # PostEntry references with no confirmed success: in flight when the generator stopped, or failed.
    unconfirmed: list[str]

    @property
    def requests_per_second(self) -> float:
        return self.responses / self.seconds

    @property
    def errors(self) -> int:
        return self.error_responses + self.socket_errors

    @property
    def successes(self) -> int:
        return self.responses - self.error_responses

    def check_error_rate(self, phase: str) -> None:
        attempts = self.responses + self.socket_errors
        if self.errors * 100 > attempts * MAX_ERROR_PERCENT:
            raise BenchmarkFailed(
                f"{self.operation} {phase}: {self.errors} of {attempts} requests failed "
                f"(more than {MAX_ERROR_PERCENT}%)", f"first failure:\n{self.sample_error}")


# --- load generators ---

# What a request says when each is sent on a connection of its own (--close), as a client without
# keep-alive does: the server closes the connection after its answer, and the client opens another.
CLOSE_HEADER = ("Connection", "close")


class WrkGenerator:
    def __init__(self, executable: str, threads: int, connections: int, work_dir: Path, close: bool = False):
        self.executable = executable
        self.threads = threads
        self.connections = connections
        self.work_dir = work_dir
        self.close = close

    def describe(self) -> str:
        banner = subprocess.run([self.executable, "-v"], capture_output=True, text=True).stdout
        return f"{banner.split(' Copyright')[0].strip()}, {self.threads} threads" + (
            ", a connection a request" if self.close else "")

    def run(self, base_url: str, workload: Workload, seconds: int, label: str) -> LoadRun:
        template = self.work_dir / f"{label}.xml"
        template.write_text(workload.template)
        result = self.work_dir / f"{label}.json"
        completed = subprocess.run(
            [self.executable, "-t", str(self.threads), "-c", str(self.connections), "-d", f"{seconds}s",
             "--timeout", f"{REQUEST_TIMEOUT_SECONDS}s", "-s", str(WRK_SCRIPT),
             *(["-H", ": ".join(CLOSE_HEADER)] if self.close else []), base_url + SOAP_PATH,
             "--", str(template), str(result), label, ",".join(workload.debit_accounts),
             ",".join(workload.credit_accounts)],
            capture_output=True, text=True)
        if completed.returncode != 0 or not result.exists():
            raise BenchmarkFailed(f"wrk failed (exit {completed.returncode})", completed.stdout + completed.stderr)
        tally = json.loads(result.read_text())
        return LoadRun(workload.operation, tally["duration_us"] / 1e6, tally["responses"], tally["error_responses"],
                       tally["socket_errors"], tally["p50_us"] / 1000, tally["p99_us"] / 1000,
                       tally["sample_error"], tally["unconfirmed"])


@dataclasses.dataclass
class ConnectionTally:
    latencies: list[float] = dataclasses.field(default_factory=list)
    responses: int = 0
    error_responses: int = 0
    socket_errors: int = 0
    sample_error: str | None = None
    unconfirmed: list[str] = dataclasses.field(default_factory=list)
    finished_at: float = 0.0

    def failed(self, description: str, reference: str | None) -> None:
        self.sample_error = self.sample_error or description
        if reference is not None:
            self.unconfirmed.append(reference)


def drive_connection(address: tuple[str, int], workload: Workload, label: str, connection_number: int,
                     start_at: float, stop_at: float, close: bool) -> ConnectionTally:
    """One keep-alive connection sending requests back to back until stop_at (with `close`, a new
    connection for each request). It only stops between requests, so unlike wrk it never leaves one
    in flight."""
    chance, tally, counter = random.Random(connection_number), ConnectionTally(), 0
    headers = {"Content-Type": CONTENT_TYPE}
    if close:
        headers.update([CLOSE_HEADER])
    connection = http.client.HTTPConnection(*address, timeout=REQUEST_TIMEOUT_SECONDS)
    time.sleep(max(0.0, start_at - time.monotonic()))
    try:
        while time.monotonic() < stop_at:
            counter += 1
            reference = f"{label}-{connection_number}-{counter}" if workload.posts_entries else None
            body = workload.body(reference, counter, chance)
            started = time.perf_counter()
            try:
                connection.request("POST", SOAP_PATH, body, headers)
                response = connection.getresponse()
                content = response.read()  # an answer that closes its connection closes ours: the next opens one
            except (OSError, http.client.HTTPException) as error:
                # The next request() opens a fresh connection.
                connection.close()
                tally.socket_errors += 1
                tally.failed(f"{type(error).__name__}: {error}", reference)
                continue
            tally.latencies.append(time.perf_counter() - started)
            tally.responses += 1
            if response.status != 200 or FAULT.search(content):
                tally.error_responses += 1
                tally.failed(f"HTTP {response.status}\n{content.decode(errors='replace')}", reference)
    finally:
        connection.close()
        tally.finished_at = time.monotonic()
    return tally


def drive_process(address: tuple[str, int], workload: Workload, label: str, connection_numbers: list[int],
                  start_at: float, stop_at: float, close: bool) -> list[ConnectionTally]:
    with concurrent.futures.ThreadPoolExecutor(len(connection_numbers)) as threads:
        return list(threads.map(
            lambda number: drive_connection(address, workload, label, number, start_at, stop_at, close),
            connection_numbers))


def percentile(sorted_values: list[float], percent: int) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, len(sorted_values) * percent // 100)]


class PythonGenerator:
    """Processes, so that the generator is not held to one core by the GIL, each with threads that
    own one keep-alive http.client connection apiece."""

    def __init__(self, connections: int, close: bool = False):
        self.connections = connections
        self.close = close
        self.processes = min(connections, os.cpu_count() or 1)

    def describe(self) -> str:
        connections = "a connection a request" if self.close else "keep-alive"
        return f"built-in Python (http.client, {connections}), {self.processes} processes"

    def run(self, base_url: str, workload: Workload, seconds: int, label: str) -> LoadRun:
        parts = urlsplit(base_url)
        address = (parts.hostname, parts.port)
        connection_numbers = [list(range(first, self.connections, self.processes)) for first in range(self.processes)]
        start_at = time.monotonic() + PYTHON_GENERATOR_START_DELAY_SECONDS
        stop_at = start_at + seconds
        with concurrent.futures.ProcessPoolExecutor(self.processes) as processes:
            batches = [processes.submit(drive_process, address, workload, label, numbers, start_at, stop_at,
                                        self.close) for numbers in connection_numbers]
            tallies = [tally for batch in batches for tally in batch.result()]
        latencies = sorted(latency for tally in tallies for latency in tally.latencies)
        return LoadRun(
            workload.operation, max(tally.finished_at for tally in tallies) - start_at,
            sum(t.responses for t in tallies), sum(t.error_responses for t in tallies),
            sum(t.socket_errors for t in tallies), percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000,
            next((t.sample_error for t in tallies if t.sample_error), None),
            [reference for tally in tallies for reference in tally.unconfirmed])


def choose_generator(options: argparse.Namespace, work_dir: Path) -> WrkGenerator | PythonGenerator:
    if options.generator == "python":
        return PythonGenerator(options.connections, options.close)
    wrk = shutil.which("wrk")
    if wrk is not None:
        return WrkGenerator(wrk, options.wrk_threads, options.connections, work_dir, options.close)
    hint = "wrk is not installed; on Debian or Ubuntu: sudo apt-get update && sudo apt-get install -y wrk"
    if options.generator == "wrk":
        raise BenchmarkFailed(hint)
    print(f"{hint}\nfalling back to the built-in Python load generator", file=sys.stderr)
    return PythonGenerator(options.connections, options.close)


# --- database, CLI and server ---

def database_url_for(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    name = f"ledger_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url_for(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def service_environment(database_url: str, environment: dict[str, str] | None = None) -> dict[str, str]:
    """What `ledger-service` runs with: this process's environment, `environment` over it (PYTHONPATH
    naming another checkout's service/, say), and the database."""
    return {**os.environ, **(environment or {}), "LEDGER_DATABASE_URL": database_url}


def ledger_service(database_url: str, *args: str, stdin: str | None = None,
                   environment: dict[str, str] | None = None) -> None:
    completed = subprocess.run([*LEDGER_SERVICE, *args], input=stdin, capture_output=True, text=True,
                               env=service_environment(database_url, environment), timeout=120)
    if completed.returncode != 0:
        raise BenchmarkFailed(f"`ledger-service {' '.join(args)}` failed", completed.stdout + completed.stderr)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GunicornServer:
    """A gunicorn on a free loopback port, its `command()` run with the environment of `ledger-service`
    (service_environment), healthy once GET /healthz answers 200."""

    def __init__(self, database_url: str, workers: int, log_path: Path, environment: dict[str, str] | None = None):
        self.database_url = database_url
        self.environment = environment
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), env=service_environment(self.database_url, self.environment), stdout=log,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkFailed("the server exited while starting")
            if self._healthy():
                return
            time.sleep(0.2)
        raise BenchmarkFailed(f"the server was not healthy after {SERVER_START_SECONDS} s")

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class LedgerServer(GunicornServer):
    def __init__(self, database_url: str, workers: int, log_path: Path, username: str, password: str,
                 environment: dict[str, str] | None = None):
        super().__init__(database_url, workers, log_path, environment)
        self.username = username
        self.password = password

    def command(self) -> list[str]:
        return [*LEDGER_SERVICE, "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]

    def call(self, body: str, timeout: float = REQUEST_TIMEOUT_SECONDS) -> ElementTree.Element:
        """One SOAP call as the benchmark's admin; the response body's operation element."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("POST", SOAP_PATH, envelope(body, self.username, self.password).encode(),
                               {"Content-Type": CONTENT_TYPE})
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        if response.status != 200 or FAULT.search(content):
            raise BenchmarkFailed(f"a set-up or check call failed with HTTP {response.status}",
                                  content.decode(errors="replace"))
        return ElementTree.fromstring(content).find(f"{{{SOAP11_ENV}}}Body")[0]


Server = TypeVar("Server", bound=GunicornServer)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def serving(postgres_url: str, workers: int, work_dir: Path, username: str = ADMIN_NAME,
            password: str | None = None, environment: dict[str, str] | None = None) -> Iterator[LedgerServer]:
    """A running `ledger-service serve` on a throwaway database, migrated, with a system administrator
    `username` (a random password unless one is given); stopped and dropped however the block ends. Every
    `ledger-service` command runs with `environment` over this process's own."""
    password = password or secrets.token_urlsafe(18)
    with throwaway_database(postgres_url) as database_url:
        ledger_service(database_url, "migrate", environment=environment)
        ledger_service(database_url, "clients", "add", username, "--system-admin", "--password-stdin",
                       stdin=password + "\n", environment=environment)
        with running(LedgerServer(database_url, workers, work_dir / "server.log", username, password,
                                  environment)) as server:
            yield server


def open_book(server: LedgerServer, accounts_per_side: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The benchmark's book: ASSET accounts that entries debit and INCOME accounts they credit."""
    server.call(f"<l:CreateBook><l:code>{BOOK_CODE}</l:code><l:name>Throughput benchmark</l:name></l:CreateBook>")
    sides = {"ASSET": tuple(f"cash-{n}" for n in range(1, accounts_per_side + 1)),
             "INCOME": tuple(f"sales-{n}" for n in range(1, accounts_per_side + 1))}
    for account_type, codes in sides.items():
        for code in codes:
            server.call(f"<l:OpenAccount><l:book>{BOOK_CODE}</l:book><l:account><l:code>{code}</l:code>"
                        f"<l:name>{code}</l:name><l:type>{account_type}</l:type><l:currency>USD</l:currency>"
                        "</l:account></l:OpenAccount>")
    return sides["ASSET"], sides["INCOME"]


# --- the check afterwards ---

def check_ledger(server: LedgerServer, post_runs: list[LoadRun]) -> None:
    """Raises when the book does not balance or holds other entries than the service confirmed."""
    trial = server.call(f"<l:GetTrialBalance><l:book>{BOOK_CODE}</l:book></l:GetTrialBalance>")
    for total in trial.iter(f"{{{TNS}}}total"):
        currency = total.findtext(f"{{{TNS}}}currency")
        debit, credit = Decimal(total.findtext(f"{{{TNS}}}debit")), Decimal(total.findtext(f"{{{TNS}}}credit"))
        if debit != credit:
            raise BenchmarkFailed(f"the trial balance does not balance in {currency}: debits {debit}, credits {credit}")
        print(f"  trial balance {currency}: debits {debit} = credits {credit}")

    unconfirmed = [reference for run in post_runs for reference in run.unconfirmed]
    confirmed = sum(run.successes for run in post_runs)
    in_book = sql.SQL("FROM entries JOIN books ON books.id = entries.book_id WHERE books.code = %s")
    with psycopg.connect(server.database_url) as connection:
        stored = connection.execute(sql.SQL("SELECT count(*) ") + in_book, (BOOK_CODE,)).fetchone()[0]
        committed_unconfirmed = connection.execute(
            sql.SQL("SELECT count(*) ") + in_book + sql.SQL(" AND entries.reference = ANY(%s)"),
            (BOOK_CODE, unconfirmed)).fetchone()[0]
    if stored != confirmed + committed_unconfirmed:
        raise BenchmarkFailed(
            f"the database holds {stored} entries, but the service confirmed {confirmed} PostEntry requests "
            f"and {committed_unconfirmed} unconfirmed references were committed")
    print(f"  entries in the database: {stored} = {confirmed} successful PostEntry responses (warm-ups included)"
          f" + {committed_unconfirmed} the generator left in flight when it stopped"
          f" (of {len(unconfirmed)} references it never saw confirmed)")


# --- the run ---

def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk if installed (auto), or the built-in Python one")
    parser.add_argument("--duration", type=int, default=15, metavar="SECONDS", help="measurement per operation")
    parser.add_argument("--warmup", type=int, default=3, metavar="SECONDS",
                        help="unmeasured load before each measurement (0: none)")
    parser.add_argument("--connections", type=int, default=12, help="concurrent keep-alive connections")
    parser.add_argument("--close", action="store_true",
                        help="each request on a connection of its own (Connection: close), as a client without "
                             "keep-alive sends them")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of `ledger-service serve`")
    parser.add_argument("--wrk-threads", type=int, default=2, metavar="N", help="wrk threads (-t)")
    parser.add_argument("--accounts-per-side", type=int, default=4, metavar="N",
                        help="each PostEntry debits one of N ASSET accounts and credits one of N INCOME accounts")
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="a PostgreSQL server where the benchmark may create and drop a database "
                             "(default: $LEDGER_BENCH_POSTGRES_URL or %(default)s)")
    options = parser.parse_args(argv)
    for name in ("duration", "connections", "workers", "wrk_threads", "accounts_per_side"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if options.generator != "python" and options.connections % options.wrk_threads:
        parser.error("wrk spreads --connections evenly over --wrk-threads: make it a multiple")
    if options.warmup < 0:
        parser.error("--warmup must not be negative")
    return options


def print_summary(options: argparse.Namespace, generator: WrkGenerator | PythonGenerator, server: LedgerServer,
                  postgres_version: str, measured: dict[str, LoadRun]) -> None:
    print()
    print(f"soap-ledger throughput, {date.today().isoformat()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, PostgreSQL {postgres_version}")
    print(f"  generator    {generator.describe()}")
    print(f"  server       ledger-service serve --workers {server.workers} "
          f"(LEDGER_THREADS={os.environ.get('LEDGER_THREADS', '2')}), SOAP 1.1, PasswordText")
    print(f"  connections  {options.connections}" + (", a new one for each request" if options.close else ""))
    print(f"  duration     {options.duration} s per operation after a {options.warmup} s warm-up")
    print(f"  accounts     PostEntry: DEBIT one of {options.accounts_per_side} ASSET, CREDIT one of "
          f"{options.accounts_per_side} INCOME, at random; GetBalance: any of them")
    print()
    print(f"  {'operation':<12}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'errors':>8}")
    for run in measured.values():
        print(f"  {run.operation:<12}{run.requests_per_second:>12.1f}{run.p50_ms:>10.1f}{run.p99_ms:>10.1f}"
              f"{run.responses:>10}{run.errors:>8}")
    print()


def benchmark(options: argparse.Namespace, work_dir: Path) -> None:
    generator = choose_generator(options, work_dir)
    with serving(options.postgres_url, options.workers, work_dir) as server:
        print(f"database     {urlsplit(server.database_url).path.lstrip('/')} (dropped at the end)")
        version = postgres_version(server.database_url)
        print(f"server       {server.base_url}, {options.workers} workers")
        debit_accounts, credit_accounts = open_book(server, options.accounts_per_side)
        work = workloads(server.username, server.password, debit_accounts, credit_accounts)
        measured: dict[str, LoadRun] = {}
        post_runs: list[LoadRun] = []
        for operation in OPERATIONS:
            phases = [("warm-up", options.warmup)] if options.warmup else []
            for phase, seconds in phases + [("measurement", options.duration)]:
                run = generator.run(server.base_url, work[operation], seconds, f"{operation}-{phase}")
                print(f"{operation:<12} {phase:<12} {run.requests_per_second:8.1f} requests/s, "
                      f"{run.errors} errors")
                if operation == "PostEntry":
                    post_runs.append(run)
                run.check_error_rate(phase)
                if phase == "warm-up":
                    # As autovacuum keeps them on a database in service: plans for empty tables would
                    # scan the tables the measurement fills (see bench/lifecycle.py).
                    with psycopg.connect(server.database_url, autocommit=True) as connection:
                        connection.execute("ANALYZE")
            measured[operation] = run
        print_summary(options, generator, server, version, measured)
        # wrk abandons the requests it has in flight when its time is up, and the server goes on
        # committing them. A graceful stop lets them finish; after it nothing more can commit.
        server.stop()
        server.start()
        check_ledger(server, post_runs)


def postgres_version(database_url: str) -> str:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SHOW server_version").fetchone()[0].split()[0]


def main(argv: list[str] | None = None) -> int:
    options = parse_arguments(argv)
    if importlib.util.find_spec("ledger_service") is None:
        print("ledger_service is not importable: run this with the project's virtualenv, "
              ".venv/bin/python bench/throughput.py", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return run_in_work_dir(lambda work_dir: benchmark(options, work_dir), "ledger-bench-")


def run_in_work_dir(benchmark: Callable[[Path], None], prefix: str) -> int:
    """Runs `benchmark` with a temporary directory, removed afterwards; on a BenchmarkFailed, reports it
    with the end of every server log written below that directory. The exit status."""
    # So that a `kill` still stops the servers and drops the databases on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with tempfile.TemporaryDirectory(prefix=prefix) as work_dir:
        try:
            benchmark(Path(work_dir))
        except BenchmarkFailed as failure:
            print(f"\nBENCHMARK FAILED: {failure}", file=sys.stderr)
            if failure.detail:
                print(failure.detail[:4000], file=sys.stderr)
            for server_log in sorted(Path(work_dir).rglob("server.log")):
                print(f"\nlast lines of {server_log.relative_to(work_dir)}:\n" + "\n".join(
                    server_log.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
            return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
