"""Every v1 operation's ordinary use, over real HTTP with zeep, on SQLite and PostgreSQL, SOAP 1.1 and 1.2."""
from datetime import date
from decimal import Decimal

import pytest

from conftest import unique


@pytest.mark.parametrize("version", ["11", "12"])
def test_book_accounts_entries_and_reports(server, version):
    book = server.new_book(version, cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    service = book.service

    entry = book.post("INV-1", [("cash", "DEBIT", "100.25"), ("sales", "CREDIT", "100.25")],
                      effective="2026-03-01", description="first sale")
    assert entry.status == "POSTED" and entry.reference == "INV-1" and len(entry.id) == 36
    assert [(line.account, line.side, line.amount, line.currency) for line in entry.lines.line] == [
        ("cash", "DEBIT", Decimal("100.25"), "USD"), ("sales", "CREDIT", Decimal("100.25"), "USD")]
    assert service.GetEntry(book.code, "INV-1").id == entry.id

    balance = book.balance("cash")
    assert (balance.postedDebits, balance.postedCredits, balance.balance, balance.availableBalance) == (
        Decimal("100.25"), Decimal("0.00"), Decimal("100.25"), Decimal("100.25"))
    assert book.balance("sales").balance == Decimal("100.25")

    statement = service.GetStatement(book.code, "cash", date(2026, 1, 1), date(2026, 12, 31))
    assert (statement.openingBalance, statement.closingBalance) == (Decimal("0.00"), Decimal("100.25"))
    assert [(l.reference, l.description, l.runningBalance) for l in statement.lines.line] == [
        ("INV-1", "first sale", Decimal("100.25"))]

    trial = service.GetTrialBalance(book.code)
    assert [(r.account, r.debit, r.credit) for r in trial.rows.row] == [
        ("cash", Decimal("100.25"), Decimal("0.00")), ("sales", Decimal("0.00"), Decimal("100.25"))]
    assert [(t.currency, t.debit, t.credit) for t in trial.totals.total] == [
        ("USD", Decimal("100.25"), Decimal("100.25"))]

    closed = service.ClosePeriod(book.code, date(2026, 3, 31))
    assert closed.closedThrough == date(2026, 3, 31)


def test_accounts_are_listed_by_page_and_filtered(server):
    book = server.new_book(**{"1000": ("ASSET", "EUR"), "1100": ("ASSET", "EUR"), "2000": ("LIABILITY", "EUR"),
                              "4000": ("INCOME", "EUR")})
    service = book.service
    first = service.ListAccounts(book.code, None, None, 2, None)
    assert [a.code for a in first.accounts.account] == ["1000", "1100"] and first.nextPageToken
    second = service.ListAccounts(book.code, None, None, 2, first.nextPageToken)
    assert [a.code for a in second.accounts.account] == ["2000", "4000"] and second.nextPageToken is None
    assets = service.ListAccounts(book.code, "ASSET", None, None, None)
    assert [a.code for a in assets.accounts.account] == ["1000", "1100"]
    prefixed = service.ListAccounts(book.code, None, "1", None, None)
    assert [a.code for a in prefixed.accounts.account] == ["1000", "1100"]


def test_account_lifecycle(server):
    book = server.new_book(cash=("ASSET", "JPY"), equity=("EQUITY", "JPY"))
    service = book.service
    child = service.OpenAccount(book.code, {"code": "petty", "name": "Petty cash", "type": "ASSET", "currency": "JPY",
                                            "parentCode": "cash"})
    assert (child.parentCode, child.status, child.noNegativeBalance) == ("cash", "OPEN", False)
    assert service.GetAccount(book.code, "petty").name == "Petty cash"
    closed = service.CloseAccount(book.code, "petty")
    assert closed.status == "CLOSED"
    assert service.GetAccount(book.code, "petty").status == "CLOSED"
    book.post("J-1", [("cash", "DEBIT", "500"), ("equity", "CREDIT", "500")])
    assert book.balance("cash").balance == Decimal("500")


def test_balances_and_statements_as_of_dates(server):
    book = server.new_book(cash=("ASSET", "BHD"), loan=("LIABILITY", "BHD"))
    for day, amount in [(3, "1.000"), (5, "2.500"), (5, "0.125"), (9, "10.000")]:
        book.post(unique("R"), [("cash", "DEBIT", amount), ("loan", "CREDIT", amount)], effective=f"2026-02-0{day}")
    assert book.balance("cash", date(2026, 2, 4)).balance == Decimal("1.000")
    assert book.balance("cash", date(2026, 2, 5)).balance == Decimal("3.625")
    assert book.balance("loan", date(2026, 2, 2)).balance == Decimal("0.000")
    as_of = book.balance("loan", date(2026, 2, 9))
    assert (as_of.asOf, as_of.balance, as_of.postedCredits) == (date(2026, 2, 9), Decimal("13.625"), Decimal("13.625"))

    statement = book.service.GetStatement(book.code, "cash", date(2026, 2, 5), date(2026, 2, 5))
    assert (statement.openingBalance, statement.closingBalance) == (Decimal("1.000"), Decimal("3.625"))
    assert [line.runningBalance for line in statement.lines.line] == [Decimal("3.500"), Decimal("3.625")]

    trial = book.service.GetTrialBalance(book.code, date(2026, 2, 5))
    assert trial.asOf == date(2026, 2, 5)
    assert [(t.debit, t.credit) for t in trial.totals.total] == [(Decimal("3.625"), Decimal("3.625"))]


def test_statement_pages_carry_the_running_balance(server):
    book = server.new_book(cash=("ASSET", "USD"), income=("INCOME", "USD"))
    for n in range(1, 8):
        book.post(f"P{n}", [("cash", "DEBIT", f"{n}.00"), ("income", "CREDIT", f"{n}.00")],
                  effective=f"2026-04-{n:02d}")
    seen, token = [], None
    while True:
        page = book.service.GetStatement(book.code, "cash", date(2026, 4, 2), date(2026, 4, 30), 2, token)
        seen += [(line.reference, line.runningBalance) for line in page.lines.line]
        token = page.nextPageToken
        if token is None:
            break
    running = Decimal("1.00")
    expected = []
    for n in range(2, 8):
        running += n
        expected.append((f"P{n}", running))
    assert seen == expected
    assert page.closingBalance == running
