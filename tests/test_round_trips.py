"""How many statements the hottest operations send to PostgreSQL, counted in the log of a PostgreSQL
server of the test's own (log_statement = all), from the service's sessions alone: each statement is a
round trip, and on a machine whose cores the database shares with the service, a round trip costs
both of them CPU (bench/README.md, Lifecycle).

GetBalance and GetAccount are one statement, the caller and the account read together; GetBalance
as of a date one more, for the day totals. PostEntry is five: BEGIN, the caller, the accounts locked (the reference looked up with
them), the rows, COMMIT."""
from __future__ import annotations

import re

import pytest

from conftest import running_private_postgres, serve
from test_database_outage import ledger_database

SESSION = "ledger-under-test"
# A statement as the server logs it (a simple query's, or an extended-protocol execution's), after the
# session's application name (log_line_prefix).
STATEMENT = re.compile(rf"^{SESSION}\|LOG:  (?:statement|execute [^:]*): (\S+)", re.MULTILINE)


@pytest.fixture
def counted_server(tmp_path):
    settings = {"log_statement": "all", "log_line_prefix": "%a|"}
    with running_private_postgres(settings=settings) as cluster:
        url = f"{ledger_database(cluster)}?application_name={SESSION}"
        # Nothing in the background: only the requests' statements are logged.
        server = serve(url, tmp_path, workers=1, extra_env={"LEDGER_JOURNAL_SEAL_SECONDS": "0",
                                                            "LEDGER_HOLD_SWEEP_SECONDS": "0"})
        try:
            yield server, cluster.log_file
        finally:
            server.stop()


def statements_of(log_file, calls) -> list[str]:
    """The first word of each statement the service's sessions sent while `calls` ran."""
    before = log_file.stat().st_size
    calls()
    with log_file.open() as log:
        log.seek(before)
        return STATEMENT.findall(log.read())


@pytest.mark.postgres
def test_a_balance_or_an_account_is_one_statement_and_a_posting_five(counted_server):
    server, log_file = counted_server
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    # Past psycopg's preparing of each statement (on its fifth run) and the first login's password check.
    for number in range(6):
        book.post(f"WARM-{number}", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")])
        book.balance("cash")
        book.balance("cash", "2026-01-15")
        book.service.GetAccount(book.code, "cash")

    calls = 10
    balances = statements_of(log_file, lambda: [book.balance("cash") for _ in range(calls)])
    assert balances == ["SELECT"] * calls
    accounts = statements_of(log_file, lambda: [book.service.GetAccount(book.code, "cash") for _ in range(calls)])
    assert accounts == ["SELECT"] * calls
    dated = statements_of(log_file, lambda: [book.balance("cash", "2026-01-15") for _ in range(calls)])
    assert dated == ["SELECT", "SELECT"] * calls
    posts = statements_of(log_file, lambda: [
        book.post(f"COUNTED-{number}", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")])
        for number in range(calls)])
    assert posts == ["BEGIN", "SELECT", "SELECT", "WITH", "COMMIT"] * calls
    assert book.balance("cash").balance == 16
