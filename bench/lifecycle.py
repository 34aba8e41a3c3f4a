"""Throughput against the ceilings this machine allows, in one run: PostEntries batches, single PostEntry
calls and GetBalance calls on `ledger-service serve --workers 4`, beside the same writes made by bare
psycopg scripts and the same read answered by a bare Spyne application.

    .venv/bin/python bench/lifecycle.py [--batches N] [--duration SECONDS] [--postgres-url URL]

What it measures, on two throwaway databases (the service's, and a minimal ledger's):

1. the service: PostEntries batches of 1000 two-line entries (atomic), from `--batch-clients`
   concurrent clients; entries per second;
2. the service: single PostEntry calls from 8 concurrent clients (wrk, or the built-in generator), on a
   book of 4 ASSET and 4 INCOME accounts, then on one of 50 and 50;
3. the service: GetBalance calls from 8 concurrent clients on the second book, as a client added while
   LEDGER_SECRET_KEY was set and as one added without it (the server holds the key);
4. the bare ceiling on the service's schema: the rows a posting writes (the book read for share, the
   accounts locked in id order, the reference looked up, the entry, its lines, the per-day totals and
   the accounts' running totals), written by psycopg with no SOAP, no Python domain and no HTTP: one
   transaction per entry from 8 connections on the 4 + 4 accounts, then one transaction per 1000
   entries from `--batch-clients` connections;
5. the minimal ceiling: the same two ways, on a minimal ledger of 50 + 50 accounts (ceilings.py);
6. the bare Spyne ceiling: GetBalance of a minimal Spyne application whose handler runs one indexed
   SELECT, under gunicorn (bare_spyne.py), from 8 connections;
7. the peak resident memory of each gunicorn worker over the whole run (the kernel's VmHWM), and the
   peak of what Python allocates while the service's WSGI application answers one PostEntries batch in
   this process (tracemalloc: batch_allocation.py).

Each of 1 to 6 is taken in `--rounds` turns, and each turn of a figure beside the turns of the figures it
is compared with: in a round, the batches with both bare batches, the single posts on 4 + 4 accounts with
the bare writer on the service's schema, those on 50 + 50 with the minimal writer, the two readers with
bare Spyne, in this order in one round and in the opposite order in the next. A figure is what its
turns did over the seconds they took. This machine's speed can change by half within minutes; taken
this way, such a change falls on both sides of a ratio.

Then it checks that every book balances and holds exactly the entries that were confirmed, and the
minimal ledger likewise, prints the figures and the ratios the targets name, and drops the databases.
bench/README.md has the details.
"""
from __future__ import annotations

import argparse
import http.client
import operator
import os
import platform
import random
import re
import secrets
import sys
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable

import psycopg
from cryptography.fernet import Fernet

from bare_spyne import BareSpyneServer
from batch_allocation import peak_allocation_mib
from ceilings import BATCH_SIZE, Figure, MinimalWriter, bare_batches, bare_singles, drain
from throughput import (
    CONTENT_TYPE, DEFAULT_POSTGRES_URL, FAULT, SOAP_PATH, TNS, BenchmarkFailed, LedgerServer, LoadRun, Workload,
    choose_generator, envelope, ledger_service, postgres_version, run_in_work_dir, running, service_environment,
    serving, throwaway_database, workloads,
)

SERVICE_BOOK, BARE_BOOK, SPREAD_BOOK = "LIFE", "BARE", "SPREAD"
ACCOUNTS_PER_SIDE = 4
# The book the minimal ledger's ceiling is held against, and the minimal ledger itself: entries debit one
# of 50 accounts and credit one of 50 others, at random.
SPREAD_ACCOUNTS_PER_SIDE = 50
EFFECTIVE_DATE = date(2026, 1, 15)
SINGLE_CLIENTS = 8
BATCH_TIMEOUT_SECONDS = 300
POSTED = re.compile(rb"<(?:[\w.-]+:)?status>POSTED</")
SECRET_KEY = "LEDGER_SECRET_KEY"
# Readers of SPREAD_BOOK: one added while the server's LEDGER_SECRET_KEY was set (its secret kept for
# PasswordDigest), one added without it; both send PasswordText.
KEYED_READER, PLAIN_READER = "bench-reader-keyed", "bench-reader-plain"
KEYED, PLAIN = f"with {SECRET_KEY}", f"without {SECRET_KEY}"
# The targets the issue names. Against the bare writers on the service's own schema: batches at half
# their batch ceiling or better, single posts at 60% of their one-transaction-per-entry ceiling or
# better, and a batched entry costing at most a tenth of a single call.
BATCH_TARGET, SINGLE_TARGET, BATCH_COST_TARGET = 0.5, 0.6, 0.1
# Against the minimal ceilings: single posts at half the minimal writer's rate or better, with a 99th
# percentile of 30 ms at most; GetBalance at 80% of bare Spyne's with either kind of client; batches at
# the minimal batch's rate or better; and every worker's peak resident set under 120 MiB.
MINIMAL_SINGLE_TARGET, SINGLE_P99_TARGET_MS, READ_TARGET, MINIMAL_BATCH_TARGET = 0.5, 30.0, 0.8, 1.0
MEMORY_TARGET_MIB = 120.0
COMPARISONS = {"≥": operator.ge, "≤": operator.le, "<": operator.lt}


def accounts(per_side: int = ACCOUNTS_PER_SIDE) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (tuple(f"cash-{n}" for n in range(1, per_side + 1)),
            tuple(f"sales-{n}" for n in range(1, per_side + 1)))


def open_book(server: LedgerServer, code: str, per_side: int = ACCOUNTS_PER_SIDE) -> None:
    server.call(f"<l:CreateBook><l:code>{code}</l:code><l:name>Lifecycle benchmark</l:name></l:CreateBook>")
    debits, credits = accounts(per_side)
    for kind, codes in (("ASSET", debits), ("INCOME", credits)):
        for account in codes:
            server.call(f"<l:OpenAccount><l:book>{code}</l:book><l:account><l:code>{account}</l:code>"
                        f"<l:name>{account}</l:name><l:type>{kind}</l:type><l:currency>USD</l:currency>"
                        "</l:account></l:OpenAccount>")


def add_reader(server: LedgerServer, name: str, with_key: bool) -> tuple[str, str]:
    """A client that may read SPREAD_BOOK, added with the server's LEDGER_SECRET_KEY or with none; its
    (username, password)."""
    password = secrets.token_urlsafe(18)
    environment = dict(server.environment or {}) if with_key else {**(server.environment or {}), SECRET_KEY: ""}
    ledger_service(server.database_url, "clients", "add", name, "--password-stdin", "--grant",
                   f"{SPREAD_BOOK}:reader", stdin=password + "\n", environment=environment)
    return name, password


def random_entry(chance: random.Random, counter: int) -> tuple[str, str, str]:
    """(debit account, credit account, amount) of one two-line entry."""
    debits, credits = accounts()
    return chance.choice(debits), chance.choice(credits), f"{Decimal(counter % 999 + 1).scaleb(-2):.2f}"


class Confirmed:
    """The entries each book must hold: those the service confirmed, and those of the load runs' references
    it never confirmed but may have committed all the same (wrk abandons what it has in flight)."""

    def __init__(self):
        self.entries: Counter[str] = Counter()
        self.runs: defaultdict[str, list[LoadRun]] = defaultdict(list)

    def add(self, book: str, entries: int) -> None:
        self.entries[book] += entries

    def add_run(self, book: str, run: LoadRun) -> None:
        self.entries[book] += run.successes
        self.runs[book].append(run)

    def expected(self, database_url: str) -> dict[str, int]:
        """Per book; once nothing can commit any more."""
        return {book: count + committed_unconfirmed(database_url, book, self.runs[book])
                for book, count in self.entries.items()}


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


def batch_request(server: LedgerServer, book: str, label: str, seed: int) -> bytes:
    return envelope(batch_body(book, label, random.Random(seed)), server.username, server.password).encode()


def check_batch(what: str, status: int, content: bytes) -> None:
    if status != 200 or FAULT.search(content) or len(POSTED.findall(content)) != BATCH_SIZE:
        raise BenchmarkFailed(f"{what} failed with HTTP {status}", content[:2000].decode(errors="replace"))


def post_batches(server: LedgerServer, batches: int, clients: int, run: str, confirmed: Confirmed,
                 book: str = SERVICE_BOOK) -> Figure:
    """Sends `batches` PostEntries of BATCH_SIZE entries to `book` (opened by open_book) from `clients`
    keep-alive connections at once."""
    bodies = [batch_request(server, book, f"{run}-b{n}", n) for n in range(batches)]

    def send(connection: http.client.HTTPConnection, number: int) -> None:
        connection.request("POST", SOAP_PATH, bodies[number], {"Content-Type": CONTENT_TYPE})
        response = connection.getresponse()
        check_batch(f"batch {number}", response.status, response.read())

    seconds = drain(batches, clients, lambda: http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=BATCH_TIMEOUT_SECONDS), send)
    confirmed.add(book, batches * BATCH_SIZE)
    return Figure("service: PostEntries, 1000 entries a batch", batches * BATCH_SIZE / seconds, "entries/s",
                  f"{batches} batches from {clients} clients in {seconds:.1f} s", batches * BATCH_SIZE,
                  seconds=seconds)


def service_workload(operation: str, book: str, per_side: int, client: tuple[str, str]) -> Workload:
    """`operation` on `book`'s accounts (opened by open_book with `per_side`), as `client` (username, password)."""
    return workloads(*client, *accounts(per_side), book=book)[operation]


def load(generator, base_url: str, workload: Workload, seconds: int, label: str) -> LoadRun:
    """One wrk (or built-in generator) run of `workload` from SINGLE_CLIENTS connections."""
    run = generator.run(base_url, workload, seconds, label)
    run.check_error_rate(label)
    return run


def rate(name: str, run: LoadRun, unit: str) -> Figure:
    return Figure(name, run.requests_per_second, unit, f"p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms",
                  p99_ms=run.p99_ms, seconds=run.seconds)


def show(figure: Figure) -> Figure:
    p99 = "" if figure.p99_ms is None else f", p99 {figure.p99_ms:.1f} ms"
    print(f"  {figure.name}: {figure.per_second:,.0f} {figure.unit}{p99}", flush=True)
    return figure


def post_singles(generator, server: LedgerServer, book: str, per_side: int, seconds: int, warmup: int,
                 label: str, confirmed: Confirmed) -> Figure:
    """Single PostEntry calls to `book` for `seconds`, after `warmup` seconds of them (none if 0)."""
    workload = service_workload("PostEntry", book, per_side, (server.username, server.password))
    if warmup:
        confirmed.add_run(book, load(generator, server.base_url, workload, warmup, f"{label}-warm-up"))
    run = load(generator, server.base_url, workload, seconds, label)
    confirmed.add_run(book, run)
    return rate(f"service: PostEntry, 8 clients, {per_side} + {per_side} accounts", run, "entries/s")


def read_balances(generator, base_url: str, workload: Workload, seconds: int, warmup: int, label: str,
                  name: str) -> Figure:
    """GetBalance calls for `seconds`, after `warmup` seconds of them (every worker then knows the
    client's password; none if 0)."""
    if warmup:
        load(generator, base_url, workload, warmup, f"{label}-warm-up")
    return rate(name, load(generator, base_url, workload, seconds, label), "calls/s")


def pooled(turns: list[Figure]) -> Figure:
    """One figure of a measurement's turns: what they all did over the seconds they all took, with the
    highest p99 of any turn."""
    seconds = sum(turn.seconds for turn in turns)
    p99s = [turn.p99_ms for turn in turns if turn.p99_ms is not None]
    detail = "turns " + ", ".join(f"{turn.per_second:,.0f}" for turn in turns) + f" {turns[0].unit}"
    return Figure(turns[0].name, sum(turn.per_second * turn.seconds for turn in turns) / seconds, turns[0].unit,
                  detail + (f"; p99 {max(p99s):.1f} ms" if p99s else ""), sum(turn.entries for turn in turns),
                  max(p99s) if p99s else None, seconds)


def batch_allocation_mib(server: LedgerServer, confirmed: Confirmed) -> float:
    """The peak of Python's allocations while the service's WSGI application, in this process and with the
    server's settings, answers one PostEntries batch (after one more, untraced: batch_allocation.py)."""
    bodies = [batch_request(server, SERVICE_BOOK, f"in-process-{n}", n) for n in range(2)]
    mib = peak_allocation_mib(service_environment(server.database_url, server.environment), *bodies,
                              lambda status, content: check_batch("an in-process batch", status, content))
    confirmed.add(SERVICE_BOOK, len(bodies) * BATCH_SIZE)
    return mib


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


# --- the bare ceiling on the service's schema ---

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

    def entry(self, chance: random.Random, counter: int) -> tuple[str, str, str]:
        return random_entry(chance, counter)

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


# --- checks ---

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


def committed_unconfirmed(database_url: str, book: str, runs: list[LoadRun]) -> int:
    unconfirmed = [reference for run in runs for reference in run.unconfirmed]
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT count(*) FROM entries JOIN books ON books.id = entries.book_id"
            " WHERE books.code = %s AND entries.reference = ANY(%s)", (book, unconfirmed)).fetchone()[0]


def verdict(value: float, target: float, comparison: str = "≥") -> str:
    met = COMPARISONS[comparison](value, target)
    return f"{'met' if met else 'MISSED'} (target {comparison} {target:g})"


# --- the run ---

def comparisons(options: argparse.Namespace, generator, server: LedgerServer, bare_spyne: BareSpyneServer,
                readers: dict[str, tuple[str, str]], minimal: MinimalWriter,
                confirmed: Confirmed) -> list[list[tuple[str, Callable[[int], Figure]]]]:
    """The measurements, in the groups that the targets compare with each other: each a key and how to
    take its turn of a round (0, 1, ...) of `options.rounds`, in `options.duration / options.rounds`
    seconds (a single post or a read) or `options.batches / options.rounds` batches."""
    seconds = max(1, round(options.duration / options.rounds))
    batches = max(1, options.batches // options.rounds)
    bare = BareWriter(server.database_url, BARE_BOOK)

    def warmup(turn: int) -> int:
        return options.warmup if turn == 0 else 0

    def reads(kind: str, client: tuple[str, str], base_url: str, name: str) -> Callable[[int], Figure]:
        workload = service_workload("GetBalance", SPREAD_BOOK, SPREAD_ACCOUNTS_PER_SIDE, client)
        return lambda turn: read_balances(generator, base_url, workload, seconds, warmup(turn),
                                          f"GetBalance-{kind}-{turn}", name)

    return [
        [("batches", lambda turn: post_batches(server, batches, options.batch_clients, f"run{turn}", confirmed)),
         ("bare batch", lambda turn: bare_batches(bare, batches, options.batch_clients,
                                                  "bare psycopg, service's schema: one transaction per 1000 entries",
                                                  f"batch{turn}")),
         ("minimal batch", lambda turn: bare_batches(minimal, batches, options.batch_clients,
                                                     "minimal psycopg ledger: one transaction per 1000 entries",
                                                     f"batch{turn}"))],
        [("singles", lambda turn: post_singles(generator, server, SERVICE_BOOK, ACCOUNTS_PER_SIDE, seconds,
                                               warmup(turn), f"{SERVICE_BOOK}-PostEntry-{turn}", confirmed)),
         ("bare single", lambda turn: bare_singles(bare, SINGLE_CLIENTS, seconds,
                                                   "bare psycopg, service's schema: one transaction per entry",
                                                   f"single{turn}"))],
        [("spread", lambda turn: post_singles(generator, server, SPREAD_BOOK, SPREAD_ACCOUNTS_PER_SIDE, seconds,
                                              warmup(turn), f"{SPREAD_BOOK}-PostEntry-{turn}", confirmed)),
         ("minimal single", lambda turn: bare_singles(minimal, SINGLE_CLIENTS, seconds,
                                                      "minimal psycopg ledger: one transaction per entry",
                                                      f"single{turn}"))],
        [*((kind, reads(kind, client, server.base_url, f"service: GetBalance, 8 clients, client added {kind}"))
           for kind, client in readers.items()),
         # The bare application ignores the Security header that the service's envelopes carry.
         ("bare spyne", reads("bare-spyne", (server.username, server.password), bare_spyne.base_url,
                              "bare Spyne + one SELECT: GetBalance, 8 clients"))],
    ]


def measure(options: argparse.Namespace, groups: list[list[tuple[str, Callable[[int], Figure]]]],
            memory: WorkerMemory) -> dict[str, Figure]:
    """Each measurement of `groups` in `options.rounds` turns. A round takes every group's turns one after
    another, in the group's order in an even round and in the opposite order in an odd one (A B, B A):
    the service's figure and the ceiling it is held to are taken minutes apart at most, and a change of
    this machine's speed during a run falls on both sides of each ratio."""
    turns: dict[str, list[Figure]] = defaultdict(list)
    for turn in range(options.rounds):
        print(f"round {turn + 1} of {options.rounds}", flush=True)
        for group in groups:
            for key, take in (group if turn % 2 == 0 else reversed(group)):
                turns[key].append(show(take(turn)))
                memory.sample()
        print(f"    peak worker memory so far: {memory.peak_mib:.1f} MiB", flush=True)
    return {key: pooled(figures) for key, figures in turns.items()}


def benchmark(options: argparse.Namespace, work_dir: Path) -> None:
    generator = choose_generator(argparse.Namespace(generator=options.generator, wrk_threads=2,
                                                    connections=SINGLE_CLIENTS, close=False), work_dir)
    environment = {SECRET_KEY: Fernet.generate_key().decode()}
    confirmed = Confirmed()
    (work_dir / "bare-spyne").mkdir()
    with serving(options.postgres_url, options.workers, work_dir, environment=environment) as server, \
            throwaway_database(options.postgres_url) as minimal_url:
        version = postgres_version(server.database_url)
        memory = WorkerMemory(server.process.pid)
        for book, per_side in ((SERVICE_BOOK, ACCOUNTS_PER_SIDE), (BARE_BOOK, ACCOUNTS_PER_SIDE),
                               (SPREAD_BOOK, SPREAD_ACCOUNTS_PER_SIDE)):
            open_book(server, book, per_side)
        readers = {KEYED: add_reader(server, KEYED_READER, with_key=True),
                   PLAIN: add_reader(server, PLAIN_READER, with_key=False)}
        minimal = MinimalWriter(minimal_url, *accounts(SPREAD_ACCOUNTS_PER_SIDE), EFFECTIVE_DATE)
        print(f"server {server.base_url}, {options.workers} workers, {SECRET_KEY} set; PostgreSQL {version}; "
              f"generator: {generator.describe()}", flush=True)
        post_batches(server, 2, options.batch_clients, "warm", confirmed)
        # A database in service has its planner statistics kept by autovacuum; one this new has none
        # yet, and plans made for empty tables would scan the tables that the run fills.
        with psycopg.connect(server.database_url, autocommit=True) as connection:
            connection.execute("ANALYZE")
        with running(BareSpyneServer(minimal_url, options.workers, work_dir / "bare-spyne" / "server.log")) as spyne:
            figures = measure(options, comparisons(options, generator, server, spyne, readers, minimal, confirmed),
                              memory)
        allocation = batch_allocation_mib(server, confirmed)
        memory.sample()

        # wrk abandons what it has in flight when its time is up; a graceful restart lets the
        # server finish those before the count.
        server.stop()
        server.start()
        expected = confirmed.expected(server.database_url)
        expected[BARE_BOOK] = figures["bare single"].entries + figures["bare batch"].entries
        check_books(server, expected)
        minimal_entries = figures["minimal single"].entries + figures["minimal batch"].entries
        minimal.check(minimal_entries)
        print("  every book balances and holds exactly the entries confirmed: " +
              ", ".join(f"{book} {count}" for book, count in expected.items()) +
              f"; the minimal ledger too: {minimal_entries}")
    report(version, figures, memory.peak_mib, allocation)


def report(version: str, figures: dict[str, Figure], peak_mib: float, allocation_mib: float) -> None:
    print()
    print(f"soap-ledger lifecycle benchmark, {date.today().isoformat()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, PostgreSQL {version}")
    width = max(len(figure.name) for figure in figures.values())
    for figure in figures.values():
        print(f"  {figure.name:<{width}}  {figure.per_second:>9,.0f} {figure.unit:<10} {figure.detail}")
    print(f"  {'peak worker memory (VmHWM, largest of the workers)':<{width}}  {peak_mib:>9,.1f} MiB")
    print(f"  {'one 1000-entry batch, in-process: peak of Python allocations':<{width}}  {allocation_mib:>9,.1f} MiB")
    print()
    rows = targets(figures, peak_mib)
    width = max(len(label) for label, *_ in rows)
    for label, value, shown, target, comparison in rows:
        print(f"  {label:<{width}}  {shown:>9}  {verdict(value, target, comparison)}")


def targets(figures: dict[str, Figure], peak_mib: float) -> list[tuple[str, float, str, float, str]]:
    """(what, its value, the value as shown, the target, how the value must compare with it) of each target."""
    def ratio(label: str, numerator: str, denominator: str, target: float, comparison: str = "≥",
              digits: int = 2) -> tuple[str, float, str, float, str]:
        value = figures[numerator].per_second / figures[denominator].per_second
        return label, value, f"{value:.{digits}f}", target, comparison

    p99 = figures["spread"].p99_ms
    return [
        ratio("batches / bare batch, service's schema", "batches", "bare batch", BATCH_TARGET),
        ratio("single posts, 4 + 4 / bare one-per-entry, service's schema", "singles", "bare single", SINGLE_TARGET),
        ratio("cost of a batched entry / of a single call", "singles", "batches", BATCH_COST_TARGET, "≤", 3),
        ratio("single posts, 50 + 50 / minimal bare writer", "spread", "minimal single", MINIMAL_SINGLE_TARGET),
        ("single posts, 50 + 50: p99", p99, f"{p99:.1f} ms", SINGLE_P99_TARGET_MS, "≤"),
        *(ratio(f"GetBalance, client added {kind} / bare Spyne + SELECT", kind, "bare spyne", READ_TARGET)
          for kind in (KEYED, PLAIN)),
        ratio("batches / minimal bare batch", "batches", "minimal batch", MINIMAL_BATCH_TARGET),
        ("peak worker memory", peak_mib, f"{peak_mib:.1f} MiB", MEMORY_TARGET_MIB, "<"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20, help="PostEntries batches of 1000 entries measured")
    parser.add_argument("--batch-clients", type=int, default=2, help="concurrent batch senders (and bare connections)")
    parser.add_argument("--duration", type=int, default=16, metavar="SECONDS",
                        help="measurement of each load, over all its turns: single PostEntry, GetBalance, the bare"
                             " single-entry writers")
    parser.add_argument("--rounds", type=int, default=4,
                        help="turns each measurement is taken in, its group's order reversed every other round")
    parser.add_argument("--warmup", type=int, default=3, metavar="SECONDS")
    parser.add_argument("--workers", type=int, default=4,
                        help="gunicorn workers of `ledger-service serve` and of the bare Spyne application")
    parser.add_argument("--generator", choices=("auto", "python"), default="auto",
                        help="wrk if installed (auto), or the built-in Python generator")
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    options = parser.parse_args(argv)
    return run_in_work_dir(lambda work_dir: benchmark(options, work_dir), "ledger-lifecycle-")


if __name__ == "__main__":
    sys.exit(main())
