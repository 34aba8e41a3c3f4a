"""Write throughput against the ceiling this machine's PostgreSQL allows: PostEntries batches, single
PostEntry calls and GetBalance calls on `ledger-service serve --workers 4`, beside the same writes made
by a bare psycopg script, in one run.

    .venv/bin/python bench/lifecycle.py [--batches N] [--duration SECONDS] [--postgres-url URL]

What it measures, in this order, on one throwaway database:

1. the service: PostEntries batches of 1000 two-line entries (atomic), from `--batch-clients`
   concurrent clients; entries per second;
2. the service: single PostEntry calls from 8 concurrent clients (wrk, or the built-in generator);
3. the service: GetBalance calls from 8 concurrent clients;
4. the bare ceiling: the rows a posting writes (the book read for share, the accounts locked in id
   order, the reference looked up, the entry, its lines, the per-day totals and the accounts' running
   totals), written by psycopg with no SOAP, no Python domain and no HTTP: one transaction per entry
   from 8 connections, then one transaction per 1000 entries from `--batch-clients` connections;
5. the peak resident memory of each gunicorn worker over the whole run (the kernel's VmHWM).

Then it checks that every book balances and holds exactly the entries that were confirmed, prints
the figures and the ratios the targets name, and drops the database. bench/README.md has the details.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import platform
import random
import re
import secrets
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import psycopg

from throughput import (
    CONTENT_TYPE, DEFAULT_POSTGRES_URL, FAULT, SOAP_PATH, TNS, BenchmarkFailed, LedgerServer, Workload,
    choose_generator, envelope, postgres_version, serving,
)

SERVICE_BOOK, BARE_BOOK = "LIFE", "BARE"
ACCOUNTS_PER_SIDE = 4
EFFECTIVE_DATE = date(2026, 1, 15)
BATCH_SIZE = 1000
SINGLE_CLIENTS = 8
BATCH_TIMEOUT_SECONDS = 300
POSTED = re.compile(rb"<(?:[\w.-]+:)?status>POSTED</")
# The targets the issue names: batches at half the bare batch ceiling or better, single posts at 60% of
# the bare one-transaction-per-entry ceiling or better, and a batched entry costing at most a tenth of
# a single call.
BATCH_TARGET, SINGLE_TARGET, BATCH_COST_TARGET = 0.5, 0.6, 0.1


@dataclass
class Figure:
    name: str
    per_second: float
    unit: str
    detail: str = ""
    entries: int = 0  # entries it wrote


def accounts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(f"cash-{n}" for n in range(1, ACCOUNTS_PER_SIDE + 1)),
            tuple(f"sales-{n}" for n in range(1, ACCOUNTS_PER_SIDE + 1)))


def open_book(server: LedgerServer, code: str) -> None:
    server.call(f"<l:CreateBook><l:code>{code}</l:code><l:name>Lifecycle benchmark</l:name></l:CreateBook>")
    debits, credits = accounts()
    for kind, codes in (("ASSET", debits), ("INCOME", credits)):
        for account in codes:
            server.call(f"<l:OpenAccount><l:book>{code}</l:book><l:account><l:code>{account}</l:code>"
                        f"<l:name>{account}</l:name><l:type>{kind}</l:type><l:currency>USD</l:currency>"
                        "</l:account></l:OpenAccount>")


def random_entry(chance: random.Random, counter: int) -> tuple[str, str, str]:
    """(debit account, credit account, amount) of one two-line entry."""
    debits, credits = accounts()
    return chance.choice(debits), chance.choice(credits), f"{Decimal(counter % 999 + 1).scaleb(-2):.2f}"


# --- the service ---

def batch_body(book: str, label: str, chance: random.Random) -> str:
    entries = []
    for n in range(BATCH_SIZE):
        debit, credit, amount = random_entry(chance, n)
        entries.append(
            f"<l:entry><l:reference>{label}-{n}</l:reference><l:effectiveDate>{EFFECTIVE_DATE}</l:effectiveDate>"
            f"<l:lines><l:line><l:account>{debit}</l:account><l:side>DEBIT</l:side><l:amount>{amount}</l:amount>"
            f"</l:line><l:line><l:account>{credit}</l:account><l:side>CREDIT</l:side><l:amount>{amount}</l:amount>"
            "</l:line></l:lines></l:entry>")
    return (f"<l:PostEntries><l:book>{book}</l:book><l:entries>{''.join(entries)}</l:entries>"
            "<l:atomic>true</l:atomic></l:PostEntries>")


def drain(batches: int, senders: int, connect, send) -> float:
    """Sends batches 0..batches-1 from `senders` threads at once, each over one connection of its own
    (`connect()`, closed afterwards) with `send(connection, number)`; returns the seconds taken."""
    queue = list(range(batches))
    lock = threading.Lock()

    def sender() -> None:
        connection = connect()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    number = queue.pop()
                send(connection, number)
        finally:
            connection.close()

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(senders) as pool:
        for future in [pool.submit(sender) for _ in range(senders)]:
            future.result()
    return time.perf_counter() - started


def post_batches(server: LedgerServer, batches: int, clients: int, run: str, book: str = SERVICE_BOOK) -> Figure:
    """Sends `batches` PostEntries of BATCH_SIZE entries to `book` (opened by open_book) from `clients`
    keep-alive connections at once."""
    bodies = [envelope(batch_body(book, f"{run}-b{n}", random.Random(n)), server.username, server.password).encode()
              for n in range(batches)]

    def send(connection: http.client.HTTPConnection, number: int) -> None:
        connection.request("POST", SOAP_PATH, bodies[number], {"Content-Type": CONTENT_TYPE})
        response = connection.getresponse()
        content = response.read()
        if response.status != 200 or FAULT.search(content) or len(POSTED.findall(content)) != BATCH_SIZE:
            raise BenchmarkFailed(f"batch {number} failed with HTTP {response.status}",
                                  content[:2000].decode(errors="replace"))

    seconds = drain(batches, clients, lambda: http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=BATCH_TIMEOUT_SECONDS), send)
    return Figure("service: PostEntries, 1000 entries a batch", batches * BATCH_SIZE / seconds, "entries/s",
                  f"{batches} batches from {clients} clients in {seconds:.1f} s", batches * BATCH_SIZE)


def load(generator, server: LedgerServer, operation: str, seconds: int, label: str):
    """One wrk (or built-in generator) run of `operation` from SINGLE_CLIENTS connections."""
    debits, credits = accounts()
    bodies = {
        "GetBalance": f"<l:GetBalance><l:book>{SERVICE_BOOK}</l:book><l:account>{{account}}</l:account></l:GetBalance>",
        "PostEntry": (
            f"<l:PostEntry><l:book>{SERVICE_BOOK}</l:book><l:entry><l:reference>{{reference}}</l:reference>"
            f"<l:effectiveDate>{EFFECTIVE_DATE}</l:effectiveDate><l:lines>"
            "<l:line><l:account>{debit}</l:account><l:side>DEBIT</l:side><l:amount>{amount}</l:amount></l:line>"
            "<l:line><l:account>{credit}</l:account><l:side>CREDIT</l:side><l:amount>{amount}</l:amount></l:line>"
            "</l:lines></l:entry></l:PostEntry>"),
    }
    workload = Workload(operation, envelope(bodies[operation], server.username, server.password), debits, credits)
    run = generator.run(server.base_url, workload, seconds, label)
    run.check_error_rate(label)
    return run


class WorkerMemory:
    """The peak resident set of each gunicorn worker (the master's children), as the kernel keeps it."""

    def __init__(self, master_pid: int):
        self.master_pid = master_pid
        self.peaks: dict[int, int] = {}

    def sample(self) -> None:
        for pid in self._workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue  # a worker that was just replaced
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peaks[pid] = max(self.peaks.get(pid, 0), int(line.split()[1]))

    def _workers(self) -> list[int]:
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    @property
    def peak_mib(self) -> float:
        return max(self.peaks.values(), default=0) / 1024


# --- the bare ceiling ---

class BareWriter:
    """The rows a posting writes, as plain SQL over psycopg: what PostgreSQL itself allows."""

    def __init__(self, database_url: str, book_code: str):
        self.url = database_url
        with psycopg.connect(database_url) as connection:
            self.book_id = connection.execute("SELECT id FROM books WHERE code = %s", (book_code,)).fetchone()[0]
            self.account_ids = dict(connection.execute(
                "SELECT code, id FROM accounts WHERE book_id = %s", (self.book_id,)).fetchall())

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url)

    def post(self, connection: psycopg.Connection, entries: list[tuple[str, str, str, str]]) -> None:
        """One transaction writing `entries`, each (reference, debit account, credit account, amount)."""
        now = datetime.now(timezone.utc)
        ids = sorted({self.account_ids[code] for _, debit, credit, _ in entries for code in (debit, credit)})
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SELECT id, closed_through FROM books WHERE id = %s FOR SHARE", (self.book_id,))
            totals = {row[0]: [row[1], row[2]] for row in cursor.execute(
                "SELECT id, posted_debits, posted_credits FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                (ids,))}
            references = [reference for reference, *_ in entries]
            cursor.execute("SELECT id FROM entries WHERE book_id = %s AND reference = ANY(%s)",
                           (self.book_id, references))
            cursor.executemany(
                "INSERT INTO entries (public_id, book_id, reference, effective_date, recorded_at, status, fingerprint)"
                " VALUES (%s, %s, %s, %s, %s, 'POSTED', %s) RETURNING id",
                [(str(uuid.uuid4()), self.book_id, reference, EFFECTIVE_DATE, now, secrets.token_hex(32))
                 for reference in references], returning=True)
            entry_ids = []
            while True:
                entry_ids.append(cursor.fetchone()[0])
                if not cursor.nextset():
                    break
            lines, days = [], {}
            for entry_id, (_, debit, credit, amount) in zip(entry_ids, entries):
                minor = int(Decimal(amount).scaleb(2))
                for position, (code, side) in enumerate(((debit, "DEBIT"), (credit, "CREDIT"))):
                    account_id = self.account_ids[code]
                    lines.append((entry_id, position, account_id, EFFECTIVE_DATE, side, minor))
                    totals[account_id][position] += minor
                    days.setdefault(account_id, [0, 0])[position] += minor
            cursor.executemany("INSERT INTO lines (entry_id, position, account_id, effective_date, side, amount)"
                               " VALUES (%s, %s, %s, %s, %s, %s)", lines)
            cursor.executemany(
                "INSERT INTO account_days (account_id, day, debits, credits) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (account_id, day) DO UPDATE SET debits = account_days.debits + excluded.debits,"
                " credits = account_days.credits + excluded.credits",
                [(account_id, EFFECTIVE_DATE, debits, credits) for account_id, (debits, credits) in sorted(days.items())])
            cursor.executemany("UPDATE accounts SET posted_debits = %s, posted_credits = %s WHERE id = %s",
                               [(debits, credits, account_id) for account_id, (debits, credits) in sorted(totals.items())])


def bare_singles(writer: BareWriter, connections: int, seconds: float) -> Figure:
    stop_at = time.monotonic() + seconds
    counts = [0] * connections

    def run(number: int) -> None:
        chance = random.Random(1000 + number)
        with writer.connect() as connection:
            while time.monotonic() < stop_at:
                counts[number] += 1
                writer.post(connection, [(f"single-{number}-{counts[number]}", *random_entry(chance, counts[number]))])

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        for future in [pool.submit(run, n) for n in range(connections)]:
            future.result()
    elapsed = time.perf_counter() - started
    return Figure("bare psycopg: one transaction per entry", sum(counts) / elapsed, "entries/s",
                  f"{sum(counts)} entries from {connections} connections in {elapsed:.1f} s", sum(counts))


def bare_batches(writer: BareWriter, batches: int, connections: int) -> Figure:
    def send(connection: psycopg.Connection, number: int) -> None:
        chance = random.Random(number)
        writer.post(connection, [(f"batch-{number}-{n}", *random_entry(chance, n)) for n in range(BATCH_SIZE)])

    elapsed = drain(batches, connections, writer.connect, send)
    return Figure("bare psycopg: one transaction per 1000 entries", batches * BATCH_SIZE / elapsed, "entries/s",
                  f"{batches} batches from {connections} connections in {elapsed:.1f} s", batches * BATCH_SIZE)


# --- checks and the run ---

def check_books(server: LedgerServer, expected: dict[str, int]) -> None:
    with psycopg.connect(server.database_url) as connection:
        for book, count in expected.items():
            stored = connection.execute(
                "SELECT count(*) FROM entries JOIN books ON books.id = entries.book_id WHERE books.code = %s",
                (book,)).fetchone()[0]
            if stored != count:
                raise BenchmarkFailed(f"book {book} holds {stored} entries; {count} were confirmed")
    for book in expected:
        trial = server.call(f"<l:GetTrialBalance><l:book>{book}</l:book></l:GetTrialBalance>")
        for total in trial.iter(f"{{{TNS}}}total"):
            debit, credit = Decimal(total.findtext(f"{{{TNS}}}debit")), Decimal(total.findtext(f"{{{TNS}}}credit"))
            if debit != credit:
                raise BenchmarkFailed(f"book {book} does not balance: debits {debit}, credits {credit}")
    print("  every book balances and holds exactly the entries confirmed: " +
          ", ".join(f"{book} {count}" for book, count in expected.items()))


def committed_unconfirmed(database_url: str, runs) -> int:
    unconfirmed = [reference for run in runs for reference in run.unconfirmed]
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT count(*) FROM entries JOIN books ON books.id = entries.book_id"
            " WHERE books.code = %s AND entries.reference = ANY(%s)", (SERVICE_BOOK, unconfirmed)).fetchone()[0]


def verdict(ratio: float, target: float, at_most: bool = False) -> str:
    met = ratio <= target if at_most else ratio >= target
    return f"{'met' if met else 'MISSED'} (target {'≤' if at_most else '≥'} {target:g})"


def benchmark(options: argparse.Namespace, work_dir: Path) -> None:
    generator = choose_generator(argparse.Namespace(generator=options.generator, wrk_threads=2,
                                                    connections=SINGLE_CLIENTS), work_dir)
    with serving(options.postgres_url, options.workers, work_dir) as server:
        database_url = server.database_url
        version = postgres_version(database_url)
        memory = WorkerMemory(server.process.pid)
        for book in (SERVICE_BOOK, BARE_BOOK):
            open_book(server, book)
        print(f"server {server.base_url}, {options.workers} workers; PostgreSQL {version}; "
              f"generator: {generator.describe()}")
        warm_up = post_batches(server, 2, options.batch_clients, "warm")
        # A database in service has its planner statistics kept by autovacuum; one this new has none
        # yet, and plans made for empty tables would scan the tables that the run fills.
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute("ANALYZE")
        memory.sample()
        batches = post_batches(server, options.batches, options.batch_clients, "run")
        memory.sample()
        print(f"  {batches.name}: {batches.per_second:,.0f} {batches.unit}")
        post_runs = [load(generator, server, "PostEntry", options.warmup, "PostEntry-warm-up")] if options.warmup else []
        singles_run = load(generator, server, "PostEntry", options.duration, "PostEntry-measurement")
        post_runs.append(singles_run)
        memory.sample()
        singles = Figure("service: PostEntry, 8 concurrent clients", singles_run.requests_per_second, "entries/s",
                         f"p50 {singles_run.p50_ms:.1f} ms, p99 {singles_run.p99_ms:.1f} ms")
        print(f"  {singles.name}: {singles.per_second:,.0f} {singles.unit}")
        balances_run = load(generator, server, "GetBalance", options.duration, "GetBalance-measurement")
        memory.sample()
        balances = Figure("service: GetBalance, 8 concurrent clients", balances_run.requests_per_second,
                          "calls/s", f"p50 {balances_run.p50_ms:.1f} ms, p99 {balances_run.p99_ms:.1f} ms")
        print(f"  {balances.name}: {balances.per_second:,.0f} {balances.unit}")

        writer = BareWriter(database_url, BARE_BOOK)
        bare_single = bare_singles(writer, SINGLE_CLIENTS, options.duration)
        print(f"  {bare_single.name}: {bare_single.per_second:,.0f} {bare_single.unit}")
        bare_batch = bare_batches(writer, options.batches, options.batch_clients)
        print(f"  {bare_batch.name}: {bare_batch.per_second:,.0f} {bare_batch.unit}")

        # wrk abandons what it has in flight when its time is up; a graceful restart lets the
        # server finish those before the count.
        server.stop()
        server.start()
        service_entries = (warm_up.entries + batches.entries + sum(run.successes for run in post_runs)
                           + committed_unconfirmed(database_url, post_runs))
        check_books(server, {SERVICE_BOOK: service_entries, BARE_BOOK: bare_single.entries + bare_batch.entries})

    print()
    print(f"soap-ledger lifecycle benchmark, {date.today().isoformat()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, PostgreSQL {version}")
    width = max(len(f.name) for f in (batches, singles, balances, bare_single, bare_batch))
    for figure in (batches, singles, balances, bare_batch, bare_single):
        print(f"  {figure.name:<{width}}  {figure.per_second:>9,.0f} {figure.unit:<10} {figure.detail}")
    print(f"  {'peak worker memory (VmHWM, largest of the workers)':<{width}}  {memory.peak_mib:>9,.1f} MiB")
    print()
    batch_ratio = batches.per_second / bare_batch.per_second
    single_ratio = singles.per_second / bare_single.per_second
    cost_ratio = singles.per_second / batches.per_second
    print(f"  batches / bare batch ceiling                 {batch_ratio:6.2f}  {verdict(batch_ratio, BATCH_TARGET)}")
    print(f"  single posts / bare one-per-entry ceiling    {single_ratio:6.2f}  {verdict(single_ratio, SINGLE_TARGET)}")
    print(f"  cost of a batched entry / of a single call   {cost_ratio:6.3f}  "
          f"{verdict(cost_ratio, BATCH_COST_TARGET, at_most=True)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20, help="PostEntries batches of 1000 entries measured")
    parser.add_argument("--batch-clients", type=int, default=2, help="concurrent batch senders (and bare connections)")
    parser.add_argument("--duration", type=int, default=15, metavar="SECONDS",
                        help="measurement of single PostEntry, GetBalance and the bare single-entry writer")
    parser.add_argument("--warmup", type=int, default=3, metavar="SECONDS")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of `ledger-service serve`")
    parser.add_argument("--generator", choices=("auto", "python"), default="auto",
                        help="wrk if installed (auto), or the built-in Python generator")
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger-lifecycle-") as work_dir:
        try:
            benchmark(options, Path(work_dir))
        except BenchmarkFailed as failure:
            print(f"\nBENCHMARK FAILED: {failure}\n{(failure.detail or '')[:4000]}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
