"""What every store's SQL shares: timestamps as UTC, and statements over lists of values built for each
database.

The statements every request runs are built once, with bind parameters: building a statement costs
more than SQLAlchemy's cached compilation and the round trip together.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Connection, and_, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; every stored timestamp is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


def _expanding_in(column, name: str, book: str | None = None):
    listed = column.in_(bindparam(name, expanding=True))
    return listed if book is None else and_(column.table.c.book_id == bindparam(book), listed)


def _equals_any(column, name: str, book: str | None = None):
    values = bindparam(name, type_=postgresql.ARRAY(column.type))
    if book is None:
        return column == any_(values)
    wanted = func.unnest(values).table_valued("value").render_derived(name=f"{name}_wanted")
    probed = column.table.alias(f"{name}_probed")
    found = (select(probed.c.id).where(probed.c.book_id == bindparam(book), probed.c[column.name] == wanted.c.value)
             .scalar_subquery())
    return column.table.c.id == any_(func.array(select(found).select_from(wanted).scalar_subquery()))


def over_lists(build: Callable[[Callable], dict]) -> dict[str, dict]:
    """The statements `build(one_of)` makes, for each database, where each statement that takes a list of
    values asks `one_of(column, name)`, or `one_of(column, name, book=book_name)` for the rows of the book
    :book_name whose `column` (unique in a book) is in the list. On PostgreSQL the list is one array
    parameter, so that the statement it prepares serves a list of any length; SQLite has no arrays, and
    SQLAlchemy writes IN (?, ?, ...).

    In a book, PostgreSQL finds each value by one probe of the unique index on (book, column), a
    subquery of its own for each unnested value, then the rows by the ids found. With `book_id = :book
    AND column = ANY (:list)` the plan depended on what the planner believed of the book's size: a book
    it had no statistics for (a new one, or one growing faster than autovacuum analyses it) was read
    whole, and in the plan for any list that a prepared statement keeps after its first executions each
    of its rows was compared with each value in turn: 350 to 550 ms to look up a batch's 1000
    references in a book of 10,000 entries. PostgreSQL plans such a statement anew for each list (its
    plan for any list looks dearer than one for a known length), 0.2 to 0.35 ms: nothing beside a batch,
    but a quarter of what a single posting costs it, so the accounts a posting locks (two, nearly always)
    are still found by `= ANY`."""
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
