"""Reads from a hot standby (docs/operations.md#read-replicas): with LEDGER_READ_DATABASE_URL naming a standby,
the read operations are served by it and writes by the primary; a client of the client package reads its
own writes however far the standby lags (it waits a bounded time, then the primary answers); reads fall back to
the primary while the standby is down and return to it once it is back; /healthz and /metrics report its lag.

The primary and its standby are PostgreSQL clusters of the test's own on loopback (initdb, then
pg_basebackup with -R, the standby started in hot standby), not the machine's shared cluster; the test
lags the standby by pausing its replay (pg_wal_replay_pause) or delaying it (recovery_min_apply_delay).
"""
from __future__ import annotations

import re
import time
from datetime import date
from decimal import Decimal

import psycopg
import pytest
import requests

from conftest import ADMIN, ADMIN_PASSWORD, PrivatePostgres, _postgres_bin, envelope, post_raw, serve, unique
from ledger_client import AccountType, EntryInput, LedgerClient, LineInput, Side

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

WAIT_SECONDS = 1.0
RETRY_SECONDS = 2.0
DAY = date(2026, 1, 15)


class Standby(PrivatePostgres):
    """A hot standby of `primary`, made by pg_basebackup (-R writes its primary_conninfo)."""

    def __init__(self, primary: PrivatePostgres):
        super().__init__(primary.bin)
        self.primary = primary

    def init(self) -> None:
        self._run(str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                  "-D", str(self.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync", timeout=120)

    def sql(self, statement: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(statement)


@pytest.fixture(scope="module")
def clusters():
    bin_dir = _postgres_bin()
    assert bin_dir is not None and (bin_dir / "pg_basebackup").exists(), "PostgreSQL server binaries are missing"
    primary = PrivatePostgres(bin_dir)
    standby = Standby(primary)
    try:
        primary.init()
        primary.start()
        with psycopg.connect(primary.url, autocommit=True) as connection:
            connection.execute("CREATE DATABASE ledger")
        standby.init()
        standby.start()
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


def database(cluster: PrivatePostgres) -> str:
    return cluster.url.rsplit("/", 1)[0] + "/ledger"


@pytest.fixture(scope="module")
def service(clusters, tmp_path_factory):
    primary, standby = clusters
    server = serve(database(primary), tmp_path_factory.mktemp("logs"), extra_env={
        "LEDGER_READ_DATABASE_URL": database(standby), "LEDGER_READ_WAIT_SECONDS": str(WAIT_SECONDS),
        "LEDGER_STANDBY_RETRY_SECONDS": str(RETRY_SECONDS), "LEDGER_JOURNAL_SEAL_SECONDS": "0"})
    yield server
    server.stop()


@pytest.fixture
def replay_paused(clusters):
    _, standby = clusters
    standby.sql("SELECT pg_wal_replay_pause()")
    yield standby
    standby.sql("SELECT pg_wal_replay_resume()")


def served_by(server) -> dict[str, float]:
    text = requests.get(f"{server.url}/metrics", timeout=30).text
    return {who: float(count) for who, count in re.findall(
        r'^ledger_standby_reads_total\{served_by="(\w+)"\} (\S+)$', text, re.M)}


def delta(before: dict, after: dict) -> dict:
    return {who: after.get(who, 0) - before.get(who, 0) for who in after if after.get(who, 0) != before.get(who, 0)}


def new_book(client: LedgerClient) -> str:
    code = unique("R")
    client.create_book(code, f"Book {code}")
    client.open_account(code, "cash", "Cash", AccountType.ASSET, "USD")
    client.open_account(code, "sales", "Sales", AccountType.INCOME, "USD")
    return code


def sale(reference: str, amount: str = "10.00") -> EntryInput:
    return EntryInput(reference, DAY, (LineInput("cash", Side.DEBIT, amount), LineInput("sales", Side.CREDIT, amount)))


def raw_balance(server, book: str) -> Decimal:
    """GetBalance over plain HTTP, asking for no position: what the standby holds."""
    answer = post_raw(server, envelope("11", f"<l:GetBalance><l:book>{book}</l:book><l:account>cash</l:account>"
                                             "</l:GetBalance>"))
    assert answer.status_code == 200, answer.text[:300]
    return Decimal(re.search(r"<(?:\w+:)?balance>([^<]+)<", answer.text).group(1))


def test_reads_go_to_the_standby_and_a_client_reads_its_own_writes_behind_it(service, clusters):
    with LedgerClient(service.url, ADMIN, ADMIN_PASSWORD) as client:
        book = new_book(client)
        client.post_entry(book, sale("S-1"))
        assert client.get_balance(book, "cash").balance == Decimal("10.00")  # the standby, caught up
        _, standby = clusters
        standby.sql("SELECT pg_wal_replay_pause()")
        try:
            before = served_by(service)
            client.post_entry(book, sale("S-2"))  # the primary takes writes while the standby stands still
            # Without a position, a read is the standby's: it does not hold S-2 yet.
            assert raw_balance(service, book) == Decimal("10.00")
            # The client package sends its position: the standby cannot reach it, and after the bounded wait
            # the primary answers with the client's own write.
            started = time.monotonic()
            assert client.get_balance(book, "cash").balance == Decimal("20.00")
            waited = time.monotonic() - started
            assert WAIT_SECONDS <= waited < WAIT_SECONDS + 3
            assert delta(before, served_by(service)) == {"standby": 1, "primary_lagging": 1}
        finally:
            standby.sql("SELECT pg_wal_replay_resume()")
        started = time.monotonic()
        assert client.get_balance(book, "cash").balance == Decimal("20.00")
        assert time.monotonic() - started < WAIT_SECONDS + 3


def test_every_read_operation_is_the_standby_s(service, replay_paused):
    with LedgerClient(service.url, ADMIN, ADMIN_PASSWORD) as client:
        book = new_book(client)
        client.post_entry(book, sale("S-1"))
        client.get_journal_head(book)  # seals the book's queued records: a journal read then writes nothing
    replay_paused.sql("SELECT pg_wal_replay_resume()")
    time.sleep(0.5)
    replay_paused.sql("SELECT pg_wal_replay_pause()")
    reads = {
        "GetBalance": f"<l:GetBalance><l:book>{book}</l:book><l:account>cash</l:account></l:GetBalance>",
        "GetStatement": f"<l:GetStatement><l:book>{book}</l:book><l:account>cash</l:account><l:fromDate>2026-01-01"
                        "</l:fromDate><l:toDate>2026-01-31</l:toDate></l:GetStatement>",
        "GetTrialBalance": f"<l:GetTrialBalance><l:book>{book}</l:book></l:GetTrialBalance>",
        "ListEntries": f"<l:ListEntries><l:book>{book}</l:book><l:fromDate>2026-01-01</l:fromDate>"
                       "<l:toDate>2026-01-31</l:toDate></l:ListEntries>",
        "GetCamtStatement": f"<l:GetCamtStatement><l:book>{book}</l:book><l:account>cash</l:account>"
                            "<l:fromDate>2026-01-01</l:fromDate><l:toDate>2026-01-31</l:toDate></l:GetCamtStatement>",
        "GetJournalHead": f"<l:GetJournalHead><l:book>{book}</l:book></l:GetJournalHead>",
        "VerifyJournal": f"<l:VerifyJournal><l:book>{book}</l:book></l:VerifyJournal>",
        "GetEntry": f"<l:GetEntry><l:book>{book}</l:book><l:reference>S-1</l:reference></l:GetEntry>",
    }
    for operation, body in reads.items():
        before = served_by(service)
        answer = post_raw(service, envelope("11", body))
        assert answer.status_code == 200 and f"{operation}Response" in answer.text, (operation, answer.text[:300])
        assert "Ledger-Commit-Position" not in answer.headers, operation
        assert delta(before, served_by(service)) == {"standby": 1}, operation
    # A write is the primary's, standby or not, and says where it committed.
    posted = post_raw(service, envelope("11", f"<l:PostEntry><l:book>{book}</l:book><l:entry><l:reference>S-2"
                                              "</l:reference><l:effectiveDate>2026-01-16</l:effectiveDate><l:lines>"
                                              "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1"
                                              "</l:amount></l:line><l:line><l:account>sales</l:account><l:side>CREDIT"
                                              "</l:side><l:amount>1</l:amount></l:line></l:lines></l:entry>"
                                              "</l:PostEntry>"))
    assert posted.status_code == 200, posted.text[:300]
    assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", posted.headers["Ledger-Commit-Position"])


def test_under_delayed_replay_every_read_shows_the_writes_before_it(service, clusters):
    _, standby = clusters
    standby.sql("ALTER SYSTEM SET recovery_min_apply_delay = '300ms'")
    standby.sql("SELECT pg_reload_conf()")
    try:
        with LedgerClient(service.url, ADMIN, ADMIN_PASSWORD) as client:
            book = new_book(client)
            before = served_by(service)
            for number in range(1, 11):
                client.post_entry(book, sale(f"D-{number}", "1.00"))
                assert client.get_balance(book, "cash").balance == Decimal(number)
                assert [e.reference for e in client.iter_entries(book, DAY, DAY)][-1] == f"D-{number}"
            served = delta(before, served_by(service))
            # Each read waited for the standby (300 ms behind, within the 1 s bound) and was served by it.
            assert served == {"standby": 20}, served
    finally:
        standby.sql("ALTER SYSTEM RESET recovery_min_apply_delay")
        standby.sql("SELECT pg_reload_conf()")


def test_with_the_standby_down_the_primary_serves_reads_until_it_is_back(service, clusters):
    _, standby = clusters
    with LedgerClient(service.url, ADMIN, ADMIN_PASSWORD) as client:
        book = new_book(client)
        client.post_entry(book, sale("S-1"))
        standby.stop("fast")
        try:
            health = requests.get(f"{service.url}/healthz", timeout=30)
            assert health.status_code == 200
            assert health.json()["standby"] == {"up": False, "lag_bytes": None, "replay_age_seconds": None}
            before = served_by(service)
            for _ in range(3):
                assert raw_balance(service, book) == Decimal("10.00")
            client.post_entry(book, sale("S-2"))
            assert client.get_balance(book, "cash").balance == Decimal("20.00")
            assert set(delta(before, served_by(service))) == {"primary_standby_down"}
        finally:
            standby.start()
        time.sleep(RETRY_SECONDS + 0.5)
        deadline = time.monotonic() + 30
        while True:
            before = served_by(service)
            assert client.get_balance(book, "cash").balance == Decimal("20.00")
            if delta(before, served_by(service)) == {"standby": 1}:
                break
            assert time.monotonic() < deadline, "reads never went back to the standby"
            time.sleep(0.5)


def test_healthz_and_metrics_report_the_standby_s_lag(service, replay_paused):
    with LedgerClient(service.url, ADMIN, ADMIN_PASSWORD) as client:
        book = new_book(client)
        for number in range(5):
            client.post_entry(book, sale(f"L-{number}"))
    lagging = requests.get(f"{service.url}/healthz", timeout=30).json()
    assert lagging["status"] == "ok" and lagging["standby"]["up"] is True
    assert lagging["standby"]["lag_bytes"] > 0
    metrics = requests.get(f"{service.url}/metrics", timeout=30).text
    assert "ledger_standby_up 1" in metrics
    assert int(re.search(r"^ledger_standby_lag_bytes (\d+)$", metrics, re.M).group(1)) > 0
    replay_paused.sql("SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + 20
    while requests.get(f"{service.url}/healthz", timeout=30).json()["standby"]["lag_bytes"] != 0:
        assert time.monotonic() < deadline, "the standby never caught up"
        time.sleep(0.2)


def test_a_standby_needs_a_postgresql_primary_and_is_itself_postgresql():
    from ledger_service.settings import SettingError, Settings

    with pytest.raises(SettingError, match="LEDGER_READ_DATABASE_URL needs a PostgreSQL LEDGER_DATABASE_URL"):
        Settings.from_environment({"LEDGER_DATABASE_URL": "sqlite:////tmp/ledger.db",
                                   "LEDGER_READ_DATABASE_URL": "postgresql://standby/ledger"})
    with pytest.raises(SettingError, match="LEDGER_READ_DATABASE_URL must be the PostgreSQL URL"):
        Settings.from_environment({"LEDGER_DATABASE_URL": "postgresql://primary/ledger",
                                   "LEDGER_READ_DATABASE_URL": "sqlite:////tmp/copy.db"})
    assert Settings.from_environment({"LEDGER_DATABASE_URL": "postgresql://primary/ledger",
                                      "LEDGER_READ_DATABASE_URL": "postgresql://standby/ledger"}).read_wait_seconds == 1
