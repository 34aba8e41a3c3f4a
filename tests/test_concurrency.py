"""docs/contract.md#invariants, 8: concurrent requests on several workers give the result of some serial order.

Many writers, each with its own zeep client, post over real HTTP into the same few accounts of one book, on
a 4-worker server on PostgreSQL (and a 2-worker one on SQLite). Every call's outcome is recorded on the client
side, with the moments it was sent and answered, and the book is then checked against what some serial order
of those outcomes gives.
"""
from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Callable

import psycopg
import pytest
from zeep.exceptions import Fault

from conftest import fault_code, fault_detail, unique

# One effective date for every concurrent entry, so that a statement lists an account's lines in the order
# their transactions committed (entry ids are drawn after the account locks are taken).
DAY = "2026-06-01"
FUNDING = 100_00
SPENDERS, TRADERS, RACERS = 4, 4, 4
REQUESTS_PER_WRITER = 40
RACE_ROUNDS = 32
BARRIER_TIMEOUT = 60


@dataclass(frozen=True)
class Outcome:
    writer: str
    reference: str
    lines: tuple[tuple[str, str, int], ...]  # (account, side, cents)
    effective: date
    sent: float
    answered: float
    entry_id: str | None = None
    fault: str | None = None  # the LedgerFault code, or a description of anything that is not one


def cents(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def post_and_record(service, book: str, writer: str, reference: str, lines, effective: str = DAY) -> Outcome:
    entry = {"reference": reference, "effectiveDate": effective,
             "lines": {"line": [{"account": a, "side": s, "amount": cents(m)} for a, s, m in lines]}}
    sent = time.monotonic()
    try:
        entry_id, fault = service.PostEntry(book, entry).id, None
    except Fault as error:
        entry_id, fault = None, fault_detail(error)["code"]
    except Exception as error:  # recorded, so that a thread never dies silently and the test reports it
        entry_id, fault = None, f"{type(error).__name__}: {error}"
    return Outcome(writer, reference, tuple(lines), date.fromisoformat(effective), sent, time.monotonic(), entry_id,
                   fault)


def run_together(workers: dict[str, Callable[[], None]], timeout: float = 120) -> None:
    """Runs each worker in its own thread, all released at once; re-raises the first failure."""
    start = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def run(work):
        try:
            start.wait(BARRIER_TIMEOUT)
            work()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(work,), name=name) for name, work in workers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    if failures:
        raise failures[0]


def statement_lines(service, book: str, account: str, day: date) -> list:
    lines, token = [], None
    while True:
        page = service.GetStatement(book, account, day, day, 50, token)
        lines += page.lines.line if page.lines is not None else []
        token = page.nextPageToken
        if token is None:
            return lines


def expected_totals(lines_by_reference: dict[str, tuple]) -> dict[str, list[int]]:
    """(debits, credits) in cents per account, applying each successful reference's lines once."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for lines in lines_by_reference.values():
        for account, side, amount in lines:
            totals[account][0 if side == "DEBIT" else 1] += amount
    return totals


def database_rows(server, sql: str, *parameters) -> list[tuple]:
    """Rows read straight from the server's database, bypassing the service."""
    if server.database_url.startswith("sqlite"):
        with sqlite3.connect(server.database_url.split(":///", 1)[1]) as connection:
            return connection.execute(sql.replace("%s", "?"), parameters).fetchall()
    with psycopg.connect(server.database_url) as connection:
        return connection.execute(sql, parameters).fetchall()


@pytest.fixture(params=[pytest.param("postgres_live", marks=pytest.mark.postgres), "sqlite_server"])
def live(request):
    """The 4-worker PostgreSQL server, and the 2-worker SQLite one."""
    return request.getfixturevalue(request.param)


# --- many writers on the same accounts ---

ACCOUNTS = {
    "vault": ("ASSET", "USD", True), "expense": ("EXPENSE", "USD"), "income": ("INCOME", "USD"),
    "equity": ("EQUITY", "USD"), "cash": ("ASSET", "USD"), "payable": ("LIABILITY", "USD"),
    "cash_eur": ("ASSET", "EUR"), "payable_eur": ("LIABILITY", "EUR"),
}


def spender(service, book: str, name: str, seed: int, record: Callable[[Outcome], None]) -> None:
    """Spends from the guarded vault far beyond its funding, with a deposit every fifth request."""
    rng = random.Random(seed)
    for n in range(REQUESTS_PER_WRITER):
        if n % 5 == 4:
            lines = [("vault", "DEBIT", 5_00), ("income", "CREDIT", 5_00)]
        else:
            amount = rng.randint(1_00, 8_00)
            lines = [("expense", "DEBIT", amount), ("vault", "CREDIT", amount)]
        record(post_and_record(service, book, name, f"{name}-{n}", lines))


def trader(service, book: str, name: str, seed: int, record: Callable[[Outcome], None]) -> None:
    """Moves money between the unguarded accounts, listing the shared accounts in varying order."""
    rng = random.Random(seed)
    for n in range(REQUESTS_PER_WRITER):
        usd, eur = rng.randint(1, 50_00), rng.randint(1, 50_00)
        if n % 3 == 0:
            lines = [("cash", "CREDIT", 50), ("vault", "DEBIT", 50)]
        elif n % 3 == 1:
            lines = [("payable", "CREDIT", usd), ("cash_eur", "DEBIT", eur), ("cash", "DEBIT", usd),
                     ("payable_eur", "CREDIT", eur)]
        else:
            lines = [("cash", "CREDIT", usd), ("payable", "DEBIT", usd)]
        rng.shuffle(lines)
        record(post_and_record(service, book, name, f"{name}-{n}", lines))


def racer(service, book: str, position: int, barrier: threading.Barrier, record: Callable[[Outcome], None]) -> None:
    """Posts one reference at the same moment as the other racers: in even rounds the same entry, in odd
    rounds an entry of its own (half of the racers on other accounts, so only the reference collides)."""
    for n in range(RACE_ROUNDS):
        if n % 2 == 0:
            reference, lines = f"SAME-{n}", [("vault", "DEBIT", 1_00), ("income", "CREDIT", 1_00)]
        else:
            amount = (position + 1) * 1_00
            accounts = ("cash", "payable") if position % 2 else ("cash_eur", "payable_eur")
            reference, lines = f"CLASH-{n}", [(accounts[0], "DEBIT", amount), (accounts[1], "CREDIT", amount)]
        barrier.wait(BARRIER_TIMEOUT)
        record(post_and_record(service, book, f"racer{position}", reference, lines))


def assert_commit_order_respects_real_time(timeline: list[tuple[int, float, float]]) -> None:
    """An entry answered before another was sent committed first, so it must come first in the statement.
    `timeline` is (balance after the entry, earliest send, earliest answer), in statement order."""
    latest_send = float("-inf")
    for position, (_, sent, answered) in enumerate(timeline):
        assert answered >= latest_send, f"statement line {position} committed before an entry sent after it"
        latest_send = max(latest_send, sent)


def balances_seen_by(refused: Outcome, timeline: list[tuple[int, float, float]]) -> list[int]:
    """The running balances a refused request may have read: after every entry answered before it was
    sent, and before any entry sent after it was answered."""
    committed_before = max(i for i, (_, _, answered) in enumerate(timeline) if answered < refused.sent)
    committed_after = min([i for i, (_, sent, _) in enumerate(timeline) if sent > refused.answered],
                          default=len(timeline))
    return [balance for balance, _, _ in timeline[committed_before:committed_after]]


def assert_stored_once(server, book: str, posted: dict[str, tuple]) -> None:
    """Straight from the database: each reference stored once, nothing else stored, and the account rows'
    running totals, the per-day totals and the lines all tell the story of exactly the posted entries."""
    duplicates = database_rows(
        server, "SELECT book_id, reference, count(*) FROM entries GROUP BY book_id, reference HAVING count(*) > 1")
    [(stored,)] = database_rows(
        server, "SELECT count(*) FROM entries JOIN books ON books.id = entries.book_id WHERE books.code = %s", book)
    derived = database_rows(server, """
        SELECT a.code, a.posted_debits, a.posted_credits,
               (SELECT coalesce(sum(amount), 0) FROM lines l WHERE l.account_id = a.id AND l.side = 'DEBIT'),
               (SELECT coalesce(sum(amount), 0) FROM lines l WHERE l.account_id = a.id AND l.side = 'CREDIT'),
               (SELECT coalesce(sum(debits), 0) FROM account_days d WHERE d.account_id = a.id),
               (SELECT coalesce(sum(credits), 0) FROM account_days d WHERE d.account_id = a.id)
        FROM accounts a JOIN books b ON b.id = a.book_id WHERE b.code = %s""", book)
    assert duplicates == []
    assert stored == len(posted)
    expected = expected_totals(posted)
    for code, debits, credits, *recomputed in derived:
        assert [debits, credits] == expected[code], code
        assert recomputed == [debits, credits] * 2, code


def test_concurrent_writers_give_a_serial_result(live):
    server = live
    book = server.new_book(**ACCOUNTS)
    funding = post_and_record(book.service, book.code, "setup", "FUND",
                              [("vault", "DEBIT", FUNDING), ("equity", "CREDIT", FUNDING)])
    assert funding.fault is None

    outcomes: list[Outcome] = [funding]
    record = outcomes.append  # list.append is atomic under the GIL
    race_barrier = threading.Barrier(RACERS)
    workers = {}
    for n in range(SPENDERS):
        service = server.zeep().service
        workers[f"spender{n}"] = lambda s=service, n=n: spender(s, book.code, f"spender{n}", n, record)
    for n in range(TRADERS):
        service = server.zeep().service
        workers[f"trader{n}"] = lambda s=service, n=n: trader(s, book.code, f"trader{n}", 100 + n, record)
    for n in range(RACERS):
        service = server.zeep().service
        workers[f"racer{n}"] = lambda s=service, n=n: racer(s, book.code, n, race_barrier, record)
    run_together(workers)

    assert len(outcomes) == 1 + (SPENDERS + TRADERS) * REQUESTS_PER_WRITER + RACERS * RACE_ROUNDS
    allowed = {"spender": {None, "InsufficientBalance"}, "trader": {None}, "racer": {None, "ReferenceConflict"},
               "setup": {None}}
    unexpected = [o for o in outcomes if o.fault not in allowed[o.writer.rstrip("0123456789")]]
    assert unexpected == []

    # Racing one reference: identical content is one entry for everyone, different content has one winner
    by_reference: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_reference[outcome.reference].append(outcome)
    for n in range(0, RACE_ROUNDS, 2):
        same = by_reference[f"SAME-{n}"]
        assert [o.fault for o in same] == [None] * RACERS and len({o.entry_id for o in same}) == 1
    for n in range(1, RACE_ROUNDS, 2):
        clash = Counter(o.fault for o in by_reference[f"CLASH-{n}"])
        assert clash == {None: 1, "ReferenceConflict": RACERS - 1}

    posted = {o.reference: o.lines for o in outcomes if o.fault is None}
    refused = [o for o in outcomes if o.fault == "InsufficientBalance"]
    expected = expected_totals(posted)

    # No lost update and no double post: every balance is exactly the sum of the successful entries
    service = book.service
    for account in ACCOUNTS:
        balance = service.GetBalance(book.code, account, None)
        assert (balance.postedDebits, balance.postedCredits) == (
            Decimal(expected[account][0]) / 100, Decimal(expected[account][1]) / 100), account
    trial = service.GetTrialBalance(book.code, None)
    assert {t.currency for t in trial.totals.total} == {"USD", "EUR"}
    assert all(t.debit == t.credit for t in trial.totals.total), trial.totals

    # The guard held at every moment: the vault's statement, in commit order, never dips below zero
    vault_lines = statement_lines(service, book.code, "vault", date.fromisoformat(DAY))
    vault_references = [line.reference for line in vault_lines]
    assert len(vault_references) == len(set(vault_references))
    assert set(vault_references) == {r for r, lines in posted.items() if any(a == "vault" for a, _, _ in lines)}
    running = [line.runningBalance for line in vault_lines]
    assert min(running) >= 0
    assert running[-1] == service.GetBalance(book.code, "vault", None).balance

    # Every refusal had a cause: the amount exceeded a balance the vault really held while it was asked
    assert len(refused) > 0, "the guard was never exercised"
    windows = {r: (min(o.sent for o in by_reference[r] if o.fault is None),
                   min(o.answered for o in by_reference[r] if o.fault is None)) for r in posted}
    timeline = [(int(line.runningBalance * 100), *windows[line.reference]) for line in vault_lines]
    assert_commit_order_respects_real_time(timeline)
    for outcome in refused:
        amount = next(m for a, side, m in outcome.lines if a == "vault")
        assert amount > min(balances_seen_by(outcome, timeline)), outcome

    assert_stored_once(server, book.code, posted)

    print(f"\n{len(outcomes)} PostEntry calls, {len(posted)} entries, {len(refused)} InsufficientBalance, "
          f"{sum(o.fault == 'ReferenceConflict' for o in outcomes)} ReferenceConflict")


# --- closing while others post ---

CLOSE_ROUNDS = 8
CLOSE_POSTERS = 3


def race_a_closer_against_posters(server, close: Callable[[object, int], None],
                                  post: Callable[[object, int, int], None]) -> None:
    """Each round, one closer and CLOSE_POSTERS posters, each with its own client, fire at the same moment."""
    barrier = threading.Barrier(1 + CLOSE_POSTERS)

    def closer(service):
        for n in range(CLOSE_ROUNDS):
            barrier.wait(BARRIER_TIMEOUT)
            close(service, n)

    def poster(service, position):
        for n in range(CLOSE_ROUNDS):
            barrier.wait(BARRIER_TIMEOUT)
            post(service, n, position)

    workers = {"closer": lambda s=server.zeep().service: closer(s)}
    for position in range(CLOSE_POSTERS):
        workers[f"poster{position}"] = lambda s=server.zeep().service, p=position: poster(s, p)
    run_together(workers)


@pytest.mark.postgres
def test_close_account_racing_postings_ends_as_a_serial_order(postgres_live):
    server = postgres_live
    temporary = [f"temp{n}" for n in range(CLOSE_ROUNDS)]
    book = server.new_book(income=("INCOME", "USD"), **{code: ("ASSET", "USD") for code in temporary})
    closes: dict[int, str | None] = {}
    posts: list[Outcome] = []

    def close(service, n):
        try:
            service.CloseAccount(book.code, temporary[n])
            closes[n] = None
        except Fault as error:
            closes[n] = fault_detail(error)["code"]

    def post(service, n, position):
        posts.append(post_and_record(service, book.code, f"round{n}", f"T{n}-{position}",
                                     [(temporary[n], "DEBIT", 1_00), ("income", "CREDIT", 1_00)]))

    race_a_closer_against_posters(server, close, post)

    orders = Counter()
    for n, code in enumerate(temporary):
        round_posts = [o.fault for o in posts if o.writer == f"round{n}"]
        account = book.service.GetAccount(book.code, code)
        balance = book.balance(code).balance
        if closes[n] is None:
            # Closed first: every posting found it closed, and it stayed empty
            assert (round_posts, account.status, balance) == (["AccountClosed"] * CLOSE_POSTERS, "CLOSED", 0)
            orders["close first"] += 1
        else:
            # A posting came first: the close found money in it, and so every posting went through
            assert (closes[n], round_posts, account.status) == ("AccountNotEmpty", [None] * CLOSE_POSTERS, "OPEN")
            assert balance == CLOSE_POSTERS
            orders["post first"] += 1
    print(f"\nCloseAccount vs PostEntry over {CLOSE_ROUNDS} rounds: {dict(orders)}")


@pytest.mark.postgres
def test_close_period_racing_backdated_postings_ends_as_a_serial_order(postgres_live):
    server = postgres_live
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    first_day = date(2026, 2, 1)
    days = [first_day + timedelta(days=n) for n in range(CLOSE_ROUNDS)]
    closed: dict[int, tuple[date, Decimal]] = {}
    posts: list[Outcome] = []

    def close(service, n):
        through = service.ClosePeriod(book.code, days[n]).closedThrough
        # Read at once: whatever was accepted on or before the day must already be visible now
        closed[n] = through, service.GetBalance(book.code, "cash", days[n]).balance

    def post(service, n, position):
        # The last poster posts the day after, which the close never covers
        effective = days[n] + timedelta(days=1) if position == CLOSE_POSTERS - 1 else days[n]
        posts.append(post_and_record(service, book.code, f"round{n}", f"P{n}-{position}",
                                     [("cash", "DEBIT", 1_00), ("sales", "CREDIT", 1_00)], effective.isoformat()))

    race_a_closer_against_posters(server, close, post)

    accepted_on: Counter = Counter()
    for outcome in posts:
        closing = days[int(outcome.writer.removeprefix("round"))]
        assert outcome.fault in ({None} if outcome.effective > closing else {None, "PeriodClosed"}), outcome
        if outcome.fault is None:
            accepted_on[outcome.effective] += 1
    for n, day in enumerate(days):
        through, balance_right_after_close = closed[n]
        assert through == day
        accepted_through_day = sum(count for accepted, count in accepted_on.items() if accepted <= day)
        assert balance_right_after_close == accepted_through_day
        assert book.balance("cash", day).balance == accepted_through_day
    assert fault_code(book.post, unique("LATE"), [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")],
                      effective=days[-1].isoformat()) == "PeriodClosed"
    print(f"\nClosePeriod vs backdated PostEntry over {CLOSE_ROUNDS} rounds: "
          f"{sum(accepted_on.values())} accepted, {sum(o.fault == 'PeriodClosed' for o in posts)} PeriodClosed")


# --- taking turns ---

def test_two_clients_taking_turns_act_on_each_others_latest_writes(live):
    """Each client's next request depends on the other's last write, wherever the workers serve them."""
    server = live
    book = server.new_book(wallet=("ASSET", "USD", True), income=("INCOME", "USD"), costs=("EXPENSE", "USD"))
    first, second = server.zeep().service, server.zeep().service
    for n in range(10):
        writer, reader = (first, second) if n % 2 == 0 else (second, first)
        deposit = [("wallet", "DEBIT", 1_00 + n), ("income", "CREDIT", 1_00 + n)]
        posted = post_and_record(writer, book.code, "writer", f"IN-{n}", deposit)
        assert posted.fault is None
        assert reader.GetBalance(book.code, "wallet", None).balance == Decimal(1_00 + n) / 100
        assert post_and_record(reader, book.code, "reader", f"IN-{n}", deposit).entry_id == posted.entry_id
        overdraw = post_and_record(reader, book.code, "reader", f"OUT-{n}-over",
                                   [("costs", "DEBIT", 1_01 + n), ("wallet", "CREDIT", 1_01 + n)])
        assert overdraw.fault == "InsufficientBalance"
        empty = post_and_record(reader, book.code, "reader", f"OUT-{n}", [("costs", "DEBIT", 1_00 + n),
                                                                          ("wallet", "CREDIT", 1_00 + n)])
        assert empty.fault is None
        assert writer.GetBalance(book.code, "wallet", None).balance == 0
