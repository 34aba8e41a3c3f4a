"""Triggers with which the database itself refuses to rewrite history: UPDATE, DELETE (and, on
PostgreSQL, TRUNCATE) of the rows of entries, their lines and metadata, pending entries' lines and outcomes, period
closes and the journal fail, whoever runs them, until an owner of the schema drops or disables the
triggers (which a least-privileged service role cannot: docs/operations.md#least-privilege).

A later migration that rebuilds one of these tables on SQLite (Alembic's batch mode copies a table and
drops the old one, and its triggers with it) must run `guard_statements` for it again.
"""
from __future__ import annotations

HISTORY_TABLES = ("entries", "lines", "pending_lines", "pending_outcomes", "period_closes", "journal_records",
                  "entry_metadata")
_REFUSE = "ledger_refuse_history_change"


def guard_statements(dialect: str, tables=HISTORY_TABLES) -> list[str]:
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {_REFUSE}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'history is append-only: % on % refused', TG_OP, TG_TABLE_NAME; END $$",
            *(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
              f"FOR EACH ROW EXECUTE FUNCTION {_REFUSE}()" for table in tables),
            *(f"CREATE TRIGGER {table}_never_truncated BEFORE TRUNCATE ON {table} "
              f"FOR EACH STATEMENT EXECUTE FUNCTION {_REFUSE}()" for table in tables),
        ]
    return [f"CREATE TRIGGER {table}_append_only_{verb.lower()} BEFORE {verb} ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'history is append-only: {verb} on {table} refused'); END"
            for table in tables for verb in ("UPDATE", "DELETE")]


def unguard_statements(dialect: str, tables=HISTORY_TABLES) -> list[str]:
    if dialect == "postgresql":
        return [*(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}"
                  for table in tables for name in ("append_only", "never_truncated")),
                f"DROP FUNCTION IF EXISTS {_REFUSE}()"]
    return [f"DROP TRIGGER IF EXISTS {table}_append_only_{verb}" for table in tables for verb in ("update", "delete")]
