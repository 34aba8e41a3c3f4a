"""Look-ups in a book whose cost must not grow with the book, whatever PostgreSQL's planner believes of
its size (adapters/stores/sql.py, `over_lists`).

A prepared statement keeps, after its first executions, a plan made for any value of its parameters (a
generic plan). In a book the planner has no statistics for yet (a new book, or one growing faster than
autovacuum analyses it), such a plan for "the book's rows with one of these keys" read the whole book
and compared each row with each key in turn; a plan made for the keys given read the whole book too.
The test builds such a book, and counts the rows PostgreSQL reads under either plan."""
from __future__ import annotations

import re

import psycopg
import pytest
from sqlalchemy.dialects import postgresql

from conftest import prepared_database_url
from ledger_service.adapters.stores.entries import _OVER_LISTS

BOOK_ROWS = 20_000


def _rows_read(plan: dict, table: str) -> int:
    """The rows every scan of `table` or of one of its indexes in `plan` produced or filtered out."""
    own = 0
    if plan.get("Relation Name") == table or plan.get("Index Name", "").startswith(f"{table}_"):
        own = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", ()))


def _explained(connection, statement, plans: str, types: dict[str, str], values: dict[str, str]) -> tuple[dict, list]:
    """`statement` prepared with its parameters typed as `types` (by name), planned as `plans` says (for
    any values, or for these), then run with `values` (SQL literals): its plan as run, and its rows."""
    compiled = str(statement.compile(dialect=postgresql.psycopg.dialect()))
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", compiled)))
    positional = re.sub(r"%\((\w+)\)s", lambda found: f"${names.index(found[1]) + 1}", compiled)
    connection.execute(f"PREPARE looked_up ({', '.join(types[name] for name in names)}) AS {positional}")
    connection.execute(f"SET plan_cache_mode = {plans}")
    execute = f"EXECUTE looked_up ({', '.join(values[name] for name in names)})"
    (explained,), = connection.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {execute}")
    return explained[0]["Plan"], connection.execute(execute).fetchall()


def _book_of_entries(connection) -> int:
    """A new book of BOOK_ROWS entries, with no statistics gathered."""
    connection.execute("ALTER TABLE entries SET (autovacuum_enabled = false)")
    (book_id,), = connection.execute(
        "INSERT INTO books (code, name, created_at) VALUES ('PLANS', 'plans', now()) RETURNING id").fetchall()
    connection.execute("INSERT INTO entries (public_id, book_id, reference, effective_date, recorded_at, status, "
                       "fingerprint) SELECT gen_random_uuid(), %s, 'old-' || n, current_date, now(), 'POSTED', 'f' "
                       "FROM generate_series(1, %s) AS n", [book_id, BOOK_ROWS])
    return book_id


def _array(values: list[str]) -> str:
    return "'{" + ",".join(values) + "}'"


@pytest.mark.postgres
@pytest.mark.parametrize("plans", ["force_generic_plan", "force_custom_plan"])
def test_a_batchs_references_are_found_by_one_index_probe_each_in_a_book_of_any_size(plans, request, tmp_path_factory):
    with psycopg.connect(prepared_database_url("postgres", request, tmp_path_factory), autocommit=True) as connection:
        book_id = _book_of_entries(connection)
        # A batch resent in part: ten references the book holds, the rest new.
        references = [f"old-{n}" for n in range(1, 11)] + [f"new-{n}" for n in range(990)]
        plan, found = _explained(connection, _OVER_LISTS["postgresql"]["heads"], plans,
                                 {"book_id": "bigint", "references": "varchar[]"},
                                 {"book_id": str(book_id), "references": _array(references)})
    assert sorted(row[2] for row in found) == sorted(references[:10])
    # One probe a reference; the whole book is BOOK_ROWS rows.
    assert _rows_read(plan, "entries") <= 2 * len(references)
