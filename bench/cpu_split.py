"""Where a single call's CPU goes, live: the service's PostEntry and GetBalance beside their ceilings
(the minimal writer, and bare Spyne answering from one SELECT), in alternating turns of one run, each
call's CPU split by the processes that spent it.

    .venv/bin/python bench/cpu_split.py [--turns N] [--seconds S] [--workers W] [--postgres-url URL]

lifecycle.py says how far the service is from its ceilings; this says where the distance is. Each turn
runs one of four loads for `--seconds` from 8 connections and reads, from /proc before and after it,
the CPU time of the server's gunicorn workers, of every PostgreSQL process, of this process and the
children it reaped meanwhile (the load: wrk, or the minimal writer's own threads), and the machine's
busy time; each is divided by the calls the turn made. What no process named here spent (the kernel's
interrupts, the service's gunicorn master, anything else running) is "the rest". The minimal writer's
connections are opened once and kept, so that their server processes are alive at both readings.

The loads, in this order in one round and in the opposite order in the next: the service's PostEntry
on 50 + 50 accounts and the minimal writer on its own 50 + 50 (ceilings.py); the service's GetBalance
of those accounts, as a client added with LEDGER_SECRET_KEY set, and bare_spyne.py's. The machine is
out of CPU under each load, so a rate ratio is the inverse of the CPU ratio: the figures say which
process's share would have to go for a target. Linux only (it reads /proc); wrk if installed, else the
built-in generator (whose CPU, in this process, counts as the load's).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import queue
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import psycopg
from cryptography.fernet import Fernet

from bare_spyne import BareSpyneServer
from ceilings import MinimalWriter, bare_singles
from lifecycle import (
    EFFECTIVE_DATE, KEYED_READER, SECRET_KEY, SINGLE_CLIENTS, SPREAD_ACCOUNTS_PER_SIDE, SPREAD_BOOK, accounts, add_reader, load, open_book, service_workload,
)
from throughput import DEFAULT_POSTGRES_URL, BenchmarkFailed, choose_generator, running, serving, throwaway_database

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PARTS = ("workers", "PostgreSQL", "load", "rest")


def _process_seconds(stat: str) -> tuple[str, int, float]:
    """(command name, parent pid, user + system seconds) of a /proc/PID/stat line."""
    command = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return command, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_busy_seconds() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # all but idle and iowait


def _own_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Reading:
    """CPU seconds spent so far: by each live process of the server's workers and of PostgreSQL (by
    pid: a PostgreSQL process that ended or began between two readings, autovacuum's say, counts for
    neither, and its CPU falls in the rest), by this process and its reaped children, and by the
    whole machine."""
    workers: dict[int, float]
    postgres: dict[int, float]
    own: float
    machine: float

    @classmethod
    def now(cls, master_pid: int | None) -> Reading:
        workers, postgres = {}, {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    command, parent, seconds = _process_seconds(stat.read())
            except OSError:
                continue
            if master_pid is not None and parent == master_pid:
                workers[int(pid)] = seconds
            elif command.startswith("postgres"):
                postgres[int(pid)] = seconds
        return cls(workers, postgres, _own_seconds(), _machine_busy_seconds())

    def spent_since(self, earlier: Reading) -> dict[str, float]:
        if self.workers.keys() != earlier.workers.keys():
            raise BenchmarkFailed("a server's workers changed during a turn: their CPU cannot be told")

        def common(now: dict[int, float], before: dict[int, float]) -> float:
            return sum(now[pid] - before[pid] for pid in now.keys() & before.keys())

        spent = {"workers": common(self.workers, earlier.workers),
                 "PostgreSQL": common(self.postgres, earlier.postgres), "load": self.own - earlier.own}
        spent["rest"] = self.machine - earlier.machine - sum(spent.values())
        return spent


@dataclass
class Measurement:
    name: str
    turn: Callable[[int], int]  # runs turn N; how many calls it made
    master_pid: int | None  # the server's gunicorn master, if the load has a server
    calls: int = 0
    seconds: float = 0.0
    spent: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))

    def take_turn(self, number: int) -> None:
        before, started = Reading.now(self.master_pid), time.monotonic()
        calls = self.turn(number)
        seconds, spent = time.monotonic() - started, Reading.now(self.master_pid).spent_since(before)
        self.calls += calls
        self.seconds += seconds
        for part in PARTS:
            self.spent[part] += spent[part]
        milliseconds = {part: 1000 * spent[part] / calls for part in PARTS}
        print(f"  {self.name}, turn {number}: {calls / seconds:,.0f} calls/s; a call's CPU (ms): " +
              ", ".join(f"{part} {milliseconds[part]:.2f}" for part in PARTS) +
              f", in all {sum(milliseconds.values()):.2f}", flush=True)

    def per_call_ms(self) -> dict[str, float]:
        return {part: 1000 * seconds / self.calls for part, seconds in self.spent.items()}


class KeptConnections:
    """`writer`'s connections opened once and lent out, for bare_singles (which asks for one a thread):
    their PostgreSQL processes outlive each turn, so their CPU is read at both ends of it."""

    def __init__(self, writer: MinimalWriter, count: int):
        self.writer = writer
        self.idle: queue.SimpleQueue[psycopg.Connection] = queue.SimpleQueue()
        self.opened = [writer.connect() for _ in range(count)]
        for connection in self.opened:
            self.idle.put(connection)

    @contextlib.contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        connection = self.idle.get_nowait()
        try:
            yield connection
        finally:
            self.idle.put(connection)

    def entry(self, chance, counter):
        return self.writer.entry(chance, counter)

    def post(self, connection, entries):
        self.writer.post(connection, entries)

    def close(self) -> None:
        for connection in self.opened:
            connection.close()


def report(measurements: dict[str, Measurement]) -> None:
    print("\na call's CPU over all turns (ms), and the calls a second of those turns:")
    width = max(len(name) for name in measurements)
    print(f"  {'':{width}}  " + "  ".join(f"{part:>10}" for part in PARTS) + f"  {'in all':>8}  {'calls/s':>8}")
    for name, measurement in measurements.items():
        milliseconds = measurement.per_call_ms()
        print(f"  {name:{width}}  " + "  ".join(f"{milliseconds[part]:10.3f}" for part in PARTS) +
              f"  {sum(milliseconds.values()):8.3f}  {measurement.calls / measurement.seconds:8.0f}")
    print()
    for service, ceiling in (("PostEntry", "minimal writer"), ("GetBalance", "bare Spyne")):
        own, theirs = measurements[service].per_call_ms(), measurements[ceiling].per_call_ms()
        print(f"  {ceiling}'s CPU a call / {service}'s: {sum(theirs.values()) / sum(own.values()):.2f}"
              f" (PostgreSQL's alone: {theirs['PostgreSQL'] / own['PostgreSQL']:.2f}; the workers' or the"
              f" writer's own: {(theirs['workers'] + theirs['load']) / (own['workers'] + own['load']):.2f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=4, help="turns of each load (default 4)")
    parser.add_argument("--seconds", type=int, default=8, help="seconds a turn (default 8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of each server (default 4)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    options = parser.parse_args(argv)
    if not Path("/proc/stat").exists():
        parser.error("this benchmark reads /proc (Linux only)")

    work_dir = Path(tempfile.mkdtemp(prefix="ledger-cpu-split-"))
    generator = choose_generator(argparse.Namespace(generator=options.generator, wrk_threads=2,
                                                    connections=SINGLE_CLIENTS, close=False), work_dir)
    (work_dir / "bare-spyne").mkdir()
    # Workers are not replaced during the run (a replaced one's CPU would be lost with it).
    environment = {SECRET_KEY: Fernet.generate_key().decode(), "LEDGER_MAX_REQUESTS": "0"}
    with serving(options.postgres_url, options.workers, work_dir, environment=environment) as server, \
            throwaway_database(options.postgres_url) as minimal_url, contextlib.ExitStack() as stack:
        open_book(server, SPREAD_BOOK, SPREAD_ACCOUNTS_PER_SIDE)
        reader = add_reader(server, KEYED_READER, with_key=True)
        minimal = KeptConnections(MinimalWriter(minimal_url, *accounts(SPREAD_ACCOUNTS_PER_SIDE), EFFECTIVE_DATE),
                                  SINGLE_CLIENTS)
        stack.callback(minimal.close)
        spyne = stack.enter_context(running(BareSpyneServer(minimal_url, options.workers,
                                                            work_dir / "bare-spyne" / "server.log")))
        posts = service_workload("PostEntry", SPREAD_BOOK, SPREAD_ACCOUNTS_PER_SIDE, (server.username, server.password))
        reads = service_workload("GetBalance", SPREAD_BOOK, SPREAD_ACCOUNTS_PER_SIDE, reader)
        # The bare application ignores the Security header that the service's envelopes carry.
        bare_reads = service_workload("GetBalance", SPREAD_BOOK, SPREAD_ACCOUNTS_PER_SIDE,
                                      (server.username, server.password))

        def service_calls(workload, base_url: str, label: str) -> Callable[[int], int]:
            def turn(number: int) -> int:
                return load(generator, base_url, workload, options.seconds, f"{label}-{number}").successes
            return turn

        def minimal_calls(number: int) -> int:
            return bare_singles(minimal, SINGLE_CLIENTS, options.seconds, "minimal writer", f"single{number}").entries

        measurements = {m.name: m for m in (
            Measurement("PostEntry", service_calls(posts, server.base_url, "PostEntry"), server.process.pid),
            Measurement("minimal writer", minimal_calls, None),
            Measurement("GetBalance", service_calls(reads, server.base_url, "GetBalance"), server.process.pid),
            Measurement("bare Spyne", service_calls(bare_reads, spyne.base_url, "bare-Spyne"),
                        spyne.process.pid),
        )}
        print(f"server {server.base_url} and bare Spyne {spyne.base_url}, {options.workers} workers each; "
              f"generator: {generator.describe()}", flush=True)
        # Every worker meets the reader and the statements before a turn is counted; then the planner
        # gets the statistics that autovacuum keeps on a database in service.
        for measurement in measurements.values():
            measurement.turn(-1)
        with psycopg.connect(server.database_url, autocommit=True) as connection:
            connection.execute("ANALYZE")
        for number in range(options.turns):
            order = list(measurements.values())
            for measurement in order if number % 2 == 0 else reversed(order):
                measurement.take_turn(number)
    report(measurements)
    return 0


if __name__ == "__main__":
    sys.exit(main())
