"""Engines, transactions and migrations.

`Database.run` is the unit of work (service_layer/ports.py's UnitOfWork): one use case in one
transaction, committed if it returns, rolled back if it raises, and run again from the start when the
database reports a conflict that a retry resolves (two writers inserting one reference, a deadlock, a
serialization failure).
"""
from __future__ import annotations

import logging
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import psycopg
from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from ..domain.errors import FaultCode, LedgerError
from .standby import Standby, note_commit, wanted_position
from .stores import SqlStores

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_URL = "sqlite:///var/ledger.db"
MIGRATIONS = Path(__file__).with_name("migrations")
# SQLSTATEs after which running the transaction again gives the serial outcome.
RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
# read_only_sql_transaction: the server refuses writes (a standby, or default_transaction_read_only).
READ_ONLY_SQLSTATE = "25006"
ATTEMPTS = 8


def _driver_url(url: str) -> str:
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def create_ledger_engine(url: str) -> Engine:
    url = _driver_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No pre-ping round trip on every checkout: a connection found dead is retried by `run`.
    engine = create_engine(url, pool_size=5, max_overflow=10, pool_timeout=10, hide_parameters=True)

    @event.listens_for(engine, "handle_error")
    def drop_read_only_sessions(context):
        # A session keeps the default_transaction_read_only it started with (ALTER DATABASE or ROLE ... SET),
        # and one left on a demoted primary never reaches the new one: such sessions are dropped as after a
        # lost connection, with every pooled one as old, so that the next attempt opens a fresh one.
        if getattr(context.original_exception, "sqlstate", None) == READ_ONLY_SQLSTATE:
            context.is_disconnect = True

    return engine


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, absolute (a relative one is relative to the working directory)."""
    if not _driver_url(url).startswith("sqlite"):
        return None
    path = make_url(url).database
    return Path(path).absolute() if path and path != ":memory:" else None


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection, _record):
        # SQLAlchemy then issues BEGIN itself, below, so writers can take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection):
        # A writer that began deferred could deadlock when upgrading its read lock; IMMEDIATE
        # makes concurrent writers on every worker queue for the lock instead.
        write = connection.get_execution_options().get("ledger_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


# What a database raises: SQLAlchemy's errors, and the drivers' own that they wrap.
DATABASE_ERRORS = (DBAPIError, psycopg.Error, sqlite3.Error)


def error_summary(error: BaseException) -> dict[str, str]:
    """What a log line may say of a database error: its class and, when the database server reported it,
    its SQLSTATE and the constraint it broke, never the server's words (PostgreSQL's DETAIL quotes the
    row's values, and some messages quote a value); the message only of an error the driver raised itself
    (a connection refused; SQLite, whose messages name columns and constraints, never values)."""
    driver_error = getattr(error, "orig", None) or error  # SQLAlchemy's errors wrap the driver's
    summary = {"error": type(driver_error).__name__}
    sqlstate = getattr(driver_error, "sqlstate", None)
    if not sqlstate:
        summary["driver_message"] = str(driver_error).split("\n", 1)[0]
        return summary
    summary["sqlstate"] = sqlstate
    constraint = getattr(getattr(driver_error, "diag", None), "constraint_name", None)
    if constraint:
        summary["constraint"] = constraint
    return summary


def _retryable(error: DBAPIError, attempt: int) -> bool:
    """Conflicts, and a pooled connection found dead (the database restarted since it was opened): the
    pool then drops every connection of that age, and the next attempt opens a fresh one. Running a
    use case again after its connection died in COMMIT is safe too: a post finds its reference. A write
    refused as read-only is tried once more, on a fresh session: refused again, the database is
    unavailable for writes."""
    if getattr(error.orig, "sqlstate", None) == READ_ONLY_SQLSTATE:
        return attempt == 1
    if isinstance(error, IntegrityError) or error.connection_invalidated:
        return True
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


class Database:
    """The primary database, and a hot standby that reads may be served by (adapters/standby.py)."""

    def __init__(self, url: str, standby: Standby | None = None):
        self.url = url
        self.engine = create_ledger_engine(self.url)
        self.standby = standby

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def queues_journal_records(self) -> bool:
        """PostgreSQL queues a change's journal records (adapters/stores/journal.py); SQLite seals them in
        the change itself."""
        return self.is_postgresql

    @contextmanager
    def _transaction(self, write: bool, standby: bool, snapshot: bool) -> Iterator[SqlStores]:
        options = {"ledger_write": write}
        if self.is_postgresql and not write:
            # One snapshot for every query a read makes: a statement's opening balance, lines and
            # closing balance all describe the same moment. A read that needs none goes without BEGIN
            # and COMMIT, two of a balance's four round trips.
            options["isolation_level"] = "REPEATABLE READ" if snapshot else "AUTOCOMMIT"
        with (self.standby.connection(wanted_position()) if standby else _nothing()) as replica:
            with (replica or self.engine.connect()).execution_options(**options) as connection:
                with connection.begin():
                    yield SqlStores(connection)
                if write and self.standby is not None:
                    # After the commit: a standby that has replayed this far holds the write.
                    note_commit(connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar())

    def run(self, work: Callable[[SqlStores], T], *, write: bool, standby: bool = False, snapshot: bool = True) -> T:
        """`work` in one transaction on the primary; with `standby`, a read that the standby may serve
        (when there is one, it is up, and it has replayed what the request must see)."""
        standby = standby and not write and self.standby is not None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self._transaction(write, standby, snapshot) as stores:
                    return work(stores)
            except DBAPIError as error:
                if standby and (isinstance(error, (OperationalError, InterfaceError)) or error.connection_invalidated):
                    # The standby went away during the read: the primary serves it, and the next reads.
                    log.warning("standby unavailable", extra=error_summary(error))
                    self.standby.failed_during_read()
                    standby = False
                    continue
                if attempt < ATTEMPTS and _retryable(error, attempt):
                    log.info("retrying after a conflict", extra={"attempt": attempt, **error_summary(error)})
                    continue
                if isinstance(error, (OperationalError, InterfaceError)) or error.connection_invalidated:
                    log.warning("database unavailable", extra=error_summary(error))
                    raise LedgerError(FaultCode.Unavailable, "the ledger database is not available; try again shortly") from error
                raise
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        """Whether the database answers. A pooled session found dead (the database restarted, or cut its
        sessions, since it was opened) is no answer: the pool drops every session as old, and a fresh one
        is asked."""
        for _attempt in range(2):
            try:
                with self.engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
                return True
            except DBAPIError as error:
                if not error.connection_invalidated:
                    return False
        return False

    # --- migrations ---

    # Alembic is imported only where migrations are run or checked: a worker never needs its 8 MiB.

    def _alembic_config(self):
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", _driver_url(self.url).replace("%", "%%"))
        return config

    @property
    def location(self) -> str:
        """Where the database is, as an operator would look for it: a SQLite file's absolute path, or the
        URL without its password."""
        file = sqlite_file(self.url)
        return str(file) if file else make_url(_driver_url(self.url)).render_as_string(hide_password=True)

    def unready(self) -> str | None:
        """Why the commands that administer the ledger cannot use this database yet, and what to do,
        in a sentence; None when it is there and migrated. A missing SQLite file is not created."""
        file = sqlite_file(self.url)
        if file is not None and not file.exists():
            default = "" if self.url != DEFAULT_URL else (
                " (LEDGER_DATABASE_URL's default, whose ./var/ledger.db is relative to the directory a command"
                " runs in)")
            return (f"there is no ledger database at {file}{default}: run the command from the directory where "
                    "`ledger-service serve` runs, set LEDGER_DATABASE_URL to the service's database, or create "
                    "one here with `ledger-service migrate`")
        try:
            state = self.schema_state()
        except DBAPIError as error:
            return (f"the ledger database at {self.location} cannot be reached ({type(error.orig).__name__}); "
                    "check LEDGER_DATABASE_URL, and try again once the database is up")
        if state == "empty":
            return f"the ledger database at {self.location} has no schema yet: run `ledger-service migrate`"
        if state == "outdated":
            return (f"the ledger database at {self.location} is older than this release: "
                    "run `ledger-service migrate`")
        return None

    def migrate(self, revision: str = "head") -> None:
        """Upgrades the schema to `revision` (this release's, by default), in one transaction."""
        file = sqlite_file(self.url)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        from alembic import command

        with self.engine.begin() as connection:
            config = self._alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def schema_state(self) -> str:
        """'empty', 'current' or 'outdated'."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        with self.engine.connect() as connection:
            if not inspect(connection).get_table_names():
                return "empty"
            current = MigrationContext.configure(connection).get_current_heads()
        heads = ScriptDirectory.from_config(self._alembic_config()).get_heads()
        return "current" if set(current) == set(heads) else "outdated"

    def dispose(self) -> None:
        self.engine.dispose()
        if self.standby is not None:
            self.standby.engine.dispose()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
