"""docs/contract.md#invariants, 1 to 7, each over real HTTP on SQLite and PostgreSQL.

Invariant 8 (concurrency) lives in test_concurrency.py; invariant 9 (pending entries) in test_pending.py.
"""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from zeep.helpers import serialize_object

from ledger_service.domain.access import REQUIRED_ROLE, Role

from conftest import fault_code, unique

PLACES = {"USD": 2, "JPY": 0, "BHD": 3, "CLF": 4}
DEBIT_NORMAL = {"ASSET", "EXPENSE"}


def money(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-PLACES[currency])


def entry_snapshot(book, reference: str) -> dict:
    return serialize_object(book.service.GetEntry(book.code, reference), dict)


def all_statement_lines(book, account: str, start: date, end: date, page_size: int | None = None):
    """The statement's last page and every line of every page."""
    lines, token = [], None
    while True:
        page = book.service.GetStatement(book.code, account, start, end, page_size, token)
        lines += items(page.lines, "line")
        token = page.nextPageToken
        if token is None:
            return page, lines


def items(wrapper, name: str) -> list:
    """The items of a contract list; zeep reads an empty wrapper element (<rows/>) as None."""
    return getattr(wrapper, name) if wrapper is not None else []


def trial_totals(book, as_of: date | None = None) -> dict[str, tuple[Decimal, Decimal]]:
    trial = book.service.GetTrialBalance(book.code, as_of)
    return {total.currency: (total.debit, total.credit) for total in items(trial.totals, "total")}


def trial_rows(book, as_of: date | None = None) -> dict[str, tuple[Decimal, Decimal]]:
    trial = book.service.GetTrialBalance(book.code, as_of)
    return {row.account: (row.debit, row.credit) for row in items(trial.rows, "row")}


def assert_nothing_posted(book, reference: str, balances_before: dict[str, Decimal]) -> None:
    """A refused entry leaves no trace: its reference is free and no balance moved."""
    assert fault_code(book.service.GetEntry, book.code, reference) == "EntryNotFound"
    assert {account: book.balance(account).balance for account in balances_before} == balances_before


# --- 1. lines, amounts, per-currency balance ---

def test_an_entry_has_between_2_and_1000_lines(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    assert fault_code(book.post, unique("R"), [("cash", "DEBIT", "1.00")]) == "TooFewLines"

    too_many = [("cash", "DEBIT", "0.01")] * 1000 + [("sales", "CREDIT", "10.00")]
    assert fault_code(book.post, unique("R"), too_many) == "TooManyLines"
    assert book.balance("cash").balance == Decimal("0.00")

    largest = [("cash", "DEBIT", "0.01")] * 999 + [("sales", "CREDIT", "9.99")]
    entry = book.post(unique("R"), largest)
    assert len(entry.lines.line) == 1000
    assert book.balance("cash").balance == Decimal("9.99")


def test_a_hundred_cents_sum_to_exactly_one_unit(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    for _ in range(100):
        book.post(unique("C"), [("cash", "DEBIT", "0.01"), ("sales", "CREDIT", "0.01")])
    balance = book.balance("cash")
    # str() as well as ==: a float round trip or a lost scale would show as 1.0000000001 or 1
    assert (str(balance.balance), str(balance.postedDebits)) == ("1.00", "1.00")
    assert trial_totals(book) == {"USD": (Decimal("1.00"), Decimal("1.00"))}


def test_large_amounts_survive_exactly(server):
    book = server.new_book(cash=("ASSET", "USD"), equity=("EQUITY", "USD"))
    amount = "12345678901234.56"
    entry = book.post("BIG-1", [("cash", "DEBIT", amount), ("equity", "CREDIT", amount)])
    book.post("BIG-2", [("cash", "DEBIT", "0.01"), ("equity", "CREDIT", "0.01")])
    assert [str(line.amount) for line in entry.lines.line] == [amount, amount]
    assert [str(line.amount) for line in book.service.GetEntry(book.code, "BIG-1").lines.line] == [amount, amount]
    assert str(book.balance("cash").balance) == "12345678901234.57"
    assert trial_totals(book) == {"USD": (Decimal("12345678901234.57"), Decimal("12345678901234.57"))}
    # 10**17 minor units is past the largest amount a line may carry; refusing beats overflowing
    assert fault_code(book.post, unique("R"), [("cash", "DEBIT", "1000000000000000.00"),
                                               ("equity", "CREDIT", "1000000000000000.00")]) == "InvalidAmount"


def test_each_currency_takes_exactly_its_minor_units(server):
    book = server.new_book(**{f"cash_{c}": ("ASSET", c) for c in PLACES}, **{f"equity_{c}": ("EQUITY", c) for c in PLACES})
    finest = {"USD": "0.01", "JPY": "1", "BHD": "0.001", "CLF": "0.0001"}
    too_fine = {"USD": "0.001", "JPY": "1.5", "BHD": "0.0005", "CLF": "0.00001"}
    for currency in PLACES:
        cash, equity = f"cash_{currency}", f"equity_{currency}"
        before = {cash: book.balance(cash).balance, equity: book.balance(equity).balance}
        reference = unique("FINE")
        assert fault_code(book.post, reference, [(cash, "DEBIT", too_fine[currency]),
                                                 (equity, "CREDIT", too_fine[currency])]) == "InvalidAmount"
        assert_nothing_posted(book, reference, before)
        entry = book.post(unique("OK"), [(cash, "DEBIT", finest[currency]), (equity, "CREDIT", finest[currency])])
        assert [line.amount for line in entry.lines.line] == [Decimal(finest[currency])] * 2
        assert str(book.balance(cash).balance) == finest[currency]


def test_trailing_zeros_are_not_extra_precision(server):
    book = server.new_book(cash=("ASSET", "JPY"), equity=("EQUITY", "JPY"))
    entry = book.post(unique("R"), [("cash", "DEBIT", "500.000"), ("equity", "CREDIT", "500")])
    assert [str(line.amount) for line in entry.lines.line] == ["500", "500"]


def test_zero_and_negative_amounts_are_invalid(server):
    book = server.new_book(cash=("ASSET", "USD"), equity=("EQUITY", "USD"))
    for amount in ("0.00", "-5.00"):
        assert fault_code(book.post, unique("R"), [("cash", "DEBIT", amount), ("equity", "CREDIT", amount)]) == (
            "InvalidAmount")
    # A negative line cannot stand in for the opposite side either
    assert fault_code(book.post, unique("R"), [("cash", "DEBIT", "5.00"), ("equity", "DEBIT", "-5.00")]) == (
        "InvalidAmount")


def test_debits_equal_credits_in_each_currency_separately(server):
    book = server.new_book(cash_usd=("ASSET", "USD"), fx_usd=("EQUITY", "USD"),
                           cash_eur=("ASSET", "EUR"), fx_eur=("EQUITY", "EUR"))
    before = {code: Decimal("0.00") for code in ("cash_usd", "fx_usd", "cash_eur", "fx_eur")}
    off_by_a_cent = unique("R")
    assert fault_code(book.post, off_by_a_cent, [("cash_usd", "DEBIT", "10.00"), ("fx_usd", "CREDIT", "9.99")]) == (
        "Unbalanced")
    # Equal numbers in different currencies do not balance each other
    across_currencies = unique("R")
    assert fault_code(book.post, across_currencies, [("cash_usd", "DEBIT", "10.00"), ("fx_eur", "CREDIT", "10.00")]) == (
        "Unbalanced")
    # Each currency balanced on its own, but together USD is still off
    half_balanced = unique("R")
    assert fault_code(book.post, half_balanced, [
        ("cash_usd", "DEBIT", "10.00"), ("fx_usd", "CREDIT", "9.00"),
        ("cash_eur", "DEBIT", "9.00"), ("fx_eur", "CREDIT", "9.00"),
        ("fx_eur", "CREDIT", "1.00"), ("cash_eur", "DEBIT", "1.00")]) == "Unbalanced"
    for reference in (off_by_a_cent, across_currencies, half_balanced):
        assert_nothing_posted(book, reference, before)

    entry = book.post("FX-1", [("cash_usd", "DEBIT", "10.00"), ("fx_usd", "CREDIT", "10.00"),
                               ("fx_eur", "CREDIT", "9.25"), ("cash_eur", "DEBIT", "4.00"),
                               ("cash_eur", "DEBIT", "5.25")])
    assert [(line.account, line.currency) for line in entry.lines.line] == [
        ("cash_usd", "USD"), ("fx_usd", "USD"), ("fx_eur", "EUR"), ("cash_eur", "EUR"), ("cash_eur", "EUR")]
    assert book.balance("cash_eur").balance == Decimal("9.25")
    assert trial_totals(book) == {"EUR": (Decimal("9.25"), Decimal("9.25")), "USD": (Decimal("10.00"), Decimal("10.00"))}


# --- 2. accounts: in the book, open, currency from the account ---

def test_an_account_of_another_book_is_not_found(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    other = server.new_book(cash=("ASSET", "USD"), vault=("ASSET", "USD"))
    reference = unique("R")
    assert fault_code(book.post, reference, [("vault", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")]) == (
        "AccountNotFound")
    assert_nothing_posted(book, reference, {"cash": Decimal("0.00"), "sales": Decimal("0.00")})

    # The same code in two books names two accounts
    book.post(unique("R"), [("cash", "DEBIT", "3.00"), ("sales", "CREDIT", "3.00")])
    assert (book.balance("cash").balance, other.balance("cash").balance) == (Decimal("3.00"), Decimal("0.00"))


def test_a_closed_account_takes_no_lines(server):
    book = server.new_book(cash=("ASSET", "USD"), old=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.service.CloseAccount(book.code, "old")
    reference = unique("R")
    assert fault_code(book.post, reference, [("cash", "DEBIT", "2.00"), ("old", "DEBIT", "1.00"),
                                             ("sales", "CREDIT", "3.00")]) == "AccountClosed"
    assert_nothing_posted(book, reference, {"cash": Decimal("0.00"), "old": Decimal("0.00"),
                                            "sales": Decimal("0.00")})


def test_a_line_takes_its_currency_and_precision_from_its_account(server):
    book = server.new_book(yen=("ASSET", "JPY"), yen_equity=("EQUITY", "JPY"),
                           dinar=("ASSET", "BHD"), dinar_equity=("EQUITY", "BHD"))
    entry = book.post(unique("R"), [("yen", "DEBIT", "700"), ("yen_equity", "CREDIT", "700"),
                                    ("dinar", "DEBIT", "1.5"), ("dinar_equity", "CREDIT", "1.5")])
    assert [(line.currency, str(line.amount)) for line in entry.lines.line] == [
        ("JPY", "700"), ("JPY", "700"), ("BHD", "1.500"), ("BHD", "1.500")]
    # 1.5 is fine in BHD and not in JPY: precision follows each line's own account
    assert fault_code(book.post, unique("R"), [("yen", "DEBIT", "1.5"), ("yen_equity", "CREDIT", "1.5")]) == (
        "InvalidAmount")


# --- 3. append-only history ---

# Every operation by what it does: it adds to the ledger (new rows; an account's status and a book's
# closed-through date move forward only), or it reads. There is no third kind: an operation the
# contract gains must be placed here, and none may edit or delete what was recorded.
ADDS = {"CreateBook", "OpenAccount", "CloseAccount", "PostEntry", "PostEntries", "CommitPending", "VoidPending",
        "ReverseEntry", "ClosePeriod"}
READS = {"GetAccount", "ListAccounts", "GetEntry", "GetEntryAudit", "GetBalance", "GetStatement", "GetTrialBalance",
         "GetJournalHead", "VerifyJournal", "GetCamtStatement", "ListEntries"}


def test_every_operation_adds_or_reads(server):
    client = server.zeep()
    operations = {name for service in client.wsdl.services.values() for port in service.ports.values()
                  for name in port.binding._operations}
    assert operations == ADDS | READS and not ADDS & READS
    # and what only reads is what a reader may call
    assert {name for name, role in REQUIRED_ROLE.items() if role is Role.reader} == READS


def test_history_reads_back_unchanged_after_corrections_and_later_postings(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), fees=("EXPENSE", "USD"))
    for day, amount in [("2026-01-10", "40.00"), ("2026-02-10", "25.50"), ("2026-03-10", "7.25")]:
        book.post(f"H-{day}", [("cash", "DEBIT", amount), ("sales", "CREDIT", amount)], effective=day,
                  description=f"sale {day}")
    references = ["H-2026-01-10", "H-2026-02-10", "H-2026-03-10"]
    quarter = date(2026, 1, 1), date(2026, 3, 31)
    entries = {reference: entry_snapshot(book, reference) for reference in references}
    statement = serialize_object(book.service.GetStatement(book.code, "cash", *quarter), dict)
    trial = serialize_object(book.service.GetTrialBalance(book.code, quarter[1]), dict)
    book.service.ClosePeriod(book.code, quarter[1])

    # A "correction" by rewriting an entry is refused; inside the closed quarter, so is a backdated fix
    assert fault_code(book.post, "H-2026-02-10", [("cash", "DEBIT", "52.50"), ("sales", "CREDIT", "52.50")],
                      effective="2026-02-10", description="sale 2026-02-10") == "ReferenceConflict"
    assert fault_code(book.post, unique("FIX"), [("sales", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00")],
                      effective="2026-02-10") == "PeriodClosed"
    # The proper correction is a new entry after the close, and more business follows
    book.post("H-fix", [("sales", "DEBIT", "27.00"), ("cash", "CREDIT", "27.00")], effective="2026-04-01")
    for n in range(5):
        book.post(unique("L"), [("fees", "DEBIT", "1.10"), ("cash", "CREDIT", "1.10")], effective="2026-04-15")

    assert {reference: entry_snapshot(book, reference) for reference in references} == entries
    assert serialize_object(book.service.GetStatement(book.code, "cash", *quarter), dict) == statement
    assert serialize_object(book.service.GetTrialBalance(book.code, quarter[1]), dict) == trial
    assert book.balance("cash").balance == Decimal("40.00") + Decimal("25.50") + Decimal("7.25") - 27 - Decimal("5.50")


# --- 4. references ---

def test_replaying_an_identical_entry_returns_the_original_and_posts_nothing(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    lines = [("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")]
    original = book.post("PAY-1", lines, description="first")
    # The same amounts in another notation are the same entry
    replays = [book.post("PAY-1", lines, description="first"),
               book.post("PAY-1", [("cash", "DEBIT", "10"), ("sales", "CREDIT", "10.000")], description="first")]
    assert {(r.id, r.recordedAt) for r in replays} == {(original.id, original.recordedAt)}
    assert book.balance("cash").balance == Decimal("10.00")
    _, statement = all_statement_lines(book, "cash", date(2026, 1, 1), date(2026, 12, 31))
    assert [line.reference for line in statement] == ["PAY-1"]


def test_the_same_reference_with_different_content_is_a_conflict(server):
    book = server.new_book(cash=("ASSET", "USD"), bank=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("PAY-2", [("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")], description="sale")
    variants = [
        dict(lines=[("cash", "DEBIT", "10.01"), ("sales", "CREDIT", "10.01")], description="sale"),
        dict(lines=[("bank", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")], description="sale"),
        dict(lines=[("sales", "CREDIT", "10.00"), ("cash", "DEBIT", "10.00")], description="sale"),
        dict(lines=[("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")], description="other"),
        dict(lines=[("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")], description="sale",
             effective="2026-01-16"),
    ]
    for variant in variants:
        assert fault_code(book.post, "PAY-2", **variant) == "ReferenceConflict"
    assert {code: book.balance(code).balance for code in ("cash", "bank", "sales")} == {
        "cash": Decimal("10.00"), "bank": Decimal("0.00"), "sales": Decimal("10.00")}


def test_references_are_unique_per_book_not_across_books(server):
    first = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    second = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    one = first.post("INV-7", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")])
    two = second.post("INV-7", [("cash", "DEBIT", "2.00"), ("sales", "CREDIT", "2.00")])
    assert one.id != two.id
    assert (first.balance("cash").balance, second.balance("cash").balance) == (Decimal("1.00"), Decimal("2.00"))


def test_a_refused_entry_does_not_take_its_reference(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    assert fault_code(book.post, "INV-8", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "2.00")]) == "Unbalanced"
    entry = book.post("INV-8", [("cash", "DEBIT", "2.00"), ("sales", "CREDIT", "2.00")])
    assert entry.lines.line[0].amount == Decimal("2.00")


# --- 5. noNegativeBalance ---

def test_a_guarded_asset_reaches_zero_but_never_goes_below(server):
    book = server.new_book(wallet=("ASSET", "USD", True), loose=("ASSET", "USD"),
                           equity=("EQUITY", "USD"), costs=("EXPENSE", "USD"))
    book.post(unique("FUND"), [("wallet", "DEBIT", "100.00"), ("equity", "CREDIT", "100.00")])
    book.post(unique("SPEND"), [("costs", "DEBIT", "60.00"), ("wallet", "CREDIT", "60.00")])
    over = unique("SPEND")
    assert fault_code(book.post, over, [("costs", "DEBIT", "40.01"), ("wallet", "CREDIT", "40.01")]) == (
        "InsufficientBalance")
    assert_nothing_posted(book, over, {"wallet": Decimal("40.00"), "costs": Decimal("60.00")})

    book.post(unique("SPEND"), [("costs", "DEBIT", "40.00"), ("wallet", "CREDIT", "40.00")])
    assert book.balance("wallet").balance == Decimal("0.00")
    assert fault_code(book.post, unique("SPEND"), [("costs", "DEBIT", "0.01"), ("wallet", "CREDIT", "0.01")]) == (
        "InsufficientBalance")
    assert book.balance("wallet").balance == Decimal("0.00")

    book.post(unique("SPEND"), [("costs", "DEBIT", "5.00"), ("loose", "CREDIT", "5.00")])
    assert book.balance("loose").balance == Decimal("-5.00")


def test_a_guarded_liability_is_reduced_by_debits(server):
    book = server.new_book(deposits=("LIABILITY", "JPY", True), cash=("ASSET", "JPY"))
    book.post(unique("IN"), [("cash", "DEBIT", "1000"), ("deposits", "CREDIT", "1000")])
    assert fault_code(book.post, unique("OUT"), [("deposits", "DEBIT", "1001"), ("cash", "CREDIT", "1001")]) == (
        "InsufficientBalance")
    book.post(unique("OUT"), [("deposits", "DEBIT", "1000"), ("cash", "CREDIT", "1000")])
    assert book.balance("deposits").balance == Decimal("0")
    # Increasing a guarded account never needs funds
    book.post(unique("IN"), [("cash", "DEBIT", "1"), ("deposits", "CREDIT", "1")])
    assert book.balance("deposits").balance == Decimal("1")


# --- 6. closed periods ---

def test_entries_on_or_before_the_closed_through_date_are_refused(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    lines = [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")]
    book.post("EARLY", lines, effective="2026-03-15")
    assert book.service.ClosePeriod(book.code, date(2026, 3, 31)).closedThrough == date(2026, 3, 31)

    for day in ("2026-03-31", "2026-03-01", "2025-12-31"):
        assert fault_code(book.post, unique("LATE"), lines, effective=day) == "PeriodClosed"
    book.post(unique("OPEN"), lines, effective="2026-04-01")
    # A retry of an entry posted before the close is still answered with the original
    assert book.post("EARLY", lines, effective="2026-03-15").effectiveDate == date(2026, 3, 15)
    assert book.balance("cash").balance == Decimal("2.00")


def test_the_closed_through_date_never_moves_backwards(server):
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    lines = [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")]
    book.service.ClosePeriod(book.code, date(2026, 3, 31))
    assert book.service.ClosePeriod(book.code, date(2026, 2, 28)).closedThrough == date(2026, 3, 31)
    assert fault_code(book.post, unique("R"), lines, effective="2026-03-15") == "PeriodClosed"
    assert book.service.ClosePeriod(book.code, date(2026, 5, 31)).closedThrough == date(2026, 5, 31)
    assert fault_code(book.post, unique("R"), lines, effective="2026-05-31") == "PeriodClosed"
    book.post(unique("R"), lines, effective="2026-06-01")


# --- 7. trial balance ---

RANDOM_CURRENCIES = ("USD", "JPY", "BHD")
RANDOM_TYPES = ("ASSET", "EXPENSE", "LIABILITY", "INCOME", "EQUITY")
FIRST_DAY = date(2026, 1, 1)
AS_OF_DATES = [date(2025, 12, 31), date(2026, 1, 31), date(2026, 2, 14), date(2026, 3, 31), date(2026, 4, 30),
               date(2026, 5, 15), date(2026, 6, 30)]


def split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]


def random_entry(rng: random.Random, accounts_by_currency: dict[str, list[str]]) -> list[tuple[str, str, int]]:
    """Lines (account, side, minor units) balanced per currency, over one to three currencies."""
    lines = []
    for currency in rng.sample(RANDOM_CURRENCIES, rng.choice([1, 1, 2, 3])):
        debit_count, credit_count = rng.randint(1, 2), rng.randint(1, 2)
        chosen = rng.sample(accounts_by_currency[currency], debit_count + credit_count)
        total = rng.randint(10, 5_000_000)
        lines += [(a, "DEBIT", m) for a, m in zip(chosen[:debit_count], split(rng, total, debit_count))]
        lines += [(a, "CREDIT", m) for a, m in zip(chosen[debit_count:], split(rng, total, credit_count))]
    rng.shuffle(lines)
    return lines


def test_trial_balance_totals_agree_now_and_as_of_every_date(server):
    rng = random.Random(20260415)
    currency_of = {f"{kind.lower()}_{c}": c for c in RANDOM_CURRENCIES for kind in RANDOM_TYPES}
    type_of = {code: code.split("_")[0].upper() for code in currency_of}
    book = server.new_book(**{code: (type_of[code], c) for code, c in currency_of.items()})
    accounts_by_currency = {c: [code for code, cc in currency_of.items() if cc == c] for c in RANDOM_CURRENCIES}

    # Client-side ledger: (effective date, debits - credits) per account, in minor units
    movements: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for n in range(45):
        # Dates are drawn at random, so most entries land before ones already posted; many land exactly on a
        # date the balances are asked for, where "on or before" and "before" differ
        effective = (rng.choice(AS_OF_DATES[1:]) if rng.random() < 0.4
                     else FIRST_DAY + timedelta(days=rng.randint(0, 180)))
        lines = random_entry(rng, accounts_by_currency)
        book.post(f"RND-{n}", [(a, side, format(money(m, currency_of[a]), "f")) for a, side, m in lines],
                  effective=effective.isoformat())
        for account, side, minor in lines:
            movements[account].append((effective, minor if side == "DEBIT" else -minor))

    def expected_rows(as_of: date | None) -> dict[str, tuple[Decimal, Decimal]]:
        rows = {}
        for account, moves in movements.items():
            net = sum(m for day, m in moves if as_of is None or day <= as_of)
            if net:
                rows[account] = (money(max(net, 0), currency_of[account]), money(max(-net, 0), currency_of[account]))
        return rows

    for as_of in [None, *AS_OF_DATES]:
        totals = trial_totals(book, as_of)
        assert all(debit == credit for debit, credit in totals.values()), (as_of, totals)
        rows = {account: row for account, row in trial_rows(book, as_of).items() if row != (0, 0)}
        assert rows == expected_rows(as_of), as_of
    assert set(trial_totals(book)) == set(RANDOM_CURRENCIES)

    for as_of in AS_OF_DATES[2::2]:
        for account, currency in currency_of.items():
            page, lines = all_statement_lines(book, account, FIRST_DAY, as_of, page_size=7)
            sign = 1 if type_of[account] in DEBIT_NORMAL else -1
            recomputed = page.openingBalance + sum(line.amount if (line.side == "DEBIT") == (sign == 1)
                                                   else -line.amount for line in lines)
            expected = money(sign * sum(m for day, m in movements[account] if day <= as_of), currency)
            assert page.openingBalance == 0
            assert (recomputed, page.closingBalance, book.balance(account, as_of).balance) == (expected,) * 3, (
                account, as_of)
            if lines:
                assert lines[-1].runningBalance == expected
