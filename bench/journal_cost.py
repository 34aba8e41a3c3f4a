"""What the journal costs: single PostEntry throughput with the chain beside the service as it was
before the journal, and the time VerifyJournal (and `ledger-service journal export`) take per 100,000
records beside the time posting them took, every figure a ratio of two measured in the same run.

    .venv/bin/python bench/journal_cost.py [--baseline REV] [--runs N] [--duration SECONDS]

1. Two servers, `ledger-service serve --workers 4` each on a throwaway PostgreSQL database of its own:
   this checkout's service, and the service of the revision before the journal (by default the parent
   of the commit that added migration 0006_journal.py, found with git), run from a temporary
   `git worktree` of it with PYTHONPATH naming its service/ folder and the same installed packages.
   PostEntry from 8 clients (wrk, or the built-in generator), runs alternating between the two
   servers, on 100 accounts in random pairs and then with every entry debiting one hot account; and
   for each run the CPU time per request of the server's processes and of its database's PostgreSQL
   backends, which other load on the machine disturbs less than it does throughput.
2. On each server a book of 101,000 entries posted in PostEntries batches of 1000; then, on the
   chained one, VerifyJournal over SOAP of 100,000 of its records (the most one call checks) a few
   times, and when this checkout's `ledger-service` has the command, `journal export` of the whole
   book and `ledger-client verify-journal` of the file, each beside the time posting took.

Both books are checked afterwards (they balance, and hold exactly the entries confirmed; the chained
ones' journals verify), and the databases and the worktree are removed however the run ends.
bench/README.md has the details.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import psycopg

from lifecycle import BATCH_SIZE, open_book as open_batch_book, post_batches
from throughput import (
    BOOK_CODE, DEFAULT_POSTGRES_URL, LEDGER_SERVICE, TNS, BenchmarkFailed, LedgerServer, LoadRun, Workload,
    check_ledger, choose_generator, open_book, postgres_version, run_in_work_dir, service_environment, serving,
    workloads,
)

from ledger_service.domain.limits import MAX_VERIFIED_RECORDS

CHECKOUT = Path(__file__).resolve().parents[1]
LEDGER_CLIENT = [sys.executable, "-m", "ledger_client.cli"]
JOURNAL_MIGRATION = "service/ledger_service/adapters/migrations/versions/0006_journal.py"
CLIENTS = 8
ACCOUNTS_PER_SIDE = 50
HOT_ACCOUNT = "cash-1"
JOURNAL_BOOK = "JOURNAL"
# Throughput with the journal, as a share of throughput without it, that the journal may cost at most.
TARGET = 0.90
VERIFY_TIMEOUT_SECONDS = 600
# Where PostgreSQL's backends are this machine's processes, whose CPU time /proc shows.
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


# --- the two services ---

def git(*args: str) -> str:
    completed = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True)
    if completed.returncode != 0:
        raise BenchmarkFailed(f"`git {' '.join(args)}` failed", completed.stderr)
    return completed.stdout.strip()


def baseline_revision(requested: str | None) -> str:
    """The commit `requested` names, or by default the parent of the first commit that added the
    journal's migration."""
    if requested is None:
        added = git("log", "--diff-filter=A", "--format=%H", "--", JOURNAL_MIGRATION).split()
        if not added:
            raise BenchmarkFailed(f"no commit of this checkout adds {JOURNAL_MIGRATION}: name one with --baseline")
        requested = f"{added[-1]}^"
    return git("rev-parse", "--verify", "--quiet", f"{requested}^{{commit}}")


@contextlib.contextmanager
def worktree(revision: str, path: Path) -> Iterator[Path]:
    """A checkout of `revision` at `path`, removed (and forgotten by git) however the block ends."""
    git("worktree", "add", "--detach", "--quiet", str(path), revision)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "remove", "--force", str(path)], capture_output=True)
        subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "prune"], capture_output=True)


def imported_from(environment: dict[str, str]) -> Path:
    """Where a `ledger-service` run with `environment` imports ledger_service from."""
    completed = subprocess.run([sys.executable, "-c", "import ledger_service; print(ledger_service.__file__)"],
                               capture_output=True, text=True, env={**os.environ, **environment})
    if completed.returncode != 0:
        raise BenchmarkFailed("ledger_service cannot be imported with PYTHONPATH " + environment.get("PYTHONPATH", ""),
                              completed.stderr)
    return Path(completed.stdout.strip()).parent


@dataclasses.dataclass
class Service:
    name: str
    revision: str
    server: LedgerServer
    debit_accounts: tuple[str, ...]
    credit_accounts: tuple[str, ...]
    # Every PostEntry run against it, warm-up included: what check_ledger counts.
    post_runs: list[LoadRun] = dataclasses.field(default_factory=list)

    def workload(self, variant: str) -> Workload:
        debits = (HOT_ACCOUNT,) if variant == "hot" else self.debit_accounts
        return workloads(self.server.username, self.server.password, debits, self.credit_accounts)["PostEntry"]

    def has_journal(self) -> bool:
        with psycopg.connect(self.server.database_url) as connection:
            return connection.execute("SELECT to_regclass('journal_records') IS NOT NULL").fetchone()[0]

    def cpu_seconds(self) -> tuple[float, float | None]:
        """The CPU time used so far by the server (the gunicorn master, its workers, and the workers it
        has replaced) and by the PostgreSQL backends of its database (None when PostgreSQL is not on this
        machine, where /proc shows them)."""
        master = self.server.process.pid
        own, reaped = process_cpu_seconds(master)
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        server = own + reaped + sum(process_cpu_seconds(int(pid))[0] for pid in workers)
        if urlsplit(self.server.database_url).hostname not in LOCAL_HOSTS:
            return server, None
        with psycopg.connect(self.server.database_url) as connection:
            backends = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                          " AND pid <> pg_backend_pid()").fetchall()
        return server, sum(process_cpu_seconds(pid)[0] for pid, in backends)


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """A process's own CPU time (user and system) and that of its children it has waited for; zero for
    a process that has just gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


@dataclasses.dataclass(frozen=True)
class Measurement:
    run: LoadRun
    # CPU milliseconds per response: the server's, and PostgreSQL's for its database (None: not measured).
    server_cpu_ms: float
    database_cpu_ms: float | None

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu_ms + (self.database_cpu_ms or 0.0)

    def describe(self) -> str:
        database = "" if self.database_cpu_ms is None else f" + PostgreSQL {self.database_cpu_ms:.2f}"
        return (f"{self.run.requests_per_second:8.1f} requests/s  p50 {self.run.p50_ms:6.1f} ms  p99 "
                f"{self.run.p99_ms:6.1f} ms  CPU per request: server {self.server_cpu_ms:.2f}{database} ms  "
                f"{self.run.errors} errors")


VARIANTS = {
    "spread": f"DEBIT one of {ACCOUNTS_PER_SIDE} ASSET, CREDIT one of {ACCOUNTS_PER_SIDE} INCOME accounts, at random",
    "hot": f"DEBIT {HOT_ACCOUNT} always, CREDIT one of {ACCOUNTS_PER_SIDE} INCOME accounts at random",
}


# --- 1. PostEntry with the chain and without ---

def alternate(generator, services: list[Service], variants: list[str], runs: int,
              seconds: int) -> dict[tuple[str, str], list[Measurement]]:
    """`runs` measurements of each variant on each service, the services taking turns."""
    measured: dict[tuple[str, str], list[Measurement]] = {}
    for variant in variants:
        for number in range(1, runs + 1):
            for service in services:
                server_before, database_before = service.cpu_seconds()
                run = generator.run(service.server.base_url, service.workload(variant), seconds,
                                    f"{variant}-{service.name}-{number}")
                server_after, database_after = service.cpu_seconds()
                service.post_runs.append(run)
                run.check_error_rate(f"{variant} run {number} on {service.name}")
                per_response = 1000 / max(run.responses, 1)
                measurement = Measurement(run, (server_after - server_before) * per_response,
                                          None if database_after is None else
                                          (database_after - database_before) * per_response)
                measured.setdefault((variant, service.name), []).append(measurement)
                print(f"  {variant:<7} run {number}  {service.name:<9} {measurement.describe()}")
    return measured


def warm_up(generator, service: Service, seconds: int) -> None:
    if seconds:
        run = generator.run(service.server.base_url, service.workload("spread"), seconds, f"warm-up-{service.name}")
        service.post_runs.append(run)
        run.check_error_rate(f"warm-up on {service.name}")
    # As autovacuum keeps them on a database in service (see bench/throughput.py).
    with psycopg.connect(service.server.database_url, autocommit=True) as connection:
        connection.execute("ANALYZE")


def print_throughput(measured: dict[tuple[str, str], list[Measurement]], chained: Service,
                     baseline: Service) -> None:
    """The medians of each variant on each service, and the ratios with/without."""
    print(f"\n  {'PostEntry, 8 clients':<30}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>9}"
          "   requests/s of each run")
    for variant in dict.fromkeys(variant for variant, _ in measured):
        for service in (chained, baseline):
            runs = measured[variant, service.name]
            print(f"  {variant + ', ' + service.name:<30}"
                  f"{statistics.median(m.run.requests_per_second for m in runs):>12.1f}"
                  f"{statistics.median(m.run.p50_ms for m in runs):>9.1f}"
                  f"{statistics.median(m.run.p99_ms for m in runs):>9.1f}{statistics.median(m.cpu_ms for m in runs):>9.2f}"
                  f"   {', '.join(f'{m.run.requests_per_second:.0f}' for m in runs)}")
        with_chain, without = measured[variant, chained.name], measured[variant, baseline.name]
        ratio = (statistics.median(m.run.requests_per_second for m in with_chain)
                 / statistics.median(m.run.requests_per_second for m in without))
        pairs = [a.run.requests_per_second / b.run.requests_per_second for a, b in zip(with_chain, without)]
        print(f"  {variant + ', with / without':<30}{ratio:>12.3f}   {'met' if ratio >= TARGET else 'MISSED'} "
              f"(target ≥ {TARGET:g}); run by run {', '.join(f'{p:.2f}' for p in pairs)}")
        cpu_ratio = statistics.median(m.cpu_ms for m in without) / statistics.median(m.cpu_ms for m in with_chain)
        print(f"  {variant + ', CPU without / with':<30}{cpu_ratio:>12.3f}   CPU per request without the journal over "
              "CPU per request with it: the ratio with / without where CPU is the limit")


def check_services(services: list[Service]) -> None:
    """Each book balances and holds exactly the entries confirmed; the chained one's journal verifies."""
    for service in services:
        print(f"  {service.name}:")
        # wrk abandons what it has in flight when its time is up; a graceful restart lets the server
        # finish those before the count.
        service.server.stop()
        service.server.start()
        check_ledger(service.server, service.post_runs)
        if service.has_journal():
            checked = verify_whole_journal(service.server, BOOK_CODE)
            print(f"  journal of {BOOK_CODE}: intact, {checked} records verified")


def verify_whole_journal(server: LedgerServer, book: str) -> int:
    """Verifies the book's whole chain, a stretch at a time; the records checked."""
    last = int(server.call(f"<l:GetJournalHead><l:book>{book}</l:book></l:GetJournalHead>")
               .findtext(f".//{{{TNS}}}sequence"))
    for first in range(1, last + 1, MAX_VERIFIED_RECORDS):
        verify(server, book, first, min(last, first + MAX_VERIFIED_RECORDS - 1))
    return last


def verify(server: LedgerServer, book: str, first: int, last: int | None) -> int:
    """One VerifyJournal call over SOAP from `first` (to `last`, or as far as one call checks); raises
    unless the stretch is intact. Returns the records checked."""
    to = f"<l:toSequence>{last}</l:toSequence>" if last is not None else ""
    verification = server.call(f"<l:VerifyJournal><l:book>{book}</l:book><l:fromSequence>{first}</l:fromSequence>"
                               f"{to}</l:VerifyJournal>", timeout=VERIFY_TIMEOUT_SECONDS)
    if verification.findtext(f".//{{{TNS}}}intact") != "true":
        raise BenchmarkFailed(f"the journal of {book} does not verify from {first}",
                              f"first break at {verification.findtext(f'.//{{{TNS}}}sequence')}: "
                              f"{verification.findtext(f'.//{{{TNS}}}reason')}")
    return int(verification.findtext(f".//{{{TNS}}}recordsChecked"))


# --- 2. Verifying and exporting the journal ---

def post_journal_books(services: list[Service], batches: int, batch_clients: int) -> dict[str, float]:
    """The book of `batches` PostEntries batches on each service, in turn; the seconds each took."""
    seconds = {}
    for service in services:
        open_batch_book(service.server, JOURNAL_BOOK)
        posted = post_batches(service.server, batches, batch_clients, "journal", JOURNAL_BOOK)
        seconds[service.name] = posted.entries / posted.per_second
        print(f"  {JOURNAL_BOOK} on {service.name:<9} {posted.entries:,} entries in PostEntries batches of 1000 from "
              f"{batch_clients} clients: {seconds[service.name]:.1f} s, {posted.per_second:,.0f} entries/s")
        # As after the warm-up: a database in service has statistics of the tables a load has grown.
        with psycopg.connect(service.server.database_url, autocommit=True) as connection:
            connection.execute("ANALYZE")
    return seconds


def journal_costs(chained: Service, post_seconds: float, entries: int, runs: int, work_dir: Path) -> None:
    server = chained.server
    last = int(server.call(f"<l:GetJournalHead><l:book>{JOURNAL_BOOK}</l:book></l:GetJournalHead>")
               .findtext(f".//{{{TNS}}}sequence"))
    # Posting cost this much per MAX_VERIFIED_RECORDS records (the book's and its accounts' few aside).
    post_per_stretch = post_seconds * MAX_VERIFIED_RECORDS / entries
    print(f"\n  {JOURNAL_BOOK} with the journal: {last:,} records; posting {MAX_VERIFIED_RECORDS:,} of them took "
          f"{post_per_stretch:.2f} s")
    print(f"\n  {'VerifyJournal over SOAP, ' + f'{MAX_VERIFIED_RECORDS:,} records':<48}{'median s':>9}"
          f"{'/ posting':>11}   runs")
    stretches = [(f"records 1 to {MAX_VERIFIED_RECORDS:,}", 1, MAX_VERIFIED_RECORDS),
                 # The stretch that reaches the head also looks for history rows no record records.
                 (f"the last {MAX_VERIFIED_RECORDS:,}, to the head", last - MAX_VERIFIED_RECORDS + 1, None)]
    for name, first, to in stretches:
        def verify_stretch() -> None:
            checked = verify(server, JOURNAL_BOOK, first, to)
            if checked != MAX_VERIFIED_RECORDS:
                raise BenchmarkFailed(f"VerifyJournal from {first} checked {checked} records, not {MAX_VERIFIED_RECORDS}")
        print_timed(name, timed(verify_stretch, runs), 1, post_per_stretch)
    export_costs(server, runs, last, post_per_stretch, work_dir)


def timed(work, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def print_timed(name: str, seconds: list[float], scale: float, post_per_stretch: float) -> None:
    """A median of `seconds`, times `scale` (to MAX_VERIFIED_RECORDS records), beside posting's."""
    median = statistics.median(seconds) * scale
    print(f"  {name:<48}{median:>9.2f}{median / post_per_stretch:>11.2f}   {', '.join(f'{s:.2f}' for s in seconds)}")


def run_command(command: list[str], environment: dict[str, str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, env=environment)
    if completed.returncode != 0:
        raise BenchmarkFailed(f"`{' '.join(command[2:])}` failed (exit {completed.returncode})",
                              completed.stdout + completed.stderr)


def export_costs(server: LedgerServer, runs: int, records: int, post_per_stretch: float, work_dir: Path) -> None:
    """`ledger-service journal export` of the whole book, then `ledger-client verify-journal` of the file,
    each a fresh process (its start included), per MAX_VERIFIED_RECORDS records."""
    environment = service_environment(server.database_url)
    if subprocess.run([*LEDGER_SERVICE, "journal", "export", "--help"], capture_output=True,
                      env=environment).returncode != 0:
        print("\n  journal export: skipped, this checkout's `ledger-service` has no `journal export` command")
        return
    target = work_dir / "journal.export"
    export = timed(lambda: run_command([*LEDGER_SERVICE, "journal", "export", JOURNAL_BOOK, str(target)],
                                       environment), runs)
    with target.open("rb") as exported:
        lines = sum(1 for _ in exported) - 1  # the header
    if lines < records:
        raise BenchmarkFailed(f"the export holds {lines} records, the journal {records}")
    print(f"\n  {f'the whole book, {lines:,} records, scaled to {MAX_VERIFIED_RECORDS:,}':<48}")
    print_timed("ledger-service journal export", export, MAX_VERIFIED_RECORDS / lines, post_per_stretch)
    offline = timed(lambda: run_command([*LEDGER_CLIENT, "verify-journal", str(target)], environment), runs)
    print_timed("ledger-client verify-journal (offline)", offline, MAX_VERIFIED_RECORDS / lines, post_per_stretch)


# --- the run ---

def benchmark(options: argparse.Namespace, work_dir: Path) -> None:
    generator = choose_generator(argparse.Namespace(generator=options.generator, wrk_threads=2,
                                                    connections=CLIENTS, close=False), work_dir)
    head = git("rev-parse", "HEAD")
    baseline_commit = baseline_revision(options.baseline)
    with worktree(baseline_commit, work_dir / "baseline-checkout") as baseline_checkout, contextlib.ExitStack() as servers:
        baseline_environment = {"PYTHONPATH": str(baseline_checkout / "service")}
        source = imported_from(baseline_environment)
        if not source.is_relative_to(baseline_checkout):
            raise BenchmarkFailed(f"with PYTHONPATH naming the baseline's service/, ledger_service comes from {source}")
        services = []
        for name, revision, environment in (("journal", head, {}), ("baseline", baseline_commit, baseline_environment)):
            (work_dir / name).mkdir()
            server = servers.enter_context(serving(options.postgres_url, options.workers, work_dir / name,
                                                   environment=environment))
            services.append(Service(name, revision, server, *open_book(server, ACCOUNTS_PER_SIDE)))
        chained, baseline = services
        version = postgres_version(chained.server.database_url)
        print(f"soap-ledger journal cost, {date.today().isoformat()}, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}, PostgreSQL {version}")
        print(f"  generator  {generator.describe()}, {CLIENTS} connections")
        for service in services:
            print(f"  {service.name:<9}  {service.revision[:12]} ({git('log', '-1', '--format=%s', service.revision)[:60]}"
                  f"), serve --workers {options.workers} on {service.server.base_url}, "
                  f"journal tables: {'yes' if service.has_journal() else 'no'}")
        print(f"  runs       {options.runs} of {options.duration} s per variant and service, alternating, after a "
              f"{options.warmup} s warm-up of each")
        for variant in options.variants:
            print(f"  {variant:<9}  {VARIANTS[variant]}")
        print()
        for service in services:
            warm_up(generator, service, options.warmup)
        measured = alternate(generator, services, options.variants, options.runs, options.duration)
        print_throughput(measured, chained, baseline)
        if options.verify_batches:
            print()
            posting = post_journal_books(services, options.verify_batches, options.batch_clients)
            print(f"  PostEntries batches, with / without: {posting[baseline.name] / posting[chained.name]:.2f} "
                  "(one run each)")
            journal_costs(chained, posting[chained.name], options.verify_batches * BATCH_SIZE, options.verify_runs,
                          work_dir)
        print("\nchecks")
        check_services(services)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="REV",
                        help="the revision to compare with (default: the parent of the commit that added "
                             f"{Path(JOURNAL_MIGRATION).name})")
    parser.add_argument("--runs", type=int, default=3, help="measurements per variant and service")
    parser.add_argument("--duration", type=int, default=15, metavar="SECONDS", help="length of one measurement")
    parser.add_argument("--warmup", type=int, default=5, metavar="SECONDS",
                        help="unmeasured load on each server before the first measurement (0: none)")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of each server")
    parser.add_argument("--verify-batches", type=int, default=101, metavar="N",
                        help="PostEntries batches of 1000 entries in the book VerifyJournal is timed on "
                             "(at least 100; 0 skips that part)")
    parser.add_argument("--batch-clients", type=int, default=2, help="concurrent senders of those batches")
    parser.add_argument("--verify-runs", type=int, default=3, metavar="N", help="timed calls per stretch verified")
    parser.add_argument("--generator", choices=("auto", "python"), default="auto",
                        help="wrk if installed (auto), or the built-in Python generator")
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="a PostgreSQL server where the benchmark may create and drop databases")
    options = parser.parse_args(argv)
    for name in ("runs", "duration", "workers", "batch_clients", "verify_runs"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if options.verify_batches and options.verify_batches * BATCH_SIZE < MAX_VERIFIED_RECORDS:
        parser.error(f"--verify-batches must be 0 or at least {MAX_VERIFIED_RECORDS // BATCH_SIZE}")
    return run_in_work_dir(lambda work_dir: benchmark(options, work_dir), "ledger-journal-cost-")


if __name__ == "__main__":
    sys.exit(main())
