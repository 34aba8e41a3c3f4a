"""The rows a posting writes, in as few statements and round trips as each database allows.

A posting writes its entries, then their lines (posted, or pending with a hold each) and metadata, the per-day
totals and the accounts' running totals. On PostgreSQL each kind of row is written by one statement
however many rows there are, the rows sent as one JSON document that the statement reads as a record
set, so that the prepared statement is the same for one entry and for a thousand (and the document is
written by the json module's C encoder: psycopg writes an array parameter in Python, element by
element); and all of it, the entries included, goes in one statement, one round trip, with the
change's journal records queued (stores/journal.py) as its last part. The entries' ids are drawn from
their sequence by that statement, so the rows name a new entry by a placeholder until then (`Rows`).
Elsewhere (SQLite, in-process) SQLAlchemy's executemany does the same work, the entries first.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from .driver import as_sqlalchemy_errors, kept_cursor
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
    """What one change writes: each kind a list of tuples in the column order above, except the per-day
    totals, summed per (account, day) as lines are added (a statement may touch each such row once).

    New entries (`entries`, from BulkWrites.entries) are written with the rest on PostgreSQL. A row
    names one of them by a placeholder, the negative of its position among them (-1, -2, ...), which
    the statement replaces with the id it draws for it, as it does in the journal's queued records."""

    def __init__(self):
        self.entries: tuple[dict, list[tuple]] | None = None  # (the columns they share, their rows)
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

    def entries(self, shared: dict, rows: list[tuple], written_with: Rows) -> dict[str, int]:
        """The entries to write, each row in ENTRY_COLUMNS order, with the `shared` columns they all have:
        how the rows of `written_with` name each of them, by public id. Here they are inserted at once,
        and named by their ids."""
        inserted = self.connection.execute(insert(EntryRow).returning(EntryRow.id, EntryRow.public_id),
                                           [{**shared, **dict(zip(ENTRY_COLUMNS, row))} for row in rows])
        return {public_id: entry_id for entry_id, public_id in inserted}

    def rows(self, rows: Rows) -> None:
        for kind, columns in _COLUMNS.items():
            values = getattr(rows, kind)
            if values:
                statement = _DAY_TOTALS[self.connection.dialect.name] if kind == "day_totals" else _ROW_STATEMENTS[kind]
                self.connection.execute(statement, [dict(zip(columns, row)) for row in values])


def record_set(columns: tuple[str, ...], types: tuple[str, ...], names_entry: str | None = None) -> str:
    """The rows of a JSON document parameter (`as_json`), as a FROM item named v with these columns.
    With `names_entry`, that column names an entry by its id or by a placeholder (Rows), which the
    statement's new entries (_NEW_ENTRY_IDS) resolve."""
    fields = ", ".join(
        (f"COALESCE(new_entry_ids.id, (r->>{index})::bigint)" if column == names_entry else f"(r->>{index})::{kind}")
        + f" AS {column}" for index, (column, kind) in enumerate(zip(columns, types)))
    source = "jsonb_array_elements(%s::jsonb) AS r"
    if names_entry is not None:
        source += (f" LEFT JOIN new_entry_ids ON new_entry_ids.position = -(r->>{columns.index(names_entry)})::bigint")
    return f"(SELECT {fields} FROM {source}) AS v"


def _insert(table: str, columns: tuple[str, ...], types: tuple[str, ...], names_entry: str | None = None) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM "
            + record_set(columns, types, names_entry))


def _json_value(value):
    """What the documents hold of a date or a timestamp: ISO 8601, as PostgreSQL reads it."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")


# One encoder for every document: json.dumps with options builds a new one each time, and a posting
# writes several documents.
_JSON = json.JSONEncoder(ensure_ascii=False, default=_json_value)


def as_json(rows: list) -> str:
    """The rows as one JSON document: for a record set, an array per row, its values in the record set's
    column order (the tuples as they are: nothing more is built for a batch's thousands of rows).
    Amounts are integers (minor units) and stay so; text is written as it is."""
    return _JSON.encode(rows)


_ENTRY_TYPES = ("varchar", "varchar", "date", "varchar", "varchar", "varchar", "timestamptz", "bigint")
# A statement's new entries, each with the id drawn for it and its position (1, 2, ...) in the document;
# a CTE that calls a volatile function is computed once, so every part of the statement reads the same
# ids. (Counted from the document itself, not from a parameter: PostgreSQL then plans the statement once
# for every number of entries, where a count it could see made it plan the statement on every run.)
_NEW_ENTRY_IDS = ("SELECT nextval('entries_id_seq') AS id, position, value"
                  " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r(value, position)")
_NEW_ENTRIES = (
    "INSERT INTO entries (id, book_id, recorded_at, client_id, request_id, " + ", ".join(ENTRY_COLUMNS) + ")"
    " SELECT id, %s, %s, %s, %s, " + ", ".join(f"(value->>{index})::{kind}" for index, kind in enumerate(_ENTRY_TYPES))
    + " FROM new_entry_ids"
)
_LINE_TYPES = ("bigint", "int", "bigint", "date", "varchar", "bigint", "varchar")
_PENDING_LINE_TYPES = ("bigint", "int", "bigint", "varchar", "bigint", "varchar")
_METADATA_TYPES = ("bigint", "varchar", "varchar")
_HOLD_TYPES = ("bigint", "int", "bigint", "varchar", "bigint", "timestamptz")
_DAY_TOTALS_INSERT = (
    _insert("account_days", DAY_TOTAL_COLUMNS, ("bigint", "date", "bigint", "bigint"))
    + " ON CONFLICT (account_id, day) DO UPDATE SET debits = account_days.debits + excluded.debits,"
      " credits = account_days.credits + excluded.credits")
_ACCOUNT_TOTALS_UPDATE = (
    "UPDATE accounts SET posted_debits = v.posted_debits, posted_credits = v.posted_credits,"
    " pending_debits = v.pending_debits, pending_credits = v.pending_credits FROM "
    + record_set(ACCOUNT_TOTAL_COLUMNS, ("bigint",) * 5) + " WHERE accounts.id = v.account_id")


def _postgres_rows(names_entry: str | None) -> dict[str, str]:
    """Each kind's statement; with `names_entry`, the kinds that name an entry resolve placeholders."""
    return {
        "lines": _insert("lines", LINE_COLUMNS, _LINE_TYPES, names_entry),
        "pending_lines": _insert("pending_lines", PENDING_LINE_COLUMNS, _PENDING_LINE_TYPES, names_entry),
        "metadata": _insert("entry_metadata", METADATA_COLUMNS, _METADATA_TYPES, names_entry),
        "holds": _insert("holds", HOLD_COLUMNS, _HOLD_TYPES, names_entry),
        "day_totals": _DAY_TOTALS_INSERT,
        "account_totals": _ACCOUNT_TOTALS_UPDATE,
    }


# Of rows naming existing entries only; of rows that may name new ones too.
_POSTGRES_ROWS = {False: _postgres_rows(None), True: _postgres_rows("entry_id")}


@dataclass(frozen=True)
class Also:
    """Another store's write that a statement of rows (PostgresBulkWrites.rows) carries, so that it costs
    no round trip of its own: an INSERT that reads nothing the rows write, and its positional parameters;
    `with_new_entries`, the same INSERT when its rows may name the statement's new entries by placeholder."""

    statement: str
    parameters: list
    with_new_entries: str


class PostgresBulkWrites(BulkWrites):
    """One statement for every kind of row, the entries included, the rows as JSON documents, on the
    transaction's own psycopg connection."""

    def entries(self, shared: dict, rows: list[tuple], written_with: Rows) -> dict[str, int]:
        """Here the entries are written by `written_with`'s statement: named by placeholders until then."""
        written_with.entries = (shared, rows)
        return {row[0]: -position for position, row in enumerate(rows, start=1)}

    def rows(self, rows: Rows, also: Also | None = None) -> None:
        """Every kind of row in one statement, the new entries first, and `also`: each part but the last
        in a WITH clause. No part reads what another writes (the new entries' ids are read from the
        part that draws them, not from the table), so they can share the statement's one snapshot."""
        new = rows.entries is not None
        writes = []  # (name in the WITH clause, statement, its parameters)
        if new:
            shared, entries = rows.entries
            writes += [("new_entry_ids", _NEW_ENTRY_IDS, [as_json(entries)]),
                       ("new_entries", _NEW_ENTRIES, [shared["book_id"], shared["recorded_at"], shared["client_id"],
                                                      shared["request_id"]])]
        kinds = [kind for kind in _COLUMNS if getattr(rows, kind)]
        writes += [(f"writes_{number}", _POSTGRES_ROWS[new][kind], [as_json(getattr(rows, kind))])
                   for number, kind in enumerate(kinds)]
        if also is not None:
            writes.append(("also", also.with_new_entries if new else also.statement, also.parameters))
        if not writes:
            return
        *first, (_, final, _) = writes
        statement = ("WITH " + ", ".join(f"{name} AS ({clause})" for name, clause, _ in first) + " " if first else "") + final
        parameters = [parameter for _, _, some in writes for parameter in some]
        with as_sqlalchemy_errors(self.connection, statement):
            kept_cursor(self.connection).execute(statement, parameters)


def bulk_writes(connection: Connection) -> BulkWrites:
    return PostgresBulkWrites(connection) if connection.dialect.name == "postgresql" else BulkWrites(connection)
