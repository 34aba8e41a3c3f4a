"""A book's journal checked offline (docs/contract.md#journal-export): `ledger-service journal export`
writes it as the rows say, and `ledger-client verify-journal`, with no service and no credentials,
finds it intact, holds it against a head obtained earlier, and names the first broken sequence of a
file changed since."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli, unique
from test_client import ledger_client_command

LINES = {"line": [{"account": "cash", "side": "DEBIT", "amount": "1.25"},
                  {"account": "sales", "side": "CREDIT", "amount": "1.25"}]}


@pytest.fixture(scope="module")
def exported(server, tmp_path_factory):
    """A book whose journal spans more than one read of the exporter (1000 records), exported; and the
    head GetJournalHead gave before the export."""
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    entries = [{"reference": f"R{number}", "effectiveDate": "2026-02-01", "lines": LINES} for number in range(1100)]
    for start in range(0, len(entries), 550):
        book.service.PostEntries(book.code, {"entry": entries[start:start + 550]}, True)
    book.service.PostEntry(book.code, {"reference": "P", "effectiveDate": "2026-02-02", "lines": LINES,
                                       "pending": True})
    book.service.VoidPending(book.code, "P", "not needed")
    head = book.service.GetJournalHead(book.code)
    path = tmp_path_factory.mktemp("journal") / f"{book.code}.journal"
    result = cli("journal", "export", book.code, str(path), env={"LEDGER_DATABASE_URL": server.database_url})
    assert result.returncode == 0, result.stderr
    assert f"head: sequence {head.sequence}, hash {head.hash}" in result.stdout
    return path, head


def verify(path: Path, *options: str):
    return ledger_client_command("verify-journal", str(path), *options)


def rewritten(path: Path, change) -> Path:
    """A copy of the export with its record lines (the header left as it is) changed by `change`."""
    header, *records = path.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = path.with_name(unique("changed"))
    changed.write_text(header + "".join(change(records)), encoding="utf-8")
    return changed


def test_an_export_is_intact_and_holds_the_head_obtained_before_it(exported):
    path, head = exported
    # BookCreated, two accounts, 1100 entries, a pending entry and its void.
    assert head.sequence == 1 + 2 + 1100 + 2
    for options in ((), ("--head", head.hash)):
        result = verify(path, *options)
        assert result.returncode == 0, result.stderr
        assert f"{head.sequence} records, the last {head.sequence} with hash {head.hash}" in result.stdout
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["book"] == head.book and len(lines) == 1 + head.sequence


def test_a_head_the_export_does_not_hold_is_refused(exported):
    path, head = exported
    result = verify(path, "--head", "f" * 64)
    assert result.returncode == 3 and "no record has the hash" in result.stderr


@pytest.mark.parametrize("change, broken", [
    # An amount edited in record 500's canonical bytes.
    (lambda records: [r.replace('"amount":"125"', '"amount":"126"') if r.startswith("500 ") else r
                      for r in records], (500, "hash mismatch")),
    (lambda records: records[:699] + records[700:], (700, "missing record")),
    # Two lines swapped: the place of record 900 holds 901 first, so 900 is missing where it belongs.
    (lambda records: records[:899] + [records[900], records[899]] + records[901:], (900, "missing record")),
    # A record's own sequence changed: it says it is another record than the one its place holds.
    (lambda records: [r.replace('"sequence":800}', '"sequence":801}') if r.startswith("800 ") else r
                      for r in records], (800, "record out of order")),
    (lambda records: records[:1000], None),  # a journal cut short stays intact up to where it ends
])
def test_a_changed_export_names_its_first_broken_sequence(exported, change, broken):
    path, head = exported
    result = verify(rewritten(path, change))
    if broken is None:
        assert result.returncode == 0 and "1000 records" in result.stdout
        assert verify(rewritten(path, change), "--head", head.hash).returncode == 3
        return
    sequence, reason = broken
    assert result.returncode == 3
    assert f"broken at sequence {sequence}: {reason}" in result.stderr


def test_what_is_not_an_export_is_a_usage_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n", encoding="utf-8")
    result = verify(path)
    assert result.returncode == 2 and "is not a journal export" in result.stderr
    assert verify(tmp_path / "missing").returncode == 2


def test_exporting_a_book_that_does_not_exist_says_so(server, tmp_path):
    result = cli("journal", "export", "NO-SUCH-BOOK", str(tmp_path / "x"), env={"LEDGER_DATABASE_URL": server.database_url})
    assert result.returncode == 1 and "book NO-SUCH-BOOK does not exist" in result.stderr
    assert not (tmp_path / "x").exists()
