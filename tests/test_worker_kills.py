"""Workers killed with SIGKILL in the middle of writes: wherever in a request the kill lands (the request
arriving, its transaction, the commit, the answer on its way back), nothing is half written, the client's
own retries, with the same references, post each entry exactly once, and gunicorn's master replaces the
worker.

A 2-worker server on a PostgreSQL database of its own (on the shared server: a killed worker's database
connections close with it, and PostgreSQL rolls back the transaction such a connection left open; the
database itself is not touched) is sent, in random turns, 1000-entry atomic PostEntries, 1000-entry
non-atomic ones holding entries it refuses, PostEntry and CommitPending calls, by ledger_client's
LedgerClient with its retries. Each call goes on a connection of its own, and the worker holding it
(found in /proc) is sent SIGKILL as soon as it has accepted it, a random moment later (up to a little
longer than the server takes over such a call), or as soon as the call's rows are committed, while the
answer is made. While the client retries, the call's rows are read from the database again and again:
they are there whole or not at all. Once the call has answered, its answer must be what the database
holds (the entry first posted, whichever attempt posted it), and the master must have a booted worker in
the killed one's place within REPLACEMENT_BOUND. At the end the book is checked whole: each reference stored
once with its lines, holds only for pending entries not settled, one outcome for each commit, every change
in the journal once and the journal intact, debits equal to credits.
"""
from __future__ import annotations

import json
import os
import random
import signal
import statistics
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable

import psycopg
import pytest
from ledger_client import EntryInput, EntryStatus, LedgerClient, LineInput, RetryPolicy, TransportError

from conftest import ADMIN, ADMIN_PASSWORD, LiveServer, broken_journals, start_server, unique
from test_concurrency import assert_stored_once

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

BATCH = 1000
ATOMIC, NON_ATOMIC, SINGLE, COMMIT = "atomic PostEntries", "non-atomic PostEntries", "PostEntry", "CommitPending"
OPERATION = {ATOMIC: "PostEntries", NON_ATOMIC: "PostEntries", SINGLE: "PostEntry", COMMIT: "CommitPending"}
KILLS = {ATOMIC: 10, NON_ATOMIC: 10, SINGLE: 15, COMMIT: 15}
# In a non-atomic batch every REFUSED_EVERY-th entry names an account the book does not have.
REFUSED_EVERY = 100
# Pending entries made beforehand for the CommitPending calls: enough for rounds whose kill found nothing.
PENDING = KILLS[COMMIT] * 2
# Where a kill lands: as soon as a worker holds the call's connection (its request arriving); a random moment
# up to a little longer than the server usually takes over a call of its kind; as soon as the call's rows are
# committed (while its answer is made).
AT_ONCE, AT_RANDOM, AT_COMMIT = "at once", "at random", "at the commit"
AIMS = (AT_ONCE, AT_RANDOM, AT_COMMIT)
CALL_BOUND = 60  # seconds a call may take, its retries included
REPLACEMENT_BOUND = 10  # seconds from a kill to the master having a booted worker in the killed one's place
BOOT_BOUND = 60  # seconds for the server's first workers to boot, as LiveServer.start waits for them
DAY = date(2026, 1, 15)


# --- gunicorn's workers, and the one serving us ---

def workers(master: int) -> set[int]:
    """The master's living children (it forks them from its main thread): its workers."""
    found = set()
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # reaped meanwhile
            continue
        if state != "Z":
            found.add(int(child))
    return found


def booted(pid: int) -> bool:
    """Whether a worker has loaded the application: a forked worker has one thread until then, when
    post_worker_init starts the background ones, just before it serves."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1]) > 1


def socket_inodes(pid: int | str) -> set[int]:
    inodes = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def established_connections() -> list[tuple[int, int, int]]:
    """(local port, remote port, socket inode) of every established TCP connection over IPv4."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01":  # TCP_ESTABLISHED
            found.append((int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), int(fields[9])))
    return found


def worker_holding_our_connection(port: int, candidates: set[int]) -> int | None:
    """The worker holding the other end of a connection this process opened to the server's port."""
    connections = established_connections()
    ours = socket_inodes("self")
    our_ports = {local for local, remote, inode in connections if remote == port and inode in ours}
    for worker in candidates:
        held = socket_inodes(worker)
        if any(local == port and remote in our_ports and inode in held for local, remote, inode in connections):
            return worker
    return None


# --- what the calls write ---

@dataclass(frozen=True)
class RecordedRetries(RetryPolicy):
    """The client's own retry policy, remembering every failed attempt it was asked about."""

    failures: list = field(default_factory=list, compare=False, hash=False)

    def wait_before(self, attempt: int, error: Exception, operation: str) -> float | None:
        self.failures.append(error)
        return super().wait_before(attempt, error, operation)


def sale(reference: str, cents: int, account: str = "cash", pending: bool = False) -> EntryInput:
    amount = Decimal(cents).scaleb(-2)
    return EntryInput(reference, DAY, (LineInput(account, "DEBIT", amount), LineInput("sales", "CREDIT", amount)),
                      pending=pending)


def lines_of(cents: int) -> tuple:
    """An entry's lines as test_concurrency.assert_stored_once counts them."""
    return ("cash", "DEBIT", cents), ("sales", "CREDIT", cents)


# The rows a call writes, read in one statement (one snapshot): for posts, the entries, their lines and their
# journal records, queued or sealed; for a commit, the outcome, the holds, the posted lines and the record.
ENTRY_ROWS = """
    WITH written AS (SELECT e.id FROM entries e JOIN books b ON b.id = e.book_id
                     WHERE b.code = %(book)s AND e.reference = ANY(%(references)s))
    SELECT (SELECT count(*) FROM written),
           (SELECT count(*) FROM lines WHERE entry_id IN (SELECT id FROM written)),
           (SELECT count(*) FROM journal_queue WHERE kind = 'EntryRecorded' AND entry_id IN (SELECT id FROM written))
           + (SELECT count(*) FROM journal_records WHERE kind = 'EntryRecorded'
              AND entry_id IN (SELECT id FROM written))"""
SETTLEMENT_ROWS = """
    WITH pending AS (SELECT e.id FROM entries e JOIN books b ON b.id = e.book_id
                     WHERE b.code = %(book)s AND e.reference = ANY(%(references)s))
    SELECT (SELECT count(*) FROM pending_outcomes WHERE status = 'POSTED' AND entry_id IN (SELECT id FROM pending)),
           (SELECT count(*) FROM holds WHERE entry_id IN (SELECT id FROM pending)),
           (SELECT count(*) FROM lines WHERE entry_id IN (SELECT id FROM pending)),
           (SELECT count(*) FROM journal_queue WHERE kind = 'PendingCommitted' AND entry_id IN (SELECT id FROM pending))
           + (SELECT count(*) FROM journal_records WHERE kind = 'PendingCommitted'
              AND entry_id IN (SELECT id FROM pending))"""
# Whether a call's transaction has committed, asked cheaply: its first entry, or the commit's outcome.
COMMITTED = {
    ENTRY_ROWS: """SELECT 1 FROM entries e JOIN books b ON b.id = e.book_id
                   WHERE b.code = %(book)s AND e.reference = %(first)s""",
    SETTLEMENT_ROWS: """SELECT 1 FROM pending_outcomes o JOIN entries e ON e.id = o.entry_id
                        JOIN books b ON b.id = e.book_id WHERE b.code = %(book)s AND e.reference = %(first)s""",
}
# Who wrote a call's rows: the request ids of its entries, or of its commit.
WRITERS = {
    ENTRY_ROWS: """SELECT DISTINCT e.request_id FROM entries e JOIN books b ON b.id = e.book_id
                   WHERE b.code = %(book)s AND e.reference = ANY(%(references)s)""",
    SETTLEMENT_ROWS: """SELECT DISTINCT o.request_id FROM pending_outcomes o JOIN entries e ON e.id = o.entry_id
                        JOIN books b ON b.id = e.book_id
                        WHERE b.code = %(book)s AND e.reference = ANY(%(references)s)""",
}


@dataclass
class Round:
    """One call, and the kill sent into it."""

    kind: str
    references: list[str]  # of the entries it posts, or of the one it commits
    call: Callable[[LedgerClient], object]
    rows: str  # ENTRY_ROWS or SETTLEMENT_ROWS
    before: tuple  # what `rows` reads before the call has written, and once it has
    after: tuple
    check_answer: Callable[[object, dict[str, str]], None]  # the answer, and the references' entry ids
    aim: str = AT_ONCE
    delay: float = 0.0  # seconds from the worker being seen holding the call's connection to the kill
    killed: int | None = None
    failures: int = 0  # attempts that failed, each tried again by the client
    samples: int = 0
    answered_after: float | None = None  # seconds from the kill to the answer
    writers: set[str] = field(default_factory=set)


class Calls:
    """The rounds of each kind, each with references of its own."""

    def __init__(self, book: str, pending: list[str]):
        self.book = book
        self.pending = pending
        self.posted: dict[str, tuple] = {}  # every reference that must be stored, with its lines
        self.count = 0

    def _cents(self) -> int:
        self.count += 1
        return 1 + self.count * 7919 % 50_000

    def _posting(self, kind: str, entries: list[EntryInput], refused: set[str], call) -> Round:
        references = [entry.reference for entry in entries]
        stored = [entry for entry in entries if entry.reference not in refused]
        self.posted.update((entry.reference, lines_of(int(entry.lines[0].amount.scaleb(2)))) for entry in stored)

        def check_answer(answer, ids: dict[str, str]) -> None:
            # An EntryResult for each entry of a batch, the Entry for a PostEntry.
            results = [(result.reference, result.entry, result.error) for result in answer] \
                if isinstance(answer, list) else [(answer.reference, answer, None)]
            assert [reference for reference, _, _ in results] == references
            for reference, entry, error in results:
                if reference in refused:
                    assert entry is None and error.code == "AccountNotFound", (reference, error)
                else:
                    # The entry first posted, whichever attempt posted it.
                    assert error is None and entry.id == ids[reference], (reference, error)

        return Round(kind, references, call, ENTRY_ROWS, (0, 0, 0), (len(stored), 2 * len(stored), len(stored)),
                     check_answer)

    def make(self, kind: str) -> Round:
        if kind == COMMIT:
            reference = self.pending.pop()

            def check_committed(entry, ids: dict[str, str]) -> None:
                assert (entry.id, entry.status, len(entry.lines)) == (ids[reference], EntryStatus.POSTED, 2), entry

            return Round(kind, [reference], lambda client: client.commit_pending(self.book, reference),
                         SETTLEMENT_ROWS, (0, 2, 0, 0), (1, 0, 2, 1), check_committed)
        if kind == SINGLE:
            entry = sale(unique("ONE-"), self._cents())
            return self._posting(kind, [entry], set(), lambda client: client.post_entry(self.book, entry))
        prefix = unique("BATCH-")
        atomic = kind == ATOMIC
        entries = [sale(f"{prefix}-{n}", self._cents(),
                        "cash" if atomic or n % REFUSED_EVERY != REFUSED_EVERY // 3 else "absent")
                   for n in range(BATCH)]
        refused = {entry.reference for entry in entries if entry.lines[0].account == "absent"}
        return self._posting(kind, entries, refused, lambda client: client.post_entries(self.book, entries, atomic))


# --- the test ---

def test_workers_killed_mid_write_leave_nothing_half_written_and_retries_post_once(request, tmp_path_factory):
    started = time.monotonic()
    seed = time.time_ns()
    rng = random.Random(seed)
    server = start_server(request, tmp_path_factory, "postgres", workers=2)
    retries = RecordedRetries(attempts=20, backoff=0.05, longest_wait=0.5)
    book = unique("K")
    with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD) as setup:
        setup.create_book(book, "Workers killed")
        setup.open_account(book, "cash", "Cash", "ASSET", "USD")
        setup.open_account(book, "sales", "Sales", "INCOME", "USD")
        pending = [sale(f"PENDING-{n}", 100 + n, pending=True) for n in range(PENDING)]
        setup.post_entries(book, pending)
    calls = Calls(book, [entry.reference for entry in pending])
    calls.posted.update((entry.reference, lines_of(100 + n)) for n, entry in enumerate(pending))

    _wait_for_booted_workers(server.process.pid)
    supervision = Supervision(server.process.pid)
    rounds: list[Round] = []
    with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD, retry=retries, timeout=CALL_BOUND) as client, \
            psycopg.connect(server.database_url, autocommit=True) as database, \
            ThreadPoolExecutor(1, thread_name_prefix="client") as caller:
        test = KillTest(server, client, caller, database, book, supervision, retries)
        try:
            for kind in KILLS:
                test.undisturbed(calls.make(kind))
            to_kill = [kind for kind, kills in KILLS.items() for _ in range(kills)]
            rng.shuffle(to_kill)
            for kind in to_kill:
                while True:
                    call = calls.make(kind)
                    call.aim = rng.choice(AIMS)
                    if call.aim == AT_RANDOM:
                        call.delay = rng.uniform(0, statistics.median(test.served[kind]) * 1.2)
                    rounds.append(call)
                    if test.kill_into(call):
                        break
        except BaseException:
            server.stop()  # a call still in flight then fails within its retries, rather than wait on it
            raise
    replaced = supervision.replacement_times()
    kill_phase = time.monotonic() - started

    _check_the_book(server, book, calls)
    answer_lost, retry_wrote = _report(server, rounds, replaced, seed, kill_phase, time.monotonic() - started,
                                       len(calls.posted))
    assert len([call for call in rounds if call.killed is not None]) == sum(KILLS.values()) >= 50
    # The kills reached both sides of the commit: an answer lost after it, a transaction cut short before it.
    assert answer_lost and retry_wrote, (answer_lost, retry_wrote)


class Supervision:
    """The workers of gunicorn's master as the test kills them and the master replaces them. The master
    starts a worker for each one that died, in the order it found them dead: the i-th worker started
    since the test began is the i-th killed one's replacement."""

    def __init__(self, master: int):
        self.master = master
        self.first = workers(master)
        self.kills: list[tuple[int, float]] = []  # (pid, when)
        self.started: list[int] = []
        self.booted: dict[int, float] = {}  # a started worker: when it was first seen booted

    def kill(self, pid: int) -> float:
        self.watch()  # the worker may be a replacement that booted since the last look
        os.kill(pid, signal.SIGKILL)
        self.kills.append((pid, time.monotonic()))
        return self.kills[-1][1]

    def serving(self) -> set[int]:
        return workers(self.master) - {pid for pid, _ in self.kills}

    def watch(self) -> None:
        """Notes the workers started and booted since the last look; fails if a killed worker has gone
        unreplaced for REPLACEMENT_BOUND."""
        now = time.monotonic()
        # One look finds one new worker, as the master starts one for each it found dead.
        self.started += sorted(workers(self.master) - self.first - set(self.started))
        for pid in self.started:
            if pid not in self.booted and booted(pid):
                self.booted[pid] = now
        for index, (pid, at) in enumerate(self.kills):
            replaced = index < len(self.started) and self.started[index] in self.booted
            assert replaced or now - at < REPLACEMENT_BOUND, \
                f"worker {pid} killed {now - at:.1f} s ago and no booted worker in its place"

    def replacement_times(self) -> list[float]:
        """Seconds from each kill to its replacement having booted, once every one has."""
        while len(self.booted) < len(self.kills):
            self.watch()
            time.sleep(0.01)
        return [self.booted[self.started[index]] - at for index, (_, at) in enumerate(self.kills)]


@dataclass
class KillTest:
    """Makes the calls, sends the kills into them, and checks the rows while the client retries."""

    server: LiveServer
    client: LedgerClient
    caller: ThreadPoolExecutor  # the one thread the client is used from
    database: psycopg.Connection
    book: str
    supervision: Supervision
    retries: RecordedRetries
    # Of each kind, how long the server took over each call, from the request's first byte to the answer's
    # last, as its request log says.
    served: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KILLS})

    def _start(self, call: Round) -> tuple[Future, int | None]:
        """Starts the call on a connection of its own, and returns once a worker has accepted it, with that
        worker (None: the call was answered before a worker was seen holding it)."""
        self.client.close()  # the pooled connection goes: the call's request opens one once it is ready
        answer = self.caller.submit(call.call, self.client)
        while (worker := worker_holding_our_connection(self.server.port, self.supervision.serving())) is None:
            if answer.done():
                return answer, None
            self.supervision.watch()
            time.sleep(0.001)
        return answer, worker

    def undisturbed(self, call: Round) -> None:
        """Makes the call without killing anything, once the server has logged it."""
        logged = len(_request_log(self.server))
        answer, _ = self._start(call)
        answer.result(timeout=CALL_BOUND)
        deadline = time.monotonic() + 10
        while len(_request_log(self.server)) == logged:
            assert time.monotonic() < deadline, "no request log line for the call"
            time.sleep(0.01)
        self.finish(call, answer)

    def kill_into(self, call: Round) -> bool:
        """Makes the call, kills the worker that accepted its connection at the call's aim, and reads the
        call's rows again and again until the client has its answer. False when the call was answered
        before a worker was seen holding it (nothing was killed)."""
        failed_before = len(self.retries.failures)
        parameters = {"book": self.book, "references": call.references}
        answer, target = self._start(call)
        if target is None:
            self.finish(call, answer)
            return False
        if call.aim == AT_COMMIT:
            committed = {"book": self.book, "first": call.references[0]}
            while not answer.done() and self.database.execute(COMMITTED[call.rows], committed).fetchone() is None:
                pass
        else:
            time.sleep(call.delay)
        kill_time = self.supervision.kill(target)
        call.killed = target
        while not answer.done():
            # Whole or not at all, at every moment, whichever attempt is writing.
            state = tuple(self.database.execute(call.rows, parameters).fetchone())
            assert state in (call.before, call.after), (call.kind, state)
            call.samples += 1
            self.supervision.watch()
            assert time.monotonic() < kill_time + CALL_BOUND, f"{call.kind} unanswered {CALL_BOUND} s after the kill"
            time.sleep(0.02)
        call.answered_after = time.monotonic() - kill_time
        self.finish(call, answer)
        failures = self.retries.failures[failed_before:]
        assert all(isinstance(failure, TransportError) for failure in failures), failures
        call.failures = len(failures)
        return True

    def finish(self, call: Round, answer: Future) -> None:
        """Checks the call's answer against what the database holds once it has answered."""
        found = answer.result(timeout=CALL_BOUND)
        parameters = {"book": self.book, "references": call.references}
        assert tuple(self.database.execute(call.rows, parameters).fetchone()) == call.after, call.kind
        ids = dict(self.database.execute(
            "SELECT e.reference, e.public_id FROM entries e JOIN books b ON b.id = e.book_id "
            "WHERE b.code = %(book)s AND e.reference = ANY(%(references)s)", parameters).fetchall())
        call.check_answer(found, ids)
        call.writers = {writer for writer, in self.database.execute(WRITERS[call.rows], parameters)}
        self.served[call.kind].append(next(record["ms"] for record in reversed(_request_log(self.server))
                                           if record["operation"] == OPERATION[call.kind]) / 1000)


def _request_log(server: LiveServer) -> list[dict]:
    """The server's request log lines so far."""
    records = (json.loads(line) for line in server.log().splitlines() if line.startswith("{") and line.endswith("}"))
    return [record for record in records if record.get("logger") == "ledger_service.requests"]


def _wait_for_booted_workers(master: int) -> None:
    deadline = time.monotonic() + BOOT_BOUND
    while len(current := workers(master)) != 2 or not all(booted(worker) for worker in current):
        assert time.monotonic() < deadline, f"workers not booted: {current}"
        time.sleep(0.01)


def _check_the_book(server, book: str, calls: Calls) -> None:
    """The invariants, straight from the database, then through the service."""
    with psycopg.connect(server.database_url, autocommit=True) as database:
        [(book_id,)] = database.execute("SELECT id FROM books WHERE code = %s", (book,)).fetchall()

        def rows(query: str) -> list[tuple]:
            return database.execute(query, {"book": book_id}).fetchall()

        # A hold only for a pending entry never settled, and each such entry holds its two lines; the
        # accounts' pending totals are their holds.
        assert rows("""SELECT e.reference FROM holds h JOIN entries e ON e.id = h.entry_id WHERE e.book_id = %(book)s
                       AND (e.status <> 'PENDING' OR EXISTS (SELECT 1 FROM pending_outcomes o
                                                            WHERE o.entry_id = e.id))""") == []
        assert rows("""SELECT e.reference, count(h.position) FROM entries e LEFT JOIN holds h ON h.entry_id = e.id
                       WHERE e.book_id = %(book)s AND e.status = 'PENDING'
                       AND NOT EXISTS (SELECT 1 FROM pending_outcomes o WHERE o.entry_id = e.id)
                       GROUP BY e.reference HAVING count(h.position) <> 2""") == []
        assert rows("""SELECT a.code FROM accounts a
                       WHERE a.book_id = %(book)s AND (a.pending_debits, a.pending_credits)
                       <> (SELECT coalesce(sum(amount) FILTER (WHERE side = 'DEBIT'), 0),
                                  coalesce(sum(amount) FILTER (WHERE side = 'CREDIT'), 0)
                           FROM holds h WHERE h.account_id = a.id)""") == []
        # A pending entry keeps its two pending lines; once settled it has one outcome, and its lines.
        assert rows("""SELECT e.reference FROM entries e WHERE e.book_id = %(book)s AND e.status = 'PENDING'
                       AND (SELECT count(*) FROM pending_lines p WHERE p.entry_id = e.id) <> 2""") == []
        assert rows("""SELECT e.reference FROM entries e WHERE e.book_id = %(book)s AND e.status = 'PENDING'
                       AND (SELECT count(*) FROM lines l WHERE l.entry_id = e.id)
                       <> 2 * (SELECT count(*) FROM pending_outcomes o WHERE o.entry_id = e.id)""") == []

        with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD) as client:
            # The pending entries left over are committed (undisturbed), so that every stored entry is posted.
            for reference in calls.pending:
                client.commit_pending(book, reference)
            assert_stored_once(server, book, calls.posted)
            assert rows("""SELECT e.reference FROM entries e WHERE e.book_id = %(book)s
                           AND (SELECT count(*) FROM lines l WHERE l.entry_id = e.id) <> 2""") == []

            # Every change in the journal once, once GetJournalHead has sealed what was queued.
            head = client.get_journal_head(book)
            assert rows("SELECT id FROM journal_queue WHERE book_id = %(book)s") == []
            assert rows("""SELECT e.reference FROM entries e WHERE e.book_id = %(book)s AND (SELECT count(*)
                           FROM journal_records r WHERE r.entry_id = e.id AND r.kind = 'EntryRecorded') <> 1""") == []
            assert rows("""SELECT o.entry_id FROM pending_outcomes o JOIN entries e ON e.id = o.entry_id
                           WHERE e.book_id = %(book)s AND (SELECT count(*) FROM journal_records r
                           WHERE r.entry_id = o.entry_id AND r.kind = 'PendingCommitted') <> 1""") == []
            [(records,)] = rows("SELECT count(*) FROM journal_records WHERE book_id = %(book)s")
            assert head.sequence == records == 1 + 2 + len(calls.posted) + PENDING
            assert broken_journals(server.database_url) == {}

            total = sum(Decimal(cents).scaleb(-2) for (_, _, cents), _ in calls.posted.values())
            trial = client.get_trial_balance(book)
            assert [(row.currency, row.debit, row.credit) for row in trial.totals] == [("USD", total, total)]


def _report(server: LiveServer, rounds: list[Round], replaced: list[float], seed: int, kill_phase: float,
            total: float, stored: int) -> tuple[int, int]:
    """Prints the figures; returns how many kills interrupted a call after its commit, and how many before."""
    # Which attempt wrote a call's rows: a killed request never writes its request log line.
    logged = {record["request_id"] for record in _request_log(server)}
    kills = [call for call in rounds if call.killed is not None]
    print(f"\nseed {seed}")
    answer_lost = retry_wrote = 0
    for kind in KILLS:
        of_kind = [call for call in kills if call.kind == kind]
        interrupted = [call for call in of_kind if call.failures]
        lost_answers = [call for call in interrupted if call.writers - logged]
        answer_lost += len(lost_answers)
        retry_wrote += len(interrupted) - len(lost_answers)
        print(f"{kind}: {len(of_kind)} kills ({len([c for c in rounds if c.kind == kind]) - len(of_kind)} rounds "
              f"found no connection to kill); {len(interrupted)} interrupted the call, of which "
              f"{len(lost_answers)} after its commit (the retry found it posted) and "
              f"{len(interrupted) - len(lost_answers)} before (the retry posted it); "
              f"{len(of_kind) - len(interrupted)} after the answer; aimed "
              + ", ".join(f"{aim} {sum(call.aim == aim for call in of_kind)} "
                          f"({sum(call.aim == aim for call in interrupted)} interrupting)" for aim in AIMS)
              + f", random delays up to {max(call.delay for call in of_kind):.3f} s")
    answered = [call.answered_after for call in kills]
    print(f"kills {len(kills)}, requests of the kill rounds {len(rounds) + sum(c.failures for c in rounds)} "
          f"({sum(c.failures for c in rounds)} retries), entries checked {stored}, "
          f"samples of the rows while retrying {sum(c.samples for c in rounds)}")
    print(f"kill to answer (s): median {statistics.median(answered):.3f}, max {max(answered):.3f}; "
          f"kill to a booted worker in its place: median {statistics.median(replaced):.3f}, max {max(replaced):.3f}")
    print(f"until the last replacement booted {kill_phase:.1f} s, whole test {total:.1f} s")
    return answer_lost, retry_wrote
