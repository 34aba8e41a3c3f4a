"""The statements that run on psycopg's own connection (adapters/driver.py): the rows SQLAlchemy would give,
a lost session handled as SQLAlchemy handles one under its own statements (every pooled session as old
dropped, the use case run again once), and a statement whose columns SQLAlchemy would convert refused."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import Enum, Integer, Numeric, bindparam, cast, literal, select
from sqlalchemy.exc import DataError

from conftest import ADMIN, POSTGRES_URL, prepared_database_url
from ledger_service.adapters.database import Database
from ledger_service.adapters.driver import DriverSelect
from ledger_service.adapters.orm import ClientRow
from ledger_service.domain.accounts import AccountType

ADMIN_ROW = DriverSelect(select(ClientRow.id, ClientRow.name, ClientRow.system_admin, ClientRow.disabled)
                         .where(ClientRow.name == bindparam("name")))


@pytest.fixture
def database(request, tmp_path_factory):
    found = Database(prepared_database_url(request.param, request, tmp_path_factory))
    yield found
    found.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgres"], indirect=True)
def test_rows_are_sqlalchemys_read_by_position_and_by_name(database):
    def both(stores):
        return (stores.connection.execute(ADMIN_ROW.statement, {"name": ADMIN}).all(),
                ADMIN_ROW.rows(stores.connection, {"name": ADMIN}))

    through_sqlalchemy, through_driver = database.run(both, write=False)
    assert [tuple(row) for row in through_driver] == [tuple(row) for row in through_sqlalchemy]
    (row,) = through_driver
    assert (row.name, row.system_admin, row.disabled) == (ADMIN, True, False)
    assert database.run(lambda stores: ADMIN_ROW.rows(stores.connection, {"name": "nobody"}), write=False) == []


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_column_sqlalchemy_converts_is_refused(database):
    for converted, name in ((cast(literal("ASSET"), Enum(AccountType)), "kind"),
                            (cast(literal("1.00"), Numeric(12, 2)), "amount")):
        statement = DriverSelect(select(converted.label(name)))
        with pytest.raises(TypeError, match=name):
            database.run(lambda stores: statement.rows(stores.connection, {}), write=False)


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_an_error_is_sqlalchemys_as_for_its_own_statements(database):
    dividing = DriverSelect(select(literal(1).op("/", return_type=Integer)(bindparam("divisor", type_=Integer))
                                   .label("quotient")))
    with pytest.raises(DataError) as raised:
        database.run(lambda stores: dividing.rows(stores.connection, {"divisor": 0}), write=False)
    assert raised.value.orig.sqlstate == "22012"  # division_by_zero
    (row,) = database.run(lambda stores: dividing.rows(stores.connection, {"divisor": 1}), write=False)
    assert row.quotient == 1


def _pooled_sessions(database: Database, count: int) -> list[int]:
    """Fills the pool with `count` sessions at once; their backends' process ids."""
    connections = [database.engine.connect() for _ in range(count)]
    try:
        return [connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() for connection in connections]
    finally:
        for connection in connections:
            connection.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
@pytest.mark.parametrize("write, snapshot", [(True, True), (False, True), (False, False)],
                         ids=["write", "snapshot read", "read without a transaction"])
def test_sessions_lost_under_a_driver_statement_are_all_dropped_and_the_use_case_runs_once_more(
        database, write, snapshot):
    pids = _pooled_sessions(database, 3)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as postgres:
        postgres.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        deadline = time.monotonic() + 10
        while postgres.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the sessions outlived pg_terminate_backend"
            time.sleep(0.05)
    attempts = []

    def work(stores):
        attempts.append(stores.connection.connection.driver_connection.info.backend_pid)
        return ADMIN_ROW.rows(stores.connection, {"name": ADMIN})

    (row,) = database.run(work, write=write, snapshot=snapshot)
    assert row.name == ADMIN
    # The first attempt met a dead session; the pool then took every session as old as it for dead too:
    # the second attempt ran on a fresh one, not on one of the other two dead ones.
    assert len(attempts) == 2 and attempts[0] in pids and attempts[1] not in pids
