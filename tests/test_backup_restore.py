"""The backup and restore drill (docs/operations.md, "Backup and restore"): the section's commands, taken
from the document and run as they are written, back up a database that a live service is writing to,
restore it, and a service started on the copy finds every book as it stood at one moment.

Clients post entries and pending entries that they then commit, each under a reference of its own,
while the backup runs. The restored database must hold every entry answered before the backup began,
none of those begun after it ended, each entry whole (its lines, its pending lines, its reservations or
its outcome), the accounts' running totals equal to their lines, and every book must balance and its
journal verify. On PostgreSQL the drill uses a cluster of its own, with the two roles of "Least
privilege" made by that section's scripts: the dump is the owner's, the restored service the service
role's, and the history triggers still refuse on the restored database.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy import text

from ledger_service import admin
from ledger_service.adapters.database import Database
from ledger_service.adapters.history_guard import HISTORY_TABLES
from ledger_service.domain.journal_chain import check_export

from conftest import ADMIN, ADMIN_PASSWORD, CONTENT_TYPE, LiveServer, envelope, serve, unique
from snippets import ROOT, snippet
from test_database_outage import read_outcome
from test_least_privilege import documented_scripts, statements

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

OPERATIONS = ROOT / "docs" / "operations.md"
SECTION = "\n## Backup and restore\n"
REQUEST_TIMEOUT = 30
LOAD_THREADS = 4
BOOKS = 2
# PATH first: the interpreter and the commands of this checkout's virtualenv, as an installation's.
BIN = str(Path(sys.executable).parent)


def shell(script: str, cwd: Path, env: dict[str, str]) -> str:
    """Runs a block of the document as it is written, stopping at the first command that fails."""
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env})
    assert result.returncode == 0, f"{script}\n{result.stdout}{result.stderr}"
    return result.stdout


def section_block(after: str) -> str:
    """The section's shell block that follows the words `after`, which only the section holds."""
    text = OPERATIONS.read_text()
    assert text.count(after) == 1 and text.index(after) > text.index(SECTION), after
    return textwrap.dedent(snippet(OPERATIONS, after, "sh"))


# --- the load ---

def line_xml(account: str, side: str, amount: str) -> str:
    return (f"<l:line><l:account>{account}</l:account><l:side>{side}</l:side><l:amount>{amount}</l:amount>"
            "</l:line>")


@dataclass
class Posting:
    book: str
    reference: str
    pending: bool
    started: float
    answered: float | None = None  # when the post (of a pending entry: its commit) was answered ok


@dataclass
class Load:
    """Threads that post entries, and pending entries they then commit, until stopped; every answer
    must be the operation's."""

    server: LiveServer
    books: list[str]
    postings: list[Posting] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def _call(self, session: requests.Session, body: str) -> bool:
        try:
            response = session.post(self.server.endpoint("11"), data=envelope("11", body),
                                    headers={"Content-Type": CONTENT_TYPE["11"]}, timeout=REQUEST_TIMEOUT)
            outcome = read_outcome(response, "11")
        except requests.RequestException as error:
            outcome = f"no answer: {error!r}"
        if outcome != "ok":
            with self.lock:
                self.failures.append(outcome)
        return outcome == "ok"

    def _post(self, session: requests.Session, book: str, pending: bool) -> None:
        posting = Posting(book, unique("R"), pending, time.monotonic())
        with self.lock:
            self.postings.append(posting)
        flag = "<l:pending>true</l:pending>" if pending else ""
        body = (f"<l:PostEntry><l:book>{book}</l:book><l:entry><l:reference>{posting.reference}</l:reference>"
                f"<l:effectiveDate>2026-01-15</l:effectiveDate><l:lines>{line_xml('cash', 'DEBIT', '2.50')}"
                f"{line_xml('sales', 'CREDIT', '2.50')}</l:lines>{flag}</l:entry></l:PostEntry>")
        if not self._call(session, body):
            return
        if pending:
            if not self._call(session, f"<l:CommitPending><l:book>{book}</l:book>"
                                       f"<l:reference>{posting.reference}</l:reference></l:CommitPending>"):
                return
        posting.answered = time.monotonic()

    def _worker(self, index: int) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                self._post(session, self.books[index % len(self.books)], pending=index % 2 == 1)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._worker, args=(index,), daemon=True)
                        for index in range(LOAD_THREADS)]
        for thread in self.threads:
            thread.start()

    def wait_for_answers(self, count: int, after: float = 0.0, bound: float = 30) -> None:
        deadline = time.monotonic() + bound
        while sum(1 for posting in list(self.postings) if (posting.answered or 0) > after) < count:
            assert not self.failures, self.failures[:5]
            assert time.monotonic() < deadline, f"fewer than {count} postings answered within {bound} s"
            time.sleep(0.05)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(REQUEST_TIMEOUT + 5)
        assert not any(thread.is_alive() for thread in self.threads), "a load thread hung"
        assert not self.failures, self.failures[:5]


def backup_under_load(server: LiveServer, books: list[str], backup) -> tuple[Load, float, float]:
    """Runs `backup()` while the load posts, and returns the load with when the backup began and ended."""
    load = Load(server, books)
    load.start()
    try:
        load.wait_for_answers(60)
        began = time.monotonic()
        backup()
        ended = time.monotonic()
        load.wait_for_answers(20, after=ended)
    finally:
        load.finish()
    during = sum(1 for posting in load.postings if began < (posting.answered or 0) < ended)
    print(f"\n{len(load.postings)} postings, {sum(p.answered is not None for p in load.postings)} answered, "
          f"{during} of them while the backup ran ({ended - began:.2f} s)")
    return load, began, ended


def in_database(url: str, work) -> None:
    """`work(database)` with a Database of its own on `url`."""
    database = Database(url)
    try:
        work(database)
    finally:
        database.dispose()


# --- what the restored database holds ---

def book_setup(server: LiveServer) -> list[str]:
    return [server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD")).code for _ in range(BOOKS)]


def assert_one_moment(url: str, load: Load, began: float, ended: float) -> dict[str, int]:
    """The restored database holds each posting whole or not at all: all answered before the backup
    began, none begun after it ended. Returns how many records each book's journal must hold: its
    creation, its two accounts, each entry, each commit of a pending one."""
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            entries = {(book, reference): (status, outcome, lines, pending_lines, holds)
                       for book, reference, status, outcome, lines, pending_lines, holds in connection.execute(text(
                           "SELECT b.code, e.reference, e.status, o.status,"
                           " (SELECT count(*) FROM lines l WHERE l.entry_id = e.id),"
                           " (SELECT count(*) FROM pending_lines p WHERE p.entry_id = e.id),"
                           " (SELECT count(*) FROM holds h WHERE h.entry_id = e.id)"
                           " FROM entries e JOIN books b ON b.id = e.book_id"
                           " LEFT JOIN pending_outcomes o ON o.entry_id = e.id"))}
            # The running totals are the sums of the lines and of the reservations.
            totals = connection.execute(text(
                "SELECT a.code, a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits,"
                " coalesce((SELECT sum(amount) FROM lines l WHERE l.account_id = a.id AND side = 'DEBIT'), 0),"
                " coalesce((SELECT sum(amount) FROM lines l WHERE l.account_id = a.id AND side = 'CREDIT'), 0),"
                " coalesce((SELECT sum(amount) FROM holds h WHERE h.account_id = a.id AND side = 'DEBIT'), 0),"
                " coalesce((SELECT sum(amount) FROM holds h WHERE h.account_id = a.id AND side = 'CREDIT'), 0)"
                " FROM accounts a")).all()
    finally:
        database.dispose()
    for row in totals:
        assert tuple(row[1:5]) == tuple(row[5:9]), row
    for posting in load.postings:
        found = entries.get((posting.book, posting.reference))
        if posting.answered is not None and posting.answered < began:
            assert found is not None, posting
        if posting.started > ended:
            assert found is None, posting
        if found is None:
            continue
        if posting.pending:
            # Recorded pending and reserved; or committed, its reservation gone and its lines posted.
            assert found in (("PENDING", None, 0, 2, 2), ("PENDING", "POSTED", 2, 2, 0)), (posting, found)
            if posting.answered is not None and posting.answered < began:
                assert found[1] == "POSTED", (posting, found)
        else:
            assert found == ("POSTED", None, 2, 0, 0), (posting, found)
    records = {book: 3 for book in load.books}
    for (book, _), (_, outcome, *_) in entries.items():
        records[book] += 1 if outcome is None else 2
    return records


def assert_books_verify(server: LiveServer, books: list[str], records: dict[str, int]) -> None:
    """Every book balances, its journal verifies, and it takes a new entry."""
    print(f"restored journals, records by book: {records}")
    service = server.zeep().service
    for book in books:
        trial = service.GetTrialBalance(book, None)
        [(currency, debit, credit)] = [(total.currency, total.debit, total.credit) for total in trial.totals.total]
        assert currency == "USD" and debit == credit, (book, trial.totals)
        verification = service.VerifyJournal(book, None, None)
        assert verification.intact, (book, verification)
        assert verification.recordsChecked == records[book], (book, verification)
        entry = {"reference": unique("AFTER"), "effectiveDate": "2026-01-16",
                 "lines": {"line": [{"account": "cash", "side": "DEBIT", "amount": "1.00"},
                                    {"account": "sales", "side": "CREDIT", "amount": "1.00"}]}}
        assert service.PostEntry(book, entry).reference == entry["reference"]
        assert service.VerifyJournal(book, None, None).intact


def journal_heads(server: LiveServer, books: list[str]) -> dict[str, str]:
    service = server.zeep().service
    return {book: service.GetJournalHead(book).hash for book in books}


# --- PostgreSQL ---

def test_pg_dump_under_load_restores_every_book_as_it_stood(private_postgres, tmp_path):
    superuser_url = private_postgres.url
    setup, grants = documented_scripts()
    with psycopg.connect(superuser_url, autocommit=True) as superuser:
        for statement in statements(setup):
            superuser.execute(statement)
    passwords = dict(re.findall(r"CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)'", setup))
    server_address = superuser_url.rsplit("@", 1)[1].rsplit("/", 1)[0]

    def url(role: str, database: str) -> str:
        return f"postgresql://{role}:{passwords[role]}@{server_address}/{database}"
    owner_url, app_url = url("ledger_owner", "ledger"), url("ledger_app", "ledger")
    restored_owner_url, restored_app_url = url("ledger_owner", "ledger_restored"), url("ledger_app", "ledger_restored")
    (tmp_path / "grants.sql").write_text(grants)

    # The owner migrates and grants; the service role adds the system administrator.
    in_database(owner_url, Database.migrate)
    with psycopg.connect(owner_url) as owner:
        owner.execute(grants)
    in_database(app_url, lambda database: admin.add_client(database, ADMIN, ADMIN_PASSWORD, True, []))
    # Records wait in the queue until a read of their book's journal seals them: the dump then holds
    # sealed records and queued ones.
    server = LiveServer(app_url, extra_env={"LEDGER_JOURNAL_SEAL_SECONDS": "0"}).start(tmp_path)
    try:
        books = book_setup(server)
        journal_heads(server, books)
        heads_before = {}

        def dump():
            heads_before.update(journal_heads(server, books))
            shell(section_block("**Nightly logical backup**"), tmp_path, {"OWNER_URL": owner_url})

        load, began, ended = backup_under_load(server, books, dump)
    finally:
        server.stop()
    [backup] = tmp_path.glob("ledger-*.dump")

    restore_env = {"SUPERUSER_URL": superuser_url, "RESTORED_URL": restored_owner_url, "BACKUP": str(backup)}
    # The block in two parts, to count the dump's queued records before its journal exports seal them.
    restore, journals = section_block("**Restore**").split("\nfor book in ", 1)
    shell(restore, tmp_path, restore_env)
    with psycopg.connect(restored_owner_url) as owner:
        [queued] = owner.execute("SELECT count(*) FROM journal_queue").fetchone()
    output = shell("for book in " + journals, tmp_path, restore_env)
    print(f"restored: {queued} records queued in the dump; {output.strip()}")
    assert queued > 0, "the dump held no queued journal records"
    with psycopg.connect(restored_owner_url) as owner:
        assert owner.execute("SELECT count(*) FROM journal_queue").fetchone() == (0,)
        # The triggers came with the dump, and refuse even the owner.
        triggers = {name for name, in owner.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert triggers == {f"{table}_{kind}" for table in HISTORY_TABLES for kind in ("append_only", "never_truncated")}
        with pytest.raises(psycopg.errors.RaiseException, match="history is append-only"):
            owner.execute("UPDATE lines SET amount = amount + 1")
    for book in books:
        # A head kept before the backup is in the restored chain.
        with (tmp_path / f"{book}.journal").open(encoding="utf-8") as export:
            assert check_export(export, head=heads_before[book]).intact

    records = assert_one_moment(restored_owner_url, load, began, ended)
    restored = LiveServer(restored_app_url).start(tmp_path)
    try:
        assert_books_verify(restored, books, records)
    finally:
        restored.stop()


# --- SQLite ---

def test_sqlite_online_backup_under_load_restores_every_book_as_it_stood(tmp_path):
    live_url = f"sqlite:///{tmp_path / 'var' / 'ledger.db'}"
    server = serve(live_url, tmp_path)
    try:
        books = book_setup(server)
        load, began, ended = backup_under_load(
            server, books, lambda: shell(section_block("**SQLite**"), tmp_path, {}))
    finally:
        server.stop()
    [backup] = (tmp_path / "var").glob("ledger-*.db")
    # The live file moves on after the backup: the restored one must be the copy, not what the
    # service left, nor what its log still held.
    shell(section_block("To restore, with the service stopped"), tmp_path,
          {"LEDGER_DATABASE_URL": "sqlite:///var/ledger.db", "BACKUP": str(backup)})
    records = assert_one_moment(live_url, load, began, ended)
    database = Database(live_url)
    try:
        with database.engine.connect() as connection:
            triggers = connection.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).scalar()
    finally:
        database.dispose()
    assert triggers == 2 * len(HISTORY_TABLES)
    restored = LiveServer(live_url).start(tmp_path)
    try:
        assert_books_verify(restored, books, records)
    finally:
        restored.stop()
