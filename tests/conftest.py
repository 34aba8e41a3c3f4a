"""Test harness: real gunicorn servers on real databases, called over real HTTP with zeep.

Every server is `ledger-service serve` in a subprocess, on a fresh SQLite file or a fresh
PostgreSQL database. Tests isolate themselves by working in a book of their own.

PostgreSQL: LEDGER_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres) names
a server where databases can be created. If it does not answer, PostgreSQL tests are skipped,
unless LEDGER_REQUIRE_POSTGRES=1, as in CI, where they fail instead.

Interoperability tests drive third-party SOAP stacks (PHP, Java wsimport, mono) installed from Debian's
packages; without them those tests are skipped, unless LEDGER_REQUIRE_INTEROP=1, as in CI.
"""
from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import pwd
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from ledger_service import admin
from ledger_service.adapters.database import Database
from ledger_service.adapters.orm import BookRow
from ledger_service.domain.access import Role
from ledger_service.domain.books import Book as DomainBook
from ledger_service.service_layer.journal import verify

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"
REQUIRE_INTEROP = os.environ.get("LEDGER_REQUIRE_INTEROP") == "1"
ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SOAP_ENV = {"11": "http://schemas.xmlsoap.org/soap/envelope/", "12": "http://www.w3.org/2003/05/soap-envelope"}
CONTENT_TYPE = {"11": "text/xml; charset=utf-8", "12": "application/soap+xml; charset=utf-8"}
TNS = "urn:soap-ledger:v1"
# The fault codes of docs/contract.md#faults.
FAULT_CODES = {
    "SchemaValidation", "MalformedRequest", "AuthenticationFailed", "NotAuthorized", "RateLimited", "BookNotFound",
    "BookExists", "AccountNotFound", "AccountExists", "AccountClosed", "AccountNotEmpty", "UnknownCurrency",
    "CurrencyMismatch", "Unbalanced", "InvalidAmount", "TooFewLines", "TooManyLines", "BatchTooLarge",
    "ReferenceConflict", "EntryNotFound", "PeriodClosed", "InsufficientBalance", "NotPending", "PendingExpired",
    "AlreadyReversed", "NotReversible", "Unavailable", "InternalError",
}
# For servers whose tests fail to authenticate on purpose more often than the default budgets of failed
# authentications allow (10 per username, 30 per address): a larger budget, the feature unchanged.
MANY_FAILED_LOGINS = {"LEDGER_FAILED_LOGINS_BURST_PER_USERNAME": "1000", "LEDGER_FAILED_LOGINS_BURST_PER_ADDRESS": "1000"}
_names = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}x{uuid.uuid4().hex[:6]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- databases ---

POSTGRES_FIXTURES = {"postgres_server", "postgres_databases", "postgres_live", "postgres_shared", "private_postgres"}


def pytest_collection_modifyitems(items):
    for item in items:
        if POSTGRES_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.postgres)
        for required in ("postgres", "interop", "faults"):
            if item.get_closest_marker(required):
                # CI reads this from the JUnit report to prove that these tests ran, none skipped.
                item.user_properties.append((required, "yes"))


def require_tools(*commands: str, packages: str) -> None:
    """Skips the test when a third-party tool is missing (fails instead under LEDGER_REQUIRE_INTEROP=1)."""
    missing = [command for command in commands if shutil.which(command) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install {packages})"
        if REQUIRE_INTEROP:
            pytest.fail(message)
        pytest.skip(message)


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error)


@pytest.fixture(scope="session")
def postgres_server():
    problem = _postgres_available()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (LEDGER_REQUIRE_POSTGRES=1) but does not answer: {problem}")
        pytest.skip(f"PostgreSQL not available: {problem}")
    return POSTGRES_URL


class PostgresDatabases:
    """Creates throwaway databases on the test PostgreSQL server and drops them afterwards."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.created: list[str] = []

    def create(self, template: str | None = None) -> str:
        """A new empty database, or a copy of the database `template` (a name this object created)."""
        name = f"ledger_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.created.append(name)
        return self.url_of(name)

    def url_of(self, name: str) -> str:
        return self.server_url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as connection:
            for name in reversed(self.created):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_databases(postgres_server):
    databases = PostgresDatabases(postgres_server)
    yield databases
    databases.drop_all()


def database_url(kind: str, request, tmp_path_factory) -> str:
    """A new, empty database."""
    if kind == "postgres":
        return request.getfixturevalue("postgres_databases").create()
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'ledger.db'}"


def _prepare(url: str) -> None:
    """Migrates the database and adds the system administrator ADMIN, as `ledger-service migrate` and
    `clients add` would."""
    database = Database(url)
    try:
        database.migrate()
        admin.add_client(database, ADMIN, ADMIN_PASSWORD, True, [])
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def prepared_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite file with ADMIN, made once a session, that servers' databases copy."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def prepared_postgres(postgres_databases) -> str:
    """The same on PostgreSQL: a template database, which CREATE DATABASE copies in a moment."""
    url = postgres_databases.create()
    _prepare(url)
    return url.rsplit("/", 1)[1]


def prepared_database_url(kind: str, request, tmp_path_factory) -> str:
    """A new database, migrated, with ADMIN: a copy of the session's prepared one."""
    if kind == "postgres":
        return request.getfixturevalue("postgres_databases").create(template=request.getfixturevalue("prepared_postgres"))
    path = tmp_path_factory.mktemp("db") / "ledger.db"
    with sqlite3.connect(request.getfixturevalue("prepared_sqlite")) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
    return f"sqlite:///{path}"


# --- a PostgreSQL cluster of a test's own, to stop and start ---

def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster; run as the postgres user when the tests run as root."""

    def __init__(self, bin_dir: Path, addresses: tuple[str, ...] = ("127.0.0.1",),
                 trusted_networks: tuple[str, ...] = (), settings: dict[str, str] | None = None):
        """`addresses`: where it listens (they must exist when it starts); `trusted_networks`: the clients
        it lets in without a password, besides those on loopback; `settings`: server settings besides
        the ones every such cluster has."""
        self.bin = bin_dir
        self.addresses = addresses
        self.trusted_networks = trusted_networks
        self.settings = settings or {}
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return self.url_at("127.0.0.1")

    @property
    def log_file(self) -> Path:
        """Where the server logs (pg_ctl's -l)."""
        return self.root / "postgres.log"

    def url_at(self, address: str, database: str = "postgres") -> str:
        return f"postgresql://postgres@{address}:{self.port}/{database}"

    def _run(self, *command: str, timeout: float = 60) -> None:
        result = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{command[0]} failed: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", timeout=120)
        with (self.data / "pg_hba.conf").open("a") as rules:
            rules.writelines(f"host all all {network} trust\n" for network in self.trusted_networks)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={','.join(self.addresses)} -c fsync=off"
        options += "".join(f" -c {name}={shlex.quote(value)}" for name, value in self.settings.items())
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file), "-o",
                  options, "-w", "-t", "60", "start", timeout=90)
        self._run(str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "30")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", timeout=90)

    def running(self) -> bool:
        result = subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
                                capture_output=True, timeout=30)
        return result.returncode == 0

    def destroy(self) -> None:
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_private_postgres(**options) -> Iterator[PrivatePostgres]:
    """A PrivatePostgres (with those options) initialised and started, destroyed afterwards."""
    bin_dir = _postgres_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    cluster = PrivatePostgres(bin_dir, **options)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_postgres():
    with running_private_postgres() as cluster:
        yield cluster


# --- servers ---

def cli(*args: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ledger_service.cli", *args], input=input, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=120)


SERVE = [sys.executable, "-m", "ledger_service.cli", "serve", "--bind", "127.0.0.1:0", "--workers", "1"]
# gunicorn as the systemd unit starts it
GUNICORN = [sys.executable, "-m", "gunicorn", "--config",
            str(Path(__file__).resolve().parents[1] / "deploy" / "gunicorn.conf.py")]


def assert_refused_to_start(command: list[str], tmp_path, env: dict, variable: str) -> None:
    """The command exits 1 at once, having written JSON lines only, one of which says what is wrong."""
    try:
        result = subprocess.run(command, env={**LiveServer(f"sqlite:///{tmp_path / 'ledger.db'}").env, **env},
                                cwd=tmp_path, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command[2]} started with {env}")
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    [error] = [record for record in records if record["level"] == "ERROR"]
    assert variable in error["message"], error
    assert "Booting worker" not in result.stderr


@dataclass
class LiveServer:
    database_url: str
    workers: int = 2
    extra_env: dict = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    host: str = "127.0.0.1"
    # The command the server runs under, such as `ip netns exec NAME`; it must exec the server in its place.
    run_under: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def endpoint(self, version: str = "11") -> str:
        return f"{self.url}/v1/soap{version}"

    @property
    def env(self) -> dict:
        return {**os.environ, "LEDGER_DATABASE_URL": self.database_url, **self.extra_env}

    def start(self, log_dir: Path) -> "LiveServer":
        self.log_path = log_dir / f"server-{self.port}.log"
        self.process = subprocess.Popen(
            [*self.run_under, sys.executable, "-m", "ledger_service.cli", "serve", "--bind",
             f"{self.host}:{self.port}", "--workers", str(self.workers)],
            env=self.env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass  # not listening yet, or too busy booting to answer in time
            time.sleep(0.2)
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def request_log_line(self, request_id: str) -> dict:
        """The request log's line for the request with this id, once the server has written it."""
        deadline = time.monotonic() + 10
        while True:
            for line in self.log().splitlines():
                record = json.loads(line) if line.startswith("{") and line.endswith("}") else {}
                if record.get("logger") == "ledger_service.requests" and record.get("request_id") == request_id:
                    return record
            assert time.monotonic() < deadline, f"no request log line for {request_id}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- administration, through the same service layer the CLI uses ---

    def database(self) -> Database:
        return Database(self.database_url)

    def add_client(self, name: str | None = None, password: str = "secret", *, system_admin: bool = False,
                   grants: dict[str, str] | None = None) -> tuple[str, str]:
        name = name or unique("client")
        database = self.database()
        try:
            admin.add_client(database, name, password, system_admin,
                             [admin.Grant(book, Role[role]) for book, role in (grants or {}).items()])
        finally:
            database.dispose()
        return name, password

    def zeep(self, username: str = ADMIN, password: str = ADMIN_PASSWORD, version: str = "11") -> Client:
        transport = Transport(timeout=60, operation_timeout=60)
        return Client(f"{self.endpoint(version)}?wsdl", wsse=UsernameToken(username, password), transport=transport,
                      settings=Settings(strict=True))

    def new_book(self, version: str = "11", **accounts) -> "Book":
        """A fresh book created by the admin over SOAP, with accounts opened by keyword:
        name=(type, currency[, noNegativeBalance])."""
        code = unique("B")
        service = self.zeep(version=version).service
        service.CreateBook(code, f"Book {code}")
        for account_code, spec in accounts.items():
            kind, currency, *guard = spec
            service.OpenAccount(code, {"code": account_code, "name": account_code.title(), "type": kind,
                                       "currency": currency, "noNegativeBalance": bool(guard and guard[0])})
        return Book(self, code, service)


def serve(url: str, log_dir: Path, workers: int = 2, extra_env: dict | None = None, **placement) -> LiveServer:
    """A live server on the database at `url`, which it migrates, with the system administrator ADMIN;
    `placement`: LiveServer's host and run_under."""
    _prepare(url)
    return LiveServer(url, workers=workers, extra_env=extra_env or {}, **placement).start(log_dir)


def start_server(request, tmp_path_factory, kind: str, workers: int = 2, extra_env: dict | None = None) -> LiveServer:
    """A live server on a new database of `kind`, migrated, with ADMIN, stopped when `request` ends."""
    server = LiveServer(prepared_database_url(kind, request, tmp_path_factory), workers=workers,
                        extra_env=extra_env or {})
    server.start(tmp_path_factory.mktemp("logs"))
    request.addfinalizer(server.stop)
    return server


def broken_journals(database_url: str) -> dict[str, tuple]:
    """The books on that database whose journal VerifyJournal finds broken, with the first break."""
    database = Database(database_url)

    def work(stores) -> dict[str, tuple]:
        books = stores.connection.execute(
            BookRow.__table__.select().with_only_columns(BookRow.id, BookRow.code, BookRow.name)).all()
        found = {}
        for book_id, code, name in books:
            verification = verify(stores, DomainBook(code, name, id=book_id), None, None)
            if not verification.intact:
                found[code] = (verification.first_break.sequence, verification.first_break.reason.value)
        return found

    try:
        return database.run(work, write=False)
    finally:
        database.dispose()


def shared_server(request, tmp_path_factory, kind: str, workers: int = 2) -> LiveServer:
    """A server many modules' tests share; once they are done, the journal of every book they wrote
    verifies (docs/contract.md#journal): whatever the tests did, each change was recorded as the rows
    still say it."""
    server = start_server(request, tmp_path_factory, kind, workers)

    def every_journal_verifies():
        assert broken_journals(server.database_url) == {}

    request.addfinalizer(every_journal_verifies)
    return server


BACKENDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


# The servers most tests share, for a whole session (each test process of pytest-xdist has its own):
# tests isolate themselves by working in books, clients and references of their own. A test that
# needs other settings, or stops, restarts or breaks its server, starts one of its own.

@pytest.fixture(scope="session")
def sqlite_server(request, tmp_path_factory) -> LiveServer:
    return shared_server(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="session")
def postgres_shared(request, tmp_path_factory) -> LiveServer:
    return shared_server(request, tmp_path_factory, "postgres")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request) -> LiveServer:
    """A live server, once on SQLite and once on PostgreSQL. (The parameter is a module's, the servers
    the session's: a session-scoped parameter would stop one server whenever a test wants the other.)"""
    return request.getfixturevalue("sqlite_server" if request.param == "sqlite" else "postgres_shared")


@pytest.fixture(scope="session")
def postgres_live(request, tmp_path_factory) -> LiveServer:
    return shared_server(request, tmp_path_factory, "postgres", workers=4)


# --- calling the service ---

@dataclass
class Book:
    server: LiveServer
    code: str
    service: object

    def post(self, reference: str, lines: list[tuple[str, str, str]], effective: str = "2026-01-15", **extra):
        """Posts lines given as (account, side, amount)."""
        entry = {"reference": reference, "effectiveDate": effective, **extra,
                 "lines": {"line": [{"account": a, "side": s, "amount": amount} for a, s, amount in lines]}}
        return self.service.PostEntry(self.code, entry)

    def balance(self, account: str, as_of=None):
        return self.service.GetBalance(self.code, account, as_of)


def fault_detail(fault: Fault) -> dict:
    """The LedgerFault in a zeep Fault's detail, as {code, message, field, index}."""
    element = fault.detail.find(f"{{{TNS}}}LedgerFault")
    assert element is not None, f"fault without tns:LedgerFault: {fault}"
    return {child.tag.split("}")[1]: child.text for child in element}


def fault_code(call, *args, **kwargs) -> str:
    """Runs a zeep call that must fail and returns its LedgerFault code."""
    with pytest.raises(Fault) as caught:
        call(*args, **kwargs)
    return fault_detail(caught.value)["code"]


def password_text(username: str, password: str) -> str:
    """A wsse:Security header block holding a PasswordText UsernameToken."""
    return (f'<wsse:Security xmlns:wsse="{WSSE_NS}"><wsse:UsernameToken>'
            f"<wsse:Username>{username}</wsse:Username><wsse:Password>{password}</wsse:Password>"
            "</wsse:UsernameToken></wsse:Security>")


def envelope(version: str, body: str, username: str | None = ADMIN, password: str = ADMIN_PASSWORD,
             header_extra: str = "") -> bytes:
    """A raw SOAP envelope around `body`, with a PasswordText UsernameToken unless username is None."""
    security = password_text(username, password) if username is not None else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP_ENV[version]}" '
            f'xmlns:l="{TNS}"><env:Header>{security}{header_extra}</env:Header><env:Body>{body}</env:Body>'
            "</env:Envelope>").encode()


def post_raw(server: LiveServer, data: bytes, version: str = "11", content_type: str | None = None,
             endpoint_version: str | None = None) -> requests.Response:
    return requests.post(server.endpoint(endpoint_version or version), data=data,
                         headers={"Content-Type": content_type or CONTENT_TYPE[version]}, timeout=60)
