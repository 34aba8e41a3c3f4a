"""The ceilings bench/lifecycle.py holds the service's writes to: entries written straight through psycopg,
with no HTTP, SOAP or domain, one transaction per entry from a number of connections for a while, or one
transaction per 1000 entries.

A writer knows its schema and how to pick an entry's accounts: lifecycle.BareWriter writes every row a
posting of the service writes, on the service's own schema; MinimalWriter writes a ledger as small as
one can be (accounts with a balance, entries, their lines) on a database of its own, what any ledger on
this machine's PostgreSQL would have to pay.
"""
from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Callable, Protocol

import psycopg

from throughput import BenchmarkFailed

BATCH_SIZE = 1000


@dataclass
class Figure:
    name: str
    per_second: float
    unit: str
    detail: str = ""
    entries: int = 0  # entries it wrote
    p99_ms: float | None = None  # of the latencies of its calls, where it made calls
    seconds: float = 0.0  # that it took


class Writer(Protocol):
    def connect(self) -> psycopg.Connection: ...

    def entry(self, chance: random.Random, counter: int) -> tuple:
        """An entry's accounts and amount, as post() takes them after the reference."""

    def post(self, connection: psycopg.Connection, entries: list[tuple]) -> None:
        """One transaction writing `entries`, each (reference, *entry())."""


def drain(batches: int, senders: int, connect: Callable, send: Callable) -> float:
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


def bare_singles(writer: Writer, connections: int, seconds: float, name: str, label: str) -> Figure:
    """One transaction per entry from `connections` connections at once, for `seconds`; the references
    start with `label`."""
    stop_at = time.monotonic() + seconds
    counts = [0] * connections

    def run(number: int) -> None:
        chance = random.Random(1000 + number)
        with writer.connect() as connection:
            while time.monotonic() < stop_at:
                counts[number] += 1
                writer.post(connection, [(f"{label}-{number}-{counts[number]}", *writer.entry(chance, counts[number]))])

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        for future in [pool.submit(run, n) for n in range(connections)]:
            future.result()
    elapsed = time.perf_counter() - started
    return Figure(name, sum(counts) / elapsed, "entries/s",
                  f"{sum(counts)} entries from {connections} connections in {elapsed:.1f} s", sum(counts),
                  seconds=elapsed)


def bare_batches(writer: Writer, batches: int, connections: int, name: str, label: str) -> Figure:
    """`batches` transactions of BATCH_SIZE entries, from `connections` connections at once; the
    references start with `label`."""
    def send(connection: psycopg.Connection, number: int) -> None:
        chance = random.Random(number)
        writer.post(connection, [(f"{label}-{number}-{n}", *writer.entry(chance, n)) for n in range(BATCH_SIZE)])

    elapsed = drain(batches, connections, writer.connect, send)
    return Figure(name, batches * BATCH_SIZE / elapsed, "entries/s",
                  f"{batches} batches from {connections} connections in {elapsed:.1f} s", batches * BATCH_SIZE,
                  seconds=elapsed)


# --- the minimal ledger ---

MINIMAL_SCHEMA = """
CREATE TABLE accounts (id integer PRIMARY KEY, code text NOT NULL UNIQUE, balance bigint NOT NULL DEFAULT 0);
CREATE TABLE entries (id bigserial PRIMARY KEY, reference text NOT NULL UNIQUE, effective_date date NOT NULL,
                      recorded_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE lines (entry_id bigint NOT NULL REFERENCES entries, account_id integer NOT NULL REFERENCES accounts,
                    amount bigint NOT NULL);
"""
# The entries and their lines in one statement: a line finds its entry's new id by the entry's reference.
INSERT_ENTRIES = """
WITH entry AS (
    INSERT INTO entries (reference, effective_date) SELECT reference, %s FROM unnest(%s::text[]) AS reference
    RETURNING id, reference)
INSERT INTO lines (entry_id, account_id, amount)
SELECT entry.id, line.account_id, line.amount
FROM unnest(%s::text[], %s::integer[], %s::bigint[]) AS line (reference, account_id, amount) JOIN entry USING (reference)
"""
UPDATE_BALANCES = """
UPDATE accounts SET balance = balance + change.amount
FROM unnest(%s::integer[], %s::bigint[]) AS change (account_id, amount) WHERE accounts.id = change.account_id
"""


class MinimalWriter:
    """A minimal double-entry ledger on the database at `database_url`, which it fills with its schema and
    accounts: ids 1.. for `debit_accounts`, then `credit_accounts` (their codes, as GetBalance of bare_spyne.py
    reads them). An entry debits a random debit account and credits a random credit account (amounts in
    minor units, a debit positive); its transaction locks both in id order, inserts the entry and its
    two lines, and updates both balances. Without `create`, the database holds that schema and those
    accounts already."""

    def __init__(self, database_url: str, debit_accounts: tuple[str, ...], credit_accounts: tuple[str, ...],
                 effective_date: date, create: bool = True):
        self.url = database_url
        self.effective_date = effective_date
        codes = debit_accounts + credit_accounts
        self.debit_ids = range(1, len(debit_accounts) + 1)
        self.credit_ids = range(len(debit_accounts) + 1, len(codes) + 1)
        if not create:
            return
        with psycopg.connect(database_url) as connection:
            connection.execute(MINIMAL_SCHEMA)
            with connection.cursor() as cursor:
                cursor.executemany("INSERT INTO accounts (id, code) VALUES (%s, %s)", list(enumerate(codes, 1)))

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url)

    def entry(self, chance: random.Random, counter: int) -> tuple[int, int, int]:
        return chance.choice(self.debit_ids), chance.choice(self.credit_ids), counter % 999 + 1

    def post(self, connection: psycopg.Connection, entries: list[tuple[str, int, int, int]]) -> None:
        references, line_references, line_accounts, line_amounts, changes = [], [], [], [], {}
        for reference, debit, credit, amount in entries:
            references.append(reference)
            for account, signed in ((debit, amount), (credit, -amount)):
                line_references.append(reference)
                line_accounts.append(account)
                line_amounts.append(signed)
                changes[account] = changes.get(account, 0) + signed
        accounts = sorted(changes)
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (accounts,))
            cursor.execute(INSERT_ENTRIES, (self.effective_date, references, line_references, line_accounts,
                                            line_amounts))
            cursor.execute(UPDATE_BALANCES, (accounts, [changes[account] for account in accounts]))

    def check(self, expected_entries: int) -> None:
        """Raises BenchmarkFailed unless the ledger holds `expected_entries` entries of two lines that sum
        to zero and every balance is the sum of its account's lines."""
        with psycopg.connect(self.url) as connection:
            entries = connection.execute("SELECT count(*) FROM entries").fetchone()[0]
            unbalanced = connection.execute(
                "SELECT count(*) FROM (SELECT entry_id FROM lines GROUP BY entry_id"
                " HAVING sum(amount) <> 0 OR count(*) <> 2) AS entry").fetchone()[0]
            wrong = connection.execute(
                "SELECT count(*) FROM accounts LEFT JOIN (SELECT account_id, sum(amount) AS total FROM lines"
                " GROUP BY account_id) AS posted ON posted.account_id = accounts.id"
                " WHERE accounts.balance <> coalesce(posted.total, 0)").fetchone()[0]
        if (entries, unbalanced, wrong) != (expected_entries, 0, 0):
            raise BenchmarkFailed(f"the minimal ledger holds {entries} entries ({expected_entries} written), "
                                  f"{unbalanced} of them unbalanced, {wrong} balances not the sum of their lines")
