"""`ledger-service import accounts|entries BOOK FILE.csv` (docs/contract.md#command-line): a chart of accounts
and opening entries loaded from CSV on SQLite and PostgreSQL, each refused row reported by its line, nothing
done twice when the load runs again, and a progress bar on a terminal only."""
from __future__ import annotations

import os
import pty
import subprocess
import sys
from decimal import Decimal

import psycopg
import pytest

from conftest import cli, fault_code, prepared_database_url, unique
from ledger_service.service_layer.operator import ACCOUNTS_PER_CHUNK

ACCOUNTS = """code,name,type,currency,parentCode,noNegativeBalance
1010,Petty cash,ASSET,USD,1000,true
1000,Cash,ASSET,USD,,
3000,Opening balance equity,EQUITY,USD,,
4000,Sales,INCOME,usd,,no
9999,Broken,CASH,USD,,
2000,Payables,LIABILITY,XYZ,,
"""
ENTRIES = """reference,effectiveDate,description,account,side,amount,memo
OB-1,2026-01-01,Opening cash,1000,DEBIT,1000.00,
OB-1,2026-01-01,Opening cash,3000,CREDIT,1000.00,
OB-2,2026-01-01,Petty,1010,DEBIT,50.00,float
OB-2,2026-01-01,Petty,3000,CREDIT,50.001,
OB-3,2026-01-02,,1000,DEBIT,5,
OB-3,2026-01-02,,4000,CREDIT,5,
OB-4,2026-13-01,,1000,DEBIT,5,
OB-4,2026-13-01,,4000,CREDIT,5,
OB-5,2026-01-03,,1000,DEBIT,5,
OB-5,2026-01-03,,nowhere,CREDIT,5,
OB-6,2026-01-03,,1000,DEBIT,5,
OB-6,2026-01-03,,4000,LEFT,5,
OB-7,2026-01-04,Unbalanced,1000,DEBIT,7,
OB-7,2026-01-04,Unbalanced,4000,CREDIT,6,
"""


def load(server, kind: str, book: str, path) -> subprocess.CompletedProcess:
    return cli("import", kind, book, str(path), env={"LEDGER_DATABASE_URL": server.database_url})


@pytest.fixture
def book(server):
    created = server.new_book()
    return created


def test_accounts_load_parents_first_and_a_second_load_changes_nothing(server, book, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text(ACCOUNTS)
    first = load(server, "accounts", book.code, path)
    assert first.returncode == 1
    assert first.stdout.startswith(f"accounts of book {book.code}: 4 opened, 0 already open, 2 refused, of 6 in")
    assert first.stderr.splitlines() == [
        f"{path}:6: SchemaValidation: type is one of ASSET, EXPENSE, LIABILITY, EQUITY, INCOME, not 'CASH' (type)",
        f"{path}:7: UnknownCurrency: 'XYZ' is not an ISO 4217 currency code (currency)"]
    petty = book.service.GetAccount(book.code, "1010")
    assert (petty.parentCode, petty.noNegativeBalance, book.service.GetAccount(book.code, "4000").currency) == (
        "1000", True, "USD")
    again = load(server, "accounts", book.code, path)
    assert again.stdout.startswith(f"accounts of book {book.code}: 0 opened, 4 already open, 2 refused")
    path.write_text(ACCOUNTS.replace("Sales,INCOME", "Revenue,INCOME"))
    changed = load(server, "accounts", book.code, path)
    assert f"{path}:5: account 4000: AccountExists: account 4000 already exists, not as this row says" in changed.stderr


def test_entries_load_with_each_refused_row_named_and_never_twice(server, book, tmp_path):
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    load(server, "accounts", book.code, tmp_path / "accounts.csv")
    path = tmp_path / "entries.csv"
    path.write_text(ENTRIES)
    first = load(server, "entries", book.code, path)
    assert first.returncode == 1
    assert first.stdout.startswith(f"entries of book {book.code}: 2 posted, 0 already posted, 5 refused, of 7 in")
    assert first.stderr.splitlines() == [
        f"{path}:5: entry OB-2: InvalidAmount: 50.001 has more decimal places than USD allows (2) (amount)",
        f"{path}:8: entry OB-4: SchemaValidation: effectiveDate is YYYY-MM-DD, not '2026-13-01' (effectiveDate)",
        f"{path}:11: entry OB-5: AccountNotFound: account nowhere does not exist in book {book.code} (account)",
        f"{path}:13: entry OB-6: SchemaValidation: side is DEBIT or CREDIT, not 'LEFT' (side)",
        f"{path}:14: entry OB-7: Unbalanced: entry is unbalanced: USD debits exceed credits by 1.00 (entry.lines)"]
    assert book.balance("1000").balance == Decimal("1005.00")
    assert fault_code(book.service.GetEntry, book.code, "OB-2") == "EntryNotFound"
    audit = book.service.GetEntryAudit(book.code, "OB-1")
    assert audit.postedBy is None and audit.requestId.startswith("import-")

    again = load(server, "entries", book.code, path)
    assert again.stdout.startswith(f"entries of book {book.code}: 0 posted, 2 already posted, 5 refused")
    assert book.balance("1000").balance == Decimal("1005.00")


def test_meta_columns_give_entries_their_metadata(server, book, tmp_path):
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    load(server, "accounts", book.code, tmp_path / "accounts.csv")
    path = tmp_path / "entries.csv"
    path.write_text("reference,effectiveDate,description,account,side,amount,memo,meta.invoice,meta.costCentre\n"
                    "M-1,2026-01-05,Sale,1000,DEBIT,10,,1001,CC-7\n"
                    "M-1,2026-01-05,,4000,CREDIT,10,,ignored,\n"
                    "M-2,2026-01-05,,1000,DEBIT,5,,,CC-8\n"
                    "M-2,2026-01-05,,4000,CREDIT,5,,,\n"
                    "M-3,2026-01-05,,1000,DEBIT,5,,,\n"
                    "M-3,2026-01-05,,4000,CREDIT,5,,,\n"
                    f"M-4,2026-01-05,,1000,DEBIT,5,,{'x' * 257},\n"
                    "M-4,2026-01-05,,4000,CREDIT,5,,,\n")
    loaded = load(server, "entries", book.code, path)
    assert loaded.stdout.startswith(f"entries of book {book.code}: 3 posted, 0 already posted, 1 refused")
    assert loaded.stderr.splitlines() == [f"{path}:8: entry M-4: SchemaValidation: a metadata value is 1 to 256 "
                                          "characters (meta.invoice)"]

    def metadata(reference: str):
        found = book.service.GetEntry(book.code, reference).metadata
        return None if found is None else [(item.key, item.value) for item in found.item]

    assert metadata("M-1") == [("costCentre", "CC-7"), ("invoice", "1001")]
    assert metadata("M-2") == [("costCentre", "CC-8")]
    assert metadata("M-3") is None
    # Loaded again, the same metadata is the same entry; other metadata would be a conflict.
    assert load(server, "entries", book.code, path).stdout.startswith(
        f"entries of book {book.code}: 0 posted, 3 already posted, 1 refused")
    path.write_text(path.read_text().replace("CC-7", "CC-9"))
    conflict = load(server, "entries", book.code, path)
    assert f"{path}:2: entry M-1: ReferenceConflict" in conflict.stderr


def test_a_partly_done_load_run_again_posts_only_the_rest(server, book, tmp_path):
    (tmp_path / "accounts.csv").write_text("code,name,type,currency,parentCode,noNegativeBalance\n"
                                           "cash,Cash,ASSET,EUR,,\nequity,Equity,EQUITY,EUR,,\n")
    load(server, "accounts", book.code, tmp_path / "accounts.csv")
    rows = ["reference,effectiveDate,description,account,side,amount,memo"]
    for n in range(2500):
        rows += [f"E-{n},2026-01-05,,cash,DEBIT,1.{n % 100:02d},", f"E-{n},2026-01-05,,equity,CREDIT,1.{n % 100:02d},"]
    whole, half = tmp_path / "entries.csv", tmp_path / "half.csv"
    whole.write_text("\n".join(rows) + "\n")
    half.write_text("\n".join(rows[:2001]) + "\n")  # the header and the first 1000 entries
    assert load(server, "entries", book.code, half).returncode == 0
    result = load(server, "entries", book.code, whole)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"entries of book {book.code}: 1500 posted, 1000 already posted, 0 refused, of 2500")
    expected = sum(Decimal(f"1.{n % 100:02d}") for n in range(2500))
    assert book.balance("cash").balance == expected
    assert book.service.GetTrialBalance(book.code).totals.total[0].debit == expected


@pytest.mark.postgres
def test_a_load_leaves_postgresql_statistics_of_the_tables_it_grew(request, tmp_path_factory, tmp_path):
    """A chart of accounts loaded into a database autovacuum does not analyse: the accounts' statistics
    count every account loaded (a posting's locks would otherwise be planned for the table as it was)."""
    url = prepared_database_url("postgres", request, tmp_path_factory)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ALTER TABLE accounts SET (autovacuum_enabled = false)")
    assert cli("books", "create", "STATS", "--name", "statistics", env={"LEDGER_DATABASE_URL": url}).returncode == 0
    path = tmp_path / "accounts.csv"
    path.write_text("code,name,type,currency,parentCode,noNegativeBalance\n"
                    + "".join(f"a-{n},Account {n},ASSET,EUR,,\n" for n in range(ACCOUNTS_PER_CHUNK)))
    assert cli("import", "accounts", "STATS", str(path), env={"LEDGER_DATABASE_URL": url}).returncode == 0
    with psycopg.connect(url) as connection:
        (counted,), = connection.execute("SELECT reltuples FROM pg_class WHERE relname = 'accounts'")
        (held,), = connection.execute("SELECT count(*) FROM accounts")
    assert (counted, held) == (ACCOUNTS_PER_CHUNK, ACCOUNTS_PER_CHUNK)


def test_a_missing_book_or_header_is_said_in_a_sentence(server, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("code,name\n1000,Cash\n")
    result = load(server, "accounts", unique("NOBOOK"), path)
    assert result.returncode == 1 and "needs the header code,name,type,currency,parentCode,noNegativeBalance" in \
        result.stderr
    path.write_text(ACCOUNTS)
    result = load(server, "accounts", "NOSUCHBOOK", path)
    assert result.returncode == 1 and result.stderr.strip() == "ledger-service: book NOSUCHBOOK does not exist"


def test_the_progress_bar_shows_on_a_terminal_and_not_in_a_pipe(sqlite_server, tmp_path):
    book = sqlite_server.new_book()
    path = tmp_path / "accounts.csv"
    path.write_text("code,name,type,currency,parentCode,noNegativeBalance\n" +
                    "".join(f"A{n},Account {n},ASSET,USD,,\n" for n in range(50)))
    piped = load(sqlite_server, "accounts", book.code, path)
    assert piped.returncode == 0 and piped.stderr == ""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "ledger_service.cli", "import", "accounts", book.code, str(path)],
                               stdout=subprocess.PIPE, stderr=terminal,
                               env={**os.environ, "LEDGER_DATABASE_URL": sqlite_server.database_url})
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=60)
    os.close(controller)
    assert b"\r[" + b"#" * 30 + b"] 50/50 rows" in shown, shown
