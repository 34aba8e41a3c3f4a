"""What every store's SQL shares: timestamps as UTC, and statements over lists of values built for each
database.

The statements every request runs are built once, with bind parameters: building a statement costs
more than SQLAlchemy's cached compilation and the round trip together.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Connection, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite

DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; every stored timestamp is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _expanding_in(column, name: str):
    return column.in_(bindparam(name, expanding=True))


def _equals_any(column, name: str):
    return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))


def over_lists(build: Callable[[Callable], dict]) -> dict[str, dict]:
    """The statements `build(one_of)` makes, for each database, where each statement that takes a list of
    values asks `one_of(column, name)`: on PostgreSQL one array parameter (= ANY), so that the statement
    it prepares is planned for a list of any length, never for a book's first few rows; SQLite has no
    arrays, and SQLAlchemy writes IN (?, ?, ...)."""
    return {"postgresql": build(_equals_any), "sqlite": build(_expanding_in)}


class SqlStore:
    """A store's reads and writes, as SQL over the one connection of its transaction."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.dialect = connection.dialect.name

    def _run(self, statement, parameters=None):
        return self.connection.execute(statement, parameters)


class HistoryStore(SqlStore):
    """A store that writes history, and appends each change's record to the book's journal
    (stores/journal.py) as it does."""

    def __init__(self, connection: Connection, journal):
        super().__init__(connection)
        self.journal = journal
