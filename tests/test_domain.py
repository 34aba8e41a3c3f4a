"""The ledger's rules and the pure helpers around them, without a server or a database."""
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ledger_service.adapters import page_tokens
from ledger_service.domain import journal
from ledger_service.domain.accounts import AccountSpec, AccountStatus, AccountType, Side, open_account
from ledger_service.domain.books import Book
from ledger_service.domain.currencies import CURRENCIES, currency
from ledger_service.domain.entries import (Entry, EntryInput, EntryStatus, Line, LineInput, apply_postings,
                                           prepare_postings)
from ledger_service.domain.errors import FaultCode, LedgerError
from ledger_service.domain.limits import (MAX_PAGE_SIZE, MAX_PENDING_TIMEOUT_SECONDS, MIN_PAGE_SIZE,
                                          MIN_PENDING_TIMEOUT_SECONDS)
from ledger_service.domain.reports import trial_balance
from ledger_service.ns import SOAP11_ENV
from ledger_service.soap.envelope import RequestRefused, schema_error_location, validate
from ledger_service.soap.faults import field_path
from ledger_service.wsgi import contracts

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def account(code: str, kind: AccountType = AccountType.ASSET, currency_code: str = "USD", guarded: bool = False):
    return open_account(AccountSpec(code, code, kind, currency(currency_code), None, guarded), None, NOW)


def entry(*lines: tuple[str, Side, str], reference: str = "R1", effective: date = date(2026, 2, 1)):
    return EntryInput(reference, effective, tuple(LineInput(a, s, Decimal(v)) for a, s, v in lines))


def refused(code: FaultCode, call, *args) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        call(*args)
    assert caught.value.code is code, caught.value
    return caught.value


@pytest.mark.parametrize("code, text, minor", [
    ("USD", "10.5", 1050), ("USD", "10.50", 1050), ("USD", "1E+2", 10000), ("JPY", "100.00", 100),
    ("BHD", "0.001", 1), ("CLF", "1.2345", 12345), ("USD", "12345678901234.56", 1234567890123456),
])
def test_amounts_convert_exactly_to_minor_units(code, text, minor):
    assert currency(code).to_minor(Decimal(text), ("f",)) == minor


@pytest.mark.parametrize("code, text", [
    ("USD", "0.001"), ("JPY", "1.5"), ("BHD", "0.0001"), ("USD", "0"), ("USD", "-1"), ("USD", "1E+20"),
    ("USD", "NaN"), ("USD", "Infinity"),
])
def test_amounts_that_do_not_fit_are_refused_never_rounded(code, text):
    assert refused(FaultCode.InvalidAmount, currency(code).to_minor, Decimal(text),
                   ("line", "amount")).location == ("line", "amount")


def test_minor_units_come_back_with_the_currencys_places():
    assert [str(currency(c).to_decimal(m)) for c, m in [("USD", 0), ("USD", 1050), ("JPY", 7), ("BHD", 1)]] == [
        "0.00", "10.50", "7", "0.001"]


def test_currency_table_knows_the_iso_codes_and_refuses_others():
    assert (CURRENCIES["EUR"].minor_units, CURRENCIES["KWD"].minor_units, CURRENCIES["KRW"].minor_units) == (2, 3, 0)
    refused(FaultCode.UnknownCurrency, currency, "ABC")


def test_balanced_entry_moves_both_accounts_on_their_normal_sides():
    cash, sales = account("cash"), account("sales", AccountType.INCOME)
    postings = prepare_postings(Book("B", "B"), entry(("cash", Side.DEBIT, "5.25"), ("sales", Side.CREDIT, "5.25")),
                                {"cash": cash, "sales": sales})
    apply_postings(postings)
    assert (cash.balance, sales.balance) == (525, 525)


def test_each_currency_must_balance_on_its_own():
    accounts = {"usd": account("usd"), "eur": account("eur", currency_code="EUR"),
                "usd_in": account("usd_in", AccountType.INCOME), "eur_in": account("eur_in", AccountType.INCOME, "EUR")}
    crossed = entry(("usd", Side.DEBIT, "10"), ("eur_in", Side.CREDIT, "10"))
    error = refused(FaultCode.Unbalanced, prepare_postings, Book("B", "B"), crossed, accounts)
    assert "EUR credits exceed debits by 10.00" in error.message and "USD debits exceed credits by 10.00" in error.message
    both = entry(("usd", Side.DEBIT, "10"), ("usd_in", Side.CREDIT, "10"), ("eur", Side.DEBIT, "3"),
                 ("eur_in", Side.CREDIT, "3"))
    assert len(prepare_postings(Book("B", "B"), both, accounts)) == 4


def test_line_rules_name_the_offending_line():
    accounts = {"cash": account("cash"), "sales": account("sales", AccountType.INCOME)}
    book = Book("B", "B")
    assert refused(FaultCode.AccountNotFound, prepare_postings, book,
                   entry(("cash", Side.DEBIT, "1"), ("nope", Side.CREDIT, "1")), accounts).location == (
        "entry", "lines", 1, "account")
    assert refused(FaultCode.InvalidAmount, prepare_postings, book,
                   entry(("cash", Side.DEBIT, "1.001"), ("sales", Side.CREDIT, "1")), accounts).location == (
        "entry", "lines", 0, "amount")
    refused(FaultCode.TooFewLines, prepare_postings, book, entry(("cash", Side.DEBIT, "1")), accounts)
    refused(FaultCode.TooManyLines, prepare_postings, book, entry(*[("cash", Side.DEBIT, "1")] * 1001), accounts)
    accounts["sales"].status = AccountStatus.CLOSED
    refused(FaultCode.AccountClosed, prepare_postings, book, entry(("cash", Side.DEBIT, "1"), ("sales", Side.CREDIT, "1")),
            accounts)


def test_closed_period_refuses_entries_on_and_before_its_date():
    book = Book("B", "B", closed_through=date(2026, 1, 31))
    accounts = {"cash": account("cash"), "sales": account("sales", AccountType.INCOME)}
    lines = (("cash", Side.DEBIT, "1"), ("sales", Side.CREDIT, "1"))
    for day in (date(2026, 1, 31), date(2025, 12, 1)):
        refused(FaultCode.PeriodClosed, prepare_postings, book, entry(*lines, effective=day), accounts)
    assert prepare_postings(book, entry(*lines, effective=date(2026, 2, 1)), accounts)


def test_closing_a_period_only_moves_forward_and_never_into_the_future():
    book = Book("B", "B")
    assert book.close_through(date(2026, 3, 31), today=date(2026, 5, 1))
    assert not book.close_through(date(2026, 1, 31), today=date(2026, 5, 1))
    assert book.closed_through == date(2026, 3, 31)
    refused(FaultCode.SchemaValidation, book.close_through, date(2026, 5, 2), date(2026, 5, 1))


def test_guarded_account_reaches_zero_but_never_below():
    wallet, income = account("wallet", guarded=True), account("income", AccountType.INCOME)
    accounts = {"wallet": wallet, "income": income}
    book = Book("B", "B")
    apply_postings(prepare_postings(book, entry(("wallet", Side.DEBIT, "5"), ("income", Side.CREDIT, "5")), accounts))
    apply_postings(prepare_postings(book, entry(("wallet", Side.CREDIT, "5"), ("income", Side.DEBIT, "5")), accounts))
    assert wallet.balance == 0
    error = refused(FaultCode.InsufficientBalance, apply_postings,
                    prepare_postings(book, entry(("income", Side.DEBIT, "0.01"), ("wallet", Side.CREDIT, "0.01")), accounts))
    assert error.location == ("entry", "lines", 1, "amount")


def test_only_an_empty_account_closes():
    cash = account("cash")
    cash.posted_debits = 1
    refused(FaultCode.AccountNotEmpty, cash.close)
    cash.posted_credits = 1
    cash.close()
    assert cash.status is AccountStatus.CLOSED


def test_child_account_needs_an_open_parent_in_its_currency():
    parent = account("parent")
    spec = AccountSpec("child", "child", AccountType.ASSET, currency("EUR"), "parent")
    refused(FaultCode.CurrencyMismatch, open_account, spec, parent, NOW)
    refused(FaultCode.AccountNotFound, open_account, spec, None, NOW)
    parent.status = AccountStatus.CLOSED
    refused(FaultCode.AccountClosed, open_account,
            AccountSpec("child", "child", AccountType.ASSET, currency("USD"), "parent"), parent, NOW)


def test_fingerprint_treats_equal_amounts_as_equal_and_any_other_change_as_different():
    base = entry(("cash", Side.DEBIT, "10.5"), ("sales", Side.CREDIT, "10.5"))
    same = entry(("cash", Side.DEBIT, "10.50"), ("sales", Side.CREDIT, "1.05E+1"))
    other = entry(("cash", Side.DEBIT, "10.51"), ("sales", Side.CREDIT, "10.51"))
    moved = entry(("cash", Side.DEBIT, "10.5"), ("sales", Side.CREDIT, "10.5"), effective=date(2026, 2, 2))
    assert base.fingerprint == same.fingerprint
    assert len({base.fingerprint, other.fingerprint, moved.fingerprint}) == 3


def test_trial_balance_puts_each_net_position_in_one_column():
    cash, loan = account("cash"), account("loan", AccountType.LIABILITY)
    result = trial_balance(None, [(cash, 1500, 500), (loan, 0, 1000)])
    assert [(r.account, r.debit, r.credit) for r in result.rows] == [
        ("cash", Decimal("10.00"), Decimal("0.00")), ("loan", Decimal("0.00"), Decimal("10.00"))]
    assert [(t.currency, t.debit, t.credit) for t in result.totals] == [("USD", Decimal("10.00"), Decimal("10.00"))]


def test_page_tokens_are_bound_to_their_query_and_cannot_be_forged():
    key, query = b"k" * 32, {"kind": "statement", "account": "cash"}
    token = page_tokens.encode(key, query, {"running": 5})
    assert page_tokens.decode(key, query, token) == {"running": 5}
    payload, signature = token.split(".")
    forged = page_tokens.encode(b"x" * 32, query, {"running": 10**9})
    for bad in (forged, payload + "." + signature[::-1], "garbage", token + "x"):
        assert refused(FaultCode.SchemaValidation, page_tokens.decode, key, query, bad).location == ("pageToken",)
    refused(FaultCode.SchemaValidation, page_tokens.decode, key, {**query, "account": "other"}, token)


@pytest.mark.parametrize("path, field", [
    ("/s:Envelope/s:Body/tns:PostEntry/tns:entry/tns:lines/tns:line[2]/tns:amount", "entry.lines[1].amount"),
    ("/s:Envelope/s:Body/tns:PostEntry/tns:entry/tns:lines/tns:line/tns:side", "entry.lines[0].side"),
    ("/s:Envelope/s:Body/tns:OpenAccount/tns:account/tns:currency", "account.currency"),
    ("/s:Envelope/s:Body/tns:GetBalance", None),
    ("/s:Envelope/s:Body", None),
])
def test_schema_error_paths_become_contract_field_paths(path, field):
    assert field_path(schema_error_location(path)) == field


CONTRACT_SCHEMA = contracts()["soap11"].schema(SOAP11_ENV)


@pytest.mark.parametrize("body, field", [
    ("<l:GetBalance {ns}><l:book>B</l:book></l:GetBalance>", "account"),
    ("<l:GetBalance {ns}><l:account>A</l:account></l:GetBalance>", "book"),
    ("<l:PostEntry {ns}><l:book>B</l:book><l:entry><l:effectiveDate>2026-01-01</l:effectiveDate><l:lines/>"
     "</l:entry></l:PostEntry>", "entry.reference"),
    ("<l:PostEntry {ns}><l:book>B</l:book><l:entry><l:reference>R</l:reference><l:effectiveDate>2026-01-01"
     "</l:effectiveDate><l:lines><l:line><l:account>A</l:account><l:amount>1</l:amount></l:line></l:lines>"
     "</l:entry></l:PostEntry>", "entry.lines[0].side"),
])
def test_a_missing_element_is_named_as_the_offending_field(body, field):
    operation = body.format(ns='xmlns:l="urn:soap-ledger:v1"')
    root = etree.fromstring(f'<s:Envelope xmlns:s="{SOAP11_ENV}"><s:Body>{operation}</s:Body></s:Envelope>')
    [operation] = root[0]
    with pytest.raises(RequestRefused) as caught:
        validate(CONTRACT_SCHEMA, root, operation, frozenset({operation.tag}))
    assert (caught.value.error.code, field_path(caught.value.error.location)) == (FaultCode.SchemaValidation, field)


def test_the_schema_bounds_page_sizes_and_pending_timeouts_as_the_domain_does():
    schema = {"xs": "http://www.w3.org/2001/XMLSchema"}
    wsdl = etree.parse(str(Path(__file__).resolve().parents[1] / "wsdl" / "soap11.wsdl"))

    def restriction(name: str) -> etree._Element:
        [found] = wsdl.findall(f".//xs:simpleType[@name='{name}']/xs:restriction", schema)
        return found

    def bound(found: etree._Element, facet: str) -> int:
        return int(found.find(f"xs:{facet}", schema).get("value"))

    page_size, timeout = restriction("PageSize"), restriction("TimeoutSeconds")
    assert (bound(page_size, "minInclusive"), bound(page_size, "maxInclusive")) == (MIN_PAGE_SIZE, MAX_PAGE_SIZE)
    # xs:int bounds the timeout from above, at the domain's largest.
    assert (timeout.get("base"), bound(timeout, "minInclusive")) == ("xs:int", MIN_PENDING_TIMEOUT_SECONDS)
    assert MAX_PENDING_TIMEOUT_SECONDS == 2**31 - 1


def test_a_records_content_is_the_same_bytes_around_any_sequence():
    """What PostgreSQL writes when it gives a record its place (adapters/stores/journal.py) is the
    content the chain hashes, for any sequence, whatever the strings around it hold."""
    at = datetime(2026, 1, 5, 9, 2, tzinfo=timezone.utc)
    tricky = '","sequence":1,"x":"9\\"sequence\\":'
    record = journal.entry_recorded(Entry("e-1", "R-1", date(2026, 1, 5), at, tricky, EntryStatus.POSTED, (
        Line("cash", Side.DEBIT, Decimal("1.00"), "USD", tricky), Line("sales", Side.CREDIT, Decimal("1.00"), "USD"))))
    before, after = record.content_around_sequence()
    for sequence in (1, 2, 9, 10, 12345678901):
        assert before + str(sequence).encode() + after == record.content(sequence)
