"""The rows a posting writes, in as few statements and round trips as each database allows.

A posting writes its entries, then their lines (posted, or pending with a hold each) and metadata, the per-day
totals and the accounts' running totals. On PostgreSQL each kind of row is written by one statement
however many rows there are, the rows sent as one JSON document that the statement reads as a record
set, so that the prepared statement is the same for one entry and for a thousand (and the document is
written by the json module's C encoder: psycopg writes an array parameter in Python, element by
element); and everything after the entries goes in one statement, one round trip, with the change's
journal records queued (stores/journal.py) as its last part. Elsewhere
(SQLite, in-process) SQLAlchemy's executemany does the same work.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from .driver import as_sqlalchemy_errors
from .orm import AccountDayRow, AccountRow, EntryMetadataRow, EntryRow, HoldRow, LineRow, PendingLineRow

ENTRY_COLUMNS = ("public_id", "reference", "effective_date", "description", "status", "fingerprint",
                 "pending_expires_at", "reversal_of_id")
# Columns of each kind of row, in the order the rows give them.
LINE_COLUMNS = ("entry_id", "position", "account_id", "effective_date", "side", "amount", "memo")
PENDING_LINE_COLUMNS = ("entry_id", "position", "account_id", "side", "amount", "memo")
METADATA_COLUMNS = ("entry_id", "key", "value")
HOLD_COLUMNS = ("entry_id", "position", "account_id", "side", "amount", "expires_at")
DAY_TOTAL_COLUMNS = ("account_id", "day", "debits", "credits")
ACCOUNT_TOTAL_COLUMNS = ("account_id", "posted_debits", "posted_credits", "pending_debits", "pending_credits")


class Rows:
    """What one posting writes after its entries: each kind a list of tuples in the column order above,
    except the per-day totals, summed per (account, day) as lines are added (a statement may touch each
    such row once)."""

    def __init__(self):
        self.lines: list[tuple] = []
        self.pending_lines: list[tuple] = []
        self.metadata: list[tuple] = []
        self.holds: list[tuple] = []
        self.account_totals: list[tuple] = []
        self._days: dict[tuple[int, object], list[int]] = {}

    def add_to_day(self, account_id: int, day, debit: bool, minor: int) -> None:
        self._days.setdefault((account_id, day), [0, 0])[0 if debit else 1] += minor

    @property
    def day_totals(self) -> list[tuple]:
        return [(account_id, day, debits, credits) for (account_id, day), (debits, credits) in sorted(self._days.items())]


def _day_totals_upsert(dialect_insert):
    statement = dialect_insert(AccountDayRow)
    return statement.on_conflict_do_update(
        index_elements=[AccountDayRow.account_id, AccountDayRow.day],
        set_=dict(debits=AccountDayRow.debits + statement.excluded.debits,
                  credits=AccountDayRow.credits + statement.excluded.credits))


_DAY_TOTALS = {"postgresql": _day_totals_upsert(postgresql.insert), "sqlite": _day_totals_upsert(sqlite.insert)}
_accounts = AccountRow.__table__
_ROW_STATEMENTS = {
    "lines": insert(LineRow),
    "pending_lines": insert(PendingLineRow),
    "metadata": insert(EntryMetadataRow),
    "holds": insert(HoldRow),
    "account_totals": update(_accounts).where(_accounts.c.id == bindparam("account_id")).values(
        {name: bindparam(name) for name in ACCOUNT_TOTAL_COLUMNS[1:]}),
}
_COLUMNS = {"lines": LINE_COLUMNS, "pending_lines": PENDING_LINE_COLUMNS, "metadata": METADATA_COLUMNS,
            "holds": HOLD_COLUMNS,
            "day_totals": DAY_TOTAL_COLUMNS, "account_totals": ACCOUNT_TOTAL_COLUMNS}


class BulkWrites:
    """SQLAlchemy's executemany, for any database."""

    def __init__(self, connection: Connection):
        self.connection = connection

    def entries(self, shared: dict, rows: list[tuple]) -> dict[str, int]:
        """Inserts entries, each row in ENTRY_COLUMNS order, with the `shared` columns they all have;
        returns their row ids by public id."""
        inserted = self.connection.execute(insert(EntryRow).returning(EntryRow.id, EntryRow.public_id),
                                           [{**shared, **dict(zip(ENTRY_COLUMNS, row))} for row in rows])
        return {public_id: entry_id for entry_id, public_id in inserted}

    def rows(self, rows: Rows) -> None:
        for kind, columns in _COLUMNS.items():
            values = getattr(rows, kind)
            if values:
                statement = _DAY_TOTALS[self.connection.dialect.name] if kind == "day_totals" else _ROW_STATEMENTS[kind]
                self.connection.execute(statement, [dict(zip(columns, row)) for row in values])


def record_set(columns: tuple[str, ...], types: tuple[str, ...]) -> str:
    """The rows of a JSON document parameter (`as_json`), as a FROM item named v with these columns."""
    fields = ", ".join(f"(r->>{index})::{kind} AS {column}" for index, (column, kind) in enumerate(zip(columns, types)))
    return f"(SELECT {fields} FROM jsonb_array_elements(%s::jsonb) AS r) AS v"


def _insert(table: str, columns: tuple[str, ...], types: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {record_set(columns, types)}"


def _json_value(value):
    """What json.dumps writes of a date or a timestamp: ISO 8601, as PostgreSQL reads it."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


def as_json(rows: list) -> str:
    """The rows as one JSON document: for a record set, an array per row, its values in the record set's
    column order (the tuples as they are: nothing more is built for a batch's thousands of rows).
    Amounts are integers (minor units) and stay so; text is written as it is."""
    return json.dumps(rows, ensure_ascii=False, default=_json_value)


_ENTRY_TYPES = ("varchar", "varchar", "date", "varchar", "varchar", "varchar", "timestamptz", "bigint")
_POSTGRES_ENTRIES = (
    "INSERT INTO entries (book_id, recorded_at, client_id, request_id, " + ", ".join(ENTRY_COLUMNS) + ") "
    "SELECT %s, %s, %s, %s, " + ", ".join(ENTRY_COLUMNS) + " FROM " + record_set(ENTRY_COLUMNS, _ENTRY_TYPES)
    + " RETURNING id, public_id"
)
_POSTGRES_ROWS = {
    "lines": _insert("lines", LINE_COLUMNS, ("bigint", "int", "bigint", "date", "varchar", "bigint", "varchar")),
    "pending_lines": _insert("pending_lines", PENDING_LINE_COLUMNS,
                             ("bigint", "int", "bigint", "varchar", "bigint", "varchar")),
    "metadata": _insert("entry_metadata", METADATA_COLUMNS, ("bigint", "varchar", "varchar")),
    "holds": _insert("holds", HOLD_COLUMNS, ("bigint", "int", "bigint", "varchar", "bigint", "timestamptz")),
    "day_totals": _insert("account_days", DAY_TOTAL_COLUMNS, ("bigint", "date", "bigint", "bigint"))
    + " ON CONFLICT (account_id, day) DO UPDATE SET debits = account_days.debits + excluded.debits,"
      " credits = account_days.credits + excluded.credits",
    "account_totals": "UPDATE accounts SET posted_debits = v.posted_debits, posted_credits = v.posted_credits,"
                      " pending_debits = v.pending_debits, pending_credits = v.pending_credits FROM "
                      + record_set(ACCOUNT_TOTAL_COLUMNS, ("bigint",) * 5) + " WHERE accounts.id = v.account_id",
}


@dataclass(frozen=True)
class Also:
    """Another store's write that a statement of rows (PostgresBulkWrites.rows) carries, so that it costs
    no round trip of its own: an INSERT that reads nothing the rows write, and its positional parameters."""

    statement: str
    parameters: list


class PostgresBulkWrites(BulkWrites):
    """One statement per kind of row, the rows as a JSON document, on the transaction's own psycopg connection."""

    def __init__(self, connection: Connection):
        super().__init__(connection)
        self.driver = connection.connection.driver_connection

    def entries(self, shared: dict, rows: list[tuple]) -> dict[str, int]:
        with as_sqlalchemy_errors(self.connection, _POSTGRES_ENTRIES), self.driver.cursor() as cursor:
            cursor.execute(_POSTGRES_ENTRIES, [shared["book_id"], shared["recorded_at"], shared["client_id"],
                                               shared["request_id"], as_json(rows)])
            return {public_id: entry_id for entry_id, public_id in cursor.fetchall()}

    def rows(self, rows: Rows, also: Also | None = None) -> None:
        """Every kind of row in one statement, and `also`: each statement but the last in a WITH clause.
        None of them reads what another writes, so they can share the statement's one snapshot."""
        writes = [(_POSTGRES_ROWS[kind], [as_json(values)]) for kind in _COLUMNS if (values := getattr(rows, kind))]
        if also is not None:
            writes.append((also.statement, also.parameters))
        if not writes:
            return
        *first, (final, _) = writes
        clauses = [f"writes_{number} AS ({clause})" for number, (clause, _) in enumerate(first)]
        statement = ("WITH " + ", ".join(clauses) + " " if clauses else "") + final
        parameters = [parameter for _, some in writes for parameter in some]
        with as_sqlalchemy_errors(self.connection, statement), self.driver.cursor() as cursor:
            cursor.execute(statement, parameters)


def bulk_writes(connection: Connection) -> BulkWrites:
    return PostgresBulkWrites(connection) if connection.dialect.name == "postgresql" else BulkWrites(connection)
