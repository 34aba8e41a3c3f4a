"""Reads served by a PostgreSQL hot standby (LEDGER_READ_DATABASE_URL), and how a client reads its own
writes there (docs/operations.md#read-replicas).

A write's transaction commits on the primary; the service then reads the primary's WAL position and
answers with it (`Ledger-Commit-Position`). A read that carries a position (`Ledger-Read-After`, which
the client package sends back by itself) is served by the standby once the standby has replayed that
far, waited for at most LEDGER_READ_WAIT_SECONDS, and by the primary otherwise; so is every read while
the standby is down, for LEDGER_STANDBY_RETRY_SECONDS after it failed. A position is PostgreSQL's
`pg_lsn`, `X/Y` in hex.
"""
from __future__ import annotations

import contextvars
import re
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

POSITION = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")
# The primary's position after the request's last committed write, and the position its reads must
# include (what the client asked for, or what this request itself wrote). Each request sets them anew
# (wsgi.py), in the thread that serves it.
commit_position: contextvars.ContextVar[str | None] = contextvars.ContextVar("commit_position", default=None)
read_after: contextvars.ContextVar[str | None] = contextvars.ContextVar("read_after", default=None)
# How often a read waiting for the standby asks how far it has replayed.
POLL_SECONDS = 0.005
# Who served a read offered to the standby: the standby, or the primary because the standby had not
# replayed far enough in time, or because it was down.
SERVED_BY = ("standby", "primary_lagging", "primary_standby_down")


def position_value(position: str) -> int:
    high, low = position.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def later(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return first or second
    return first if position_value(first) >= position_value(second) else second


def note_commit(position: str) -> None:
    """The request wrote, and committed on the primary at `position`: its answer says so, and its own
    later reads include it."""
    commit_position.set(later(commit_position.get(), position))


def wanted_position() -> str | None:
    return later(read_after.get(), commit_position.get())


class Standby:
    """The standby's engine, whether it is taken to be up, and how long a read waits for it."""

    def __init__(self, engine: Engine, wait_seconds: float, retry_seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.wait_seconds = wait_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._down_until = 0.0
        self._lock = threading.Lock()
        # Told what became of each read offered to the standby (one of SERVED_BY), for /metrics.
        self.observe: Callable[[str], None] = lambda served_by: None

    def mark_down(self) -> None:
        with self._lock:
            self._down_until = self.clock() + self.retry_seconds

    def failed_during_read(self) -> None:
        """A read the standby took failed with its connection: the primary serves it, and the next ones."""
        self.mark_down()
        self.observe("primary_standby_down")

    @property
    def up(self) -> bool:
        return self.clock() >= self._down_until

    @contextmanager
    def connection(self, after: str | None) -> Iterator[Connection | None]:
        """A connection to the standby once it has replayed `after` (None: at once), or None when the read
        is to go to the primary: the standby is down, or did not get that far in time."""
        if not self.up:
            self.observe("primary_standby_down")
            yield None
            return
        try:
            connection = self.engine.connect()
        except DBAPIError:
            self.mark_down()
            self.observe("primary_standby_down")
            yield None
            return
        with connection:
            try:
                caught_up = after is None or self._wait_for(connection, after)
            except DBAPIError:
                self.mark_down()
                self.observe("primary_standby_down")
                yield None
                return
            if not caught_up:
                self.observe("primary_lagging")
                yield None
                return
            yield connection
            # Counted once the read is done: one the standby failed is the primary's (Database.run).
            self.observe("standby")

    def _wait_for(self, connection: Connection, after: str) -> bool:
        deadline = self.clock() + self.wait_seconds
        while True:
            replayed = connection.exec_driver_sql(
                "SELECT pg_last_wal_replay_lsn() >= %(after)s::pg_lsn", {"after": after}).scalar()
            connection.rollback()
            if replayed:
                return True
            if self.clock() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def lag(self, primary: Engine) -> dict:
        """How far the standby is behind the primary: WAL bytes not yet replayed, and seconds since the
        last transaction it replayed was committed (which grows while the primary is idle too); None
        while the standby cannot be asked."""
        try:
            with primary.connect() as connection:
                written = connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar()
            with self.engine.connect() as connection:
                replayed, seconds = connection.exec_driver_sql(
                    "SELECT pg_last_wal_replay_lsn()::text,"
                    " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())").one()
        except DBAPIError:
            return {"up": False, "lag_bytes": None, "replay_age_seconds": None}
        behind = max(0, position_value(written) - position_value(replayed)) if replayed else None
        return {"up": True, "lag_bytes": behind, "replay_age_seconds": float(seconds) if seconds is not None else None}
