"""Statements run on the transaction's own psycopg connection rather than through SQLAlchemy's execution,
for what nearly every request runs on PostgreSQL: the caller's query, an account read, the accounts a
posting locks, the rows a posting writes. On this project's machine SQLAlchemy spends about 130 µs of
CPU on executing a compiled statement (its cache, parameters, result rows) where psycopg alone spends
about 50, and a request runs two to four such statements.

The statement is the same either way: built with SQLAlchemy, compiled once, run in the transaction
SQLAlchemy began (psycopg opens it on the connection's first statement, in the isolation level
SQLAlchemy set), and its errors handled as SQLAlchemy handles those of its own statements. One cursor
serves every such statement of a connection, for as long as the connection lives (a new cursor for
each statement cost about 15 µs more of CPU a statement, measured alone), and names its rows as the
first result of each statement named them.
"""
from __future__ import annotations

import contextlib

import psycopg
from psycopg.rows import RowMaker, namedtuple_row
from sqlalchemy import Connection
from sqlalchemy.sql import Select

_KEPT_CURSOR = "ledger_kept_cursor"


def kept_cursor(connection: Connection) -> psycopg.Cursor:
    """The psycopg cursor kept for `connection`'s psycopg connection, made on its first use. It is kept
    in the pool's record of that connection (`info`), which SQLAlchemy discards with the connection when
    it is closed or invalidated. Its rows are plain tuples."""
    info = connection.connection.info
    cursor = info.get(_KEPT_CURSOR)
    if cursor is None:
        cursor = info[_KEPT_CURSOR] = connection.connection.driver_connection.cursor()
    return cursor


@contextlib.contextmanager
def as_sqlalchemy_errors(connection: Connection, statement: str, parameters=None):
    """psycopg's errors of a statement run on `connection`'s own psycopg connection, as SQLAlchemy raises
    them for its own statements: the engine's handle_error listeners run, a lost session is invalidated
    with every pooled one as old, and the error comes wrapped (IntegrityError for a conflict the unit of
    work retries, OperationalError with connection_invalidated for a lost connection)."""
    try:
        yield
    except psycopg.Error as error:
        # The method SQLAlchemy's own execution calls on a DBAPI error (no public equivalent exists).
        connection._handle_dbapi_exception(error, statement, parameters, None, None)


class DriverSelect:
    """A SELECT run on psycopg's connection on PostgreSQL, by SQLAlchemy elsewhere (SQLite), its rows
    named tuples either way (SQLAlchemy's rows read alike: by position, or by column name or label).
    Its parameters are converted as SQLAlchemy converts them (an array's list); its columns must need no
    conversion (no JSON, no Enum, no Numeric), which is checked when it is first compiled."""

    def __init__(self, statement: Select):
        self.statement = statement
        self._compiled = None
        self._named: RowMaker | None = None  # its rows' named tuple, as psycopg names the columns of its result

    def rows(self, connection: Connection, parameters: dict) -> list:
        if connection.dialect.name != "postgresql":
            return connection.execute(self.statement, parameters).all()
        compiled, converters = self._compiled or self._compile(connection)
        values = compiled.construct_params(parameters)
        for name, convert in converters.items():
            values[name] = convert(values[name])
        cursor = kept_cursor(connection)
        with as_sqlalchemy_errors(connection, compiled.string, values):
            rows = cursor.execute(compiled.string, values).fetchall()
        named = self._named or self._name_rows(cursor)
        return [named(row) for row in rows]

    def _name_rows(self, cursor: psycopg.Cursor) -> RowMaker:
        self._named = namedtuple_row(cursor)
        return self._named

    def _compile(self, connection: Connection):
        dialect = connection.dialect
        compiled = self.statement.compile(dialect=dialect)
        converted = [column.name for column in self.statement.selected_columns if _converts(column.type, dialect)]
        if converted or compiled.post_compile_params:
            raise TypeError(f"SQLAlchemy converts or renders {', '.join(converted) or 'parameters'} of this "
                            "statement when it runs: let SQLAlchemy run it")
        converters = {compiled.bind_names[bind]: convert for bind in compiled.binds.values()
                      if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        self._compiled = compiled, converters
        return self._compiled


def _converts(column_type, dialect) -> bool:
    """Whether SQLAlchemy converts what psycopg reads of a column of this type."""
    try:
        return column_type.dialect_impl(dialect).result_processor(dialect, None) is not None
    except TypeError:  # a conversion chosen by the column's type code, which only the result gives
        return True
