"""Least privilege on PostgreSQL (docs/operations.md#least-privilege): the two scripts of that section,
run as written (with this test's own role and database names), give an owner role that migrates the
schema and a service role that serves everything the service does, yet may neither change nor remove
history rows nor disable the triggers that guard them."""
from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import requests
from cryptography.fernet import Fernet
from psycopg import errors, sql
from sqlalchemy.engine import make_url
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from certificates import CertificateAuthority
from conftest import ADMIN, ADMIN_PASSWORD, CONTENT_TYPE, LiveServer, cli, envelope, fault_code, unique
from ledger_service.adapters.history_guard import HISTORY_TABLES
from ledger_service.domain.journal_chain import check_export

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
KEY = Fernet.generate_key().decode()
SALE = [("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")]


def documented_scripts() -> tuple[str, str]:
    """The section's two SQL blocks: the roles and the database, then the service role's grants."""
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("\n## Least privilege\n", 1)[1].split("\n## ", 1)[0]
    setup, grants = re.findall(r"```sql\n(.*?)```", section, re.S)
    return setup, grants


def statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


@pytest.fixture(scope="module")
def roles(postgres_server):
    """The documented roles and database, under names of this test's own, dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = {"ledger_owner": f"ledger_owner_{suffix}", "ledger_app": f"ledger_app_{suffix}",
             "ledger": f"ledger_lp_{suffix}"}
    rename = lambda script: re.sub(r"\b(ledger_owner|ledger_app|ledger)\b",  # noqa: E731
                                   lambda found: names[found.group(1)], script)
    setup, grants = (rename(script) for script in documented_scripts())
    passwords = dict(re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)'", setup))
    urls = {role: make_url(postgres_server).set(username=names[role], password=passwords[names[role]],
                                                database=names["ledger"]).render_as_string(hide_password=False)
            for role in ("ledger_owner", "ledger_app")}
    try:
        with psycopg.connect(postgres_server, autocommit=True) as superuser:
            for statement in statements(setup):
                superuser.execute(statement)
        yield urls["ledger_owner"], urls["ledger_app"], grants
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as superuser:
            superuser.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                              .format(sql.Identifier(names["ledger"])))
            for role in ("ledger_app", "ledger_owner"):
                superuser.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(names[role])))


def ledger_cli(url: str, *args: str, input: str | None = None):
    result = cli(*args, env={"LEDGER_DATABASE_URL": url, "LEDGER_SECRET_KEY": KEY}, input=input)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def service_role(roles, tmp_path_factory, request):
    """The schema migrated by the owner, the grants run, and a server serving as the service role (its
    hold sweeper every second) with the system administrator added by the service role too."""
    owner_url, app_url, grants = roles
    ledger_cli(owner_url, "migrate")
    with psycopg.connect(owner_url) as owner:
        owner.execute(grants)
    # The unit runs `migrate` before it starts, as the service role: up to date, it changes nothing.
    ledger_cli(app_url, "migrate")
    ledger_cli(app_url, "clients", "add", ADMIN, "--system-admin", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    server = LiveServer(app_url, workers=2, extra_env={"LEDGER_SECRET_KEY": KEY, "LEDGER_HOLD_SWEEP_SECONDS": "1",
                                                       "LEDGER_CLIENT_CERTIFICATE_HEADER": "X-Client-Certificate"})
    server.start(tmp_path_factory.mktemp("logs"))
    request.addfinalizer(server.stop)
    return server


def zeep_client(server: LiveServer, username: str, password: str, digest: bool = False):
    return Client(f"{server.endpoint()}?wsdl", transport=Transport(timeout=60, operation_timeout=60),
                  wsse=UsernameToken(username, password, use_digest=digest), settings=Settings(strict=True)).service


def entry(reference: str, lines=SALE, **extra) -> dict:
    return {"reference": reference, "effectiveDate": "2026-01-15", **extra,
            "lines": {"line": [{"account": a, "side": s, "amount": amount} for a, s, amount in lines]}}


def journal_kinds(url: str, book: str) -> list[str]:
    with psycopg.connect(url) as connection:
        return [kind for kind, in connection.execute(
            "SELECT kind FROM journal_records JOIN books ON books.id = book_id WHERE code = %s ORDER BY sequence",
            (book,))]


def wait_for(condition, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.2)


def test_the_service_role_serves_every_write_and_the_journal_verifies(service_role, roles, tmp_path):
    _, app_url, _ = roles
    service = service_role.zeep().service
    book = unique("LP")
    service.CreateBook(book, "Least privilege")
    for code, kind in (("cash", "ASSET"), ("sales", "INCOME"), ("idle", "ASSET"), ("idle-sales", "INCOME"),
                       ("spare", "EXPENSE")):
        service.OpenAccount(book, {"code": code, "name": code.title(), "type": kind, "currency": "USD"})
    service.PostEntry(book, entry("SALE-1"))
    results = service.PostEntries(book, {"entry": [entry("BATCH-1"), entry("BATCH-2")]}, True)
    assert [result.entry.status for result in results] == ["POSTED", "POSTED"]
    results = service.PostEntries(book, {"entry": [entry("BATCH-3"), entry("BATCH-4", [("cash", "DEBIT", "1.00")])]},
                                  False)
    assert results[0].entry.status == "POSTED" and results[1].fault.code == "TooFewLines"
    service.PostEntry(book, entry("HOLD-COMMIT", pending=True))
    service.CommitPending(book, "HOLD-COMMIT")
    service.PostEntry(book, entry("HOLD-VOID", pending=True))
    service.VoidPending(book, "HOLD-VOID", "cancelled")
    # Two expiries: one released by the next write on its accounts, one (on accounts nothing writes to
    # again) by the hold sweeper.
    service.PostEntry(book, entry("HOLD-LAPSE", pending=True, pendingTimeoutSeconds=1))
    service.PostEntry(book, entry("HOLD-SWEPT", [("idle", "DEBIT", "2.00"), ("idle-sales", "CREDIT", "2.00")],
                                  pending=True, pendingTimeoutSeconds=1))
    time.sleep(1.1)
    service.PostEntry(book, entry("SALE-2"))
    wait_for(lambda: journal_kinds(app_url, book).count("PendingExpired") == 2)
    service.ReverseEntry(book, "SALE-1", "REV-1", None, "posted twice")
    service.CloseAccount(book, "spare")
    service.ClosePeriod(book, "2026-01-10")

    # The administrative commands, as the service role: a client with a rate limit, its grant changed,
    # its limit lifted, disabled; secrets encrypted again; a book and loads of accounts and entries.
    limited, password = unique("limited"), "limited-secret"
    ledger_cli(app_url, "clients", "add", limited, "--password-stdin", "--grant", f"{book}:reader", "--rate", "600/min",
               input=password + "\n")
    for digest in (False, True, True):  # the rate bucket made and spent; nonces recorded and pruned
        zeep_client(service_role, limited, password, digest).GetTrialBalance(book, None)
    assert fault_code(zeep_client(service_role, limited, "wrong").GetTrialBalance, book, None) == "AuthenticationFailed"
    ledger_cli(app_url, "clients", "grant", limited, f"{book}:poster")
    ledger_cli(app_url, "clients", "limit", limited, "--no-limit")
    ledger_cli(app_url, "clients", "disable", limited)
    ledger_cli(app_url, "clients", "rekey")
    # A client with a certificate: registered, authenticated by it (as a mutual-TLS proxy forwards it),
    # replaced, required to sign, and removed.
    authority = CertificateAuthority(tmp_path / "authority")
    first, second = authority.client("first"), authority.client("second")
    ledger_cli(app_url, "clients", "add", "by-certificate", "--certificate", str(first.certificate_path),
               "--grant", f"{book}:reader")
    answer = requests.post(service_role.endpoint(), timeout=60, data=envelope(
        "11", f"<l:GetTrialBalance><l:book>{book}</l:book></l:GetTrialBalance>", username=None),
        headers={"Content-Type": CONTENT_TYPE["11"], "X-Client-Certificate": quote(first.pem, safe="")})
    assert answer.status_code == 200, answer.text
    ledger_cli(app_url, "clients", "certificate", "by-certificate", str(second.certificate_path))
    ledger_cli(app_url, "clients", "require-signature", "by-certificate")
    ledger_cli(app_url, "clients", "require-signature", "by-certificate", "--off")
    ledger_cli(app_url, "clients", "certificate", "by-certificate", "--remove")
    loaded = unique("LOAD")
    ledger_cli(app_url, "books", "create", loaded, "--name", "Loaded")
    ledger_cli(app_url, "clients", "grant", ADMIN, f"{loaded}:admin")
    (tmp_path / "accounts.csv").write_text("code,name,type,currency,parentCode,noNegativeBalance\n"
                                           "cash,Cash,ASSET,USD,,\nsales,Sales,INCOME,USD,,\n")
    (tmp_path / "entries.csv").write_text("reference,effectiveDate,description,account,side,amount,memo\n"
                                          "L-1,2026-01-15,,cash,DEBIT,5.00,\nL-1,2026-01-15,,sales,CREDIT,5.00,\n")
    ledger_cli(app_url, "import", "accounts", loaded, str(tmp_path / "accounts.csv"))
    ledger_cli(app_url, "import", "entries", loaded, str(tmp_path / "entries.csv"))

    # A page token, signed with the server's secret.
    first = service.ListAccounts(book, None, None, 2, None)
    assert len(service.ListAccounts(book, None, None, 2, first.nextPageToken).accounts.account) == 2

    for code in (book, loaded):
        head = service.GetJournalHead(code)
        verified = service.VerifyJournal(code, None, None)
        assert (verified.intact, verified.recordsChecked, verified.headHash) == (True, head.sequence, head.hash)
        ledger_cli(app_url, "journal", "export", code, str(tmp_path / code))
        with (tmp_path / code).open(encoding="utf-8") as export:
            assert check_export(export, head=head.hash).intact
    assert journal_kinds(app_url, book)[-3:] == ["EntryRecorded", "AccountClosed", "PeriodClosed"]
    assert service.GetBalance(book, "cash", None).balance == 50  # five sales and a commit, one reversed
    # Nothing refused in the background either (the hold sweeper's failures are only logged).
    assert "InsufficientPrivilege" not in service_role.log()


def test_the_grants_leave_history_to_be_read_and_added_to_only(service_role, roles):
    _, app_url, _ = roles
    with psycopg.connect(app_url) as connection:
        tables = [name for name, in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        privileges = {table: {privilege for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
                              if connection.execute("SELECT has_table_privilege(%s, %s)",
                                                    (table, privilege)).fetchone()[0]}
                      for table in tables}
    assert all("SELECT" in granted for granted in privileges.values()), privileges
    for table in HISTORY_TABLES:
        assert privileges[table] == {"SELECT", "INSERT"}, table
    assert not any("TRUNCATE" in granted for granted in privileges.values())


# What the service role is refused (permission denied, or not the owner: SQLSTATE 42501), by name.
REFUSED = {
    "update-lines": "UPDATE lines SET amount = amount + 1",
    "update-journal": "UPDATE journal_records SET hash = upper(hash)",
    "delete-entries": "DELETE FROM entries",
    "delete-outcomes": "DELETE FROM pending_outcomes",
    "truncate": "TRUNCATE period_closes CASCADE",
    "disable-triggers": "ALTER TABLE lines DISABLE TRIGGER USER",
    "disable-a-trigger": "ALTER TABLE journal_records DISABLE TRIGGER journal_records_append_only",
    "drop-a-trigger": "DROP TRIGGER entries_append_only ON entries",
    "replace-the-guard": "CREATE OR REPLACE FUNCTION ledger_refuse_history_change() RETURNS trigger "
                         "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
    "replica-mode": "SET session_replication_role = replica",
    "create-a-table": "CREATE TABLE lines_copy (id bigint)",
}


@pytest.mark.parametrize("attempt", REFUSED)
def test_the_service_role_can_neither_rewrite_history_nor_lower_its_guard(service_role, roles, attempt):
    owner_url, app_url, _ = roles
    count = ("SELECT (SELECT count(*) FROM lines) + (SELECT count(*) FROM entries) "
             "+ (SELECT count(*) FROM journal_records)")
    with psycopg.connect(owner_url) as owner:
        rows = owner.execute(count).fetchone()[0]
        assert rows > 0
    with psycopg.connect(app_url) as connection:
        with pytest.raises(errors.InsufficientPrivilege):
            connection.execute(REFUSED[attempt])
    with psycopg.connect(owner_url) as owner:
        assert owner.execute(count).fetchone()[0] == rows
        assert owner.execute("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%append_only' "
                             "AND tgenabled = 'O'").fetchone()[0] == len(HISTORY_TABLES)
