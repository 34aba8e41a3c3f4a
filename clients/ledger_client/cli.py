"""`ledger-client`: balances, statements, trial balances, accounts and entries from the command line;
posting, committing, voiding and reversing; and checking a journal export offline (`verify-journal`,
which needs no credentials and calls no service).

Credentials come from the environment (LEDGER_CLIENT_URL, LEDGER_CLIENT_USERNAME, LEDGER_CLIENT_PASSWORD)
or a config file (LEDGER_CLIENT_CONFIG, default ~/.config/soap-ledger/client.ini, section [ledger] with
url, username, password, and optionally digest, soap_version, timeout, retries), the environment
winning; never from a flag, which anyone on the machine could read in the process list. So do the
files of the X.509 identities (LEDGER_CLIENT_SIGNING_KEY, LEDGER_CLIENT_SIGNING_CERTIFICATE and
LEDGER_CLIENT_SIGNING_KEY_PASSWORD to sign requests, LEDGER_CLIENT_SERVICE_CERTIFICATE to check answers,
LEDGER_CLIENT_TLS_CERTIFICATE and LEDGER_CLIENT_TLS_KEY for mutual TLS; signing_key, … in the file), any
of which stands in for the username and password.

Exit status: 0 success, 2 a usage error, 3 the service refused (its fault code on stderr) or the journal
is broken (its first broken sequence on stderr), 4 no answer, 5 an answer the service's certificate does
not vouch for.
"""
from __future__ import annotations

import argparse
import configparser
import csv
import json
import os
import stat
import sys
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from itertools import groupby
from pathlib import Path
from typing import Mapping

from .client import LedgerClient
from .errors import AnswerNotVerified, LedgerError, TransportError
from .journal_chain import ExportError, check_export
from .models import AccountType, EntryInput, LineInput, Side
from .retries import RetryPolicy

EXIT_USAGE, EXIT_FAULT, EXIT_TRANSPORT, EXIT_NOT_VERIFIED = 2, 3, 4, 5
IDENTITIES = ("signing_key", "signing_certificate", "signing_key_password", "service_certificate",
              "tls_certificate", "tls_key")
SETTINGS = ("url", "username", "password", "digest", "soap_version", "timeout", "retries", *IDENTITIES)
SECRETS = ("password", "signing_key_password")
DEFAULT_CONFIG = Path("~/.config/soap-ledger/client.ini")
ENTRY_COLUMNS = ("reference", "effectiveDate", "description", "account", "side", "amount", "memo")
# A CSV column `meta.KEY` holds the entry's value of metadata key KEY, as `ledger-service import entries` reads it.
METADATA_PREFIX = "meta."


class UsageError(Exception):
    pass


# --- settings ---

def settings(environ: dict) -> dict:
    """The connection settings: the config file's [ledger] section, then LEDGER_CLIENT_* over it."""
    found: dict[str, str] = {}
    path = Path(environ.get("LEDGER_CLIENT_CONFIG") or DEFAULT_CONFIG).expanduser()
    if path.exists():
        parser = configparser.ConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as error:
            raise UsageError(f"{path} is not a config file: {error}") from None
        section = parser["ledger"] if parser.has_section("ledger") else {}
        found.update({key: section[key] for key in SETTINGS if key in section})
        if any(key in section for key in SECRETS) and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"ledger-client: warning: {path} holds a password and is readable by others "
                  f"(chmod 600 {path})", file=sys.stderr)
    found.update({key: environ[f"LEDGER_CLIENT_{key.upper()}"] for key in SETTINGS
                  if environ.get(f"LEDGER_CLIENT_{key.upper()}")})
    # A signature or a TLS client certificate identifies the client without a password.
    required = ("url", "username", "password") if found.get("username") or not (
        found.get("signing_key") or found.get("tls_certificate")) else ("url",)
    missing = [key for key in required if not found.get(key)]
    if missing:
        raise UsageError("missing " + ", ".join(f"LEDGER_CLIENT_{key.upper()}" for key in missing)
                         + f" (set them, or {' and '.join(missing)} in the [ledger] section of {path})"
                         + ("; or, for a client with a certificate, LEDGER_CLIENT_SIGNING_KEY and "
                            "LEDGER_CLIENT_SIGNING_CERTIFICATE, or LEDGER_CLIENT_TLS_CERTIFICATE"
                            if "password" in missing and "username" in missing else ""))
    return found


def connect(found: dict) -> LedgerClient:
    tls = found.get("tls_certificate")
    try:
        return LedgerClient(found["url"], found.get("username"), found.get("password"),
                            digest=found.get("digest", "").lower() in ("1", "true", "yes"),
                            soap_version=int(found.get("soap_version", 11)),
                            timeout=float(found.get("timeout", 30)),
                            retry=RetryPolicy(attempts=int(found.get("retries", 4))),
                            signing_key=found.get("signing_key"), signing_certificate=found.get("signing_certificate"),
                            signing_key_password=found.get("signing_key_password"),
                            service_certificate=found.get("service_certificate"),
                            client_certificate=(tls, found["tls_key"]) if tls and found.get("tls_key") else tls)
    except (ValueError, ImportError) as error:
        raise UsageError(str(error)) from None


# --- output ---

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def record(value) -> dict:
    """A result as the contract names its fields, with money and dates as exact strings."""
    return {_camel(f.name): _json(getattr(value, f.name)) for f in fields(value) if f.name != "error"}


def _json(value):
    if is_dataclass(value):
        return record(value)
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return None if value is None else value if isinstance(value, (bool, int, str)) else _text(value)


def table(rows: list[dict], out) -> None:
    if not rows:
        return
    columns = list(rows[0])
    cells = [[_text(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    for line in [columns, ["-" * width for width in widths], *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip(), file=out)


def emit(rows: list[dict], form: str, out, whole=None) -> None:
    """Rows as a table or CSV; JSON writes `whole` (a result object) when given, else the rows."""
    if form == "json":
        json.dump(whole if whole is not None else rows, out, indent=2)
        out.write("\n")
    elif form == "csv":
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows({key: _text(value) for key, value in row.items()} for row in rows)
    else:
        table(rows, out)


# --- commands ---

def balance(client: LedgerClient, args, out) -> None:
    found = record(client.get_balance(args.book, args.account, args.as_of))
    emit([found], args.format, out, whole=found)


def statement(client: LedgerClient, args, out) -> None:
    if args.format == "camt053":
        _write_document(client.get_camt_statement(args.book, args.account, args.from_date, args.to_date).document,
                        out)
        return
    pages = list(client.statement_pages(args.book, args.account, args.from_date, args.to_date))
    first = pages[0]
    rows = [record(line) for page in pages for line in page.lines]
    whole = {**record(first), "lines": rows}
    del whole["nextPageToken"]
    if args.format == "table":
        print(f"{first.account} ({first.currency}) from {first.from_date} to {first.to_date}", file=out)
        print(f"opening balance {_text(first.opening_balance)}", file=out)
        table(rows, out)
        print(f"closing balance {_text(first.closing_balance)}", file=out)
    else:
        emit(rows, args.format, out, whole=whole)


def _write_document(document: bytes, out) -> None:
    """The document's bytes as they came, where `out` takes bytes; its text otherwise."""
    if hasattr(out, "buffer"):
        out.flush()
        out.buffer.write(document)
        out.buffer.flush()
    else:
        out.write(document.decode("utf-8"))


def trial_balance(client: LedgerClient, args, out) -> None:
    found = client.get_trial_balance(args.book, args.as_of)
    rows = [record(row) for row in found.rows]
    if args.format == "table":
        table(rows + [{"account": "total", "name": "", "type": "", "currency": total.currency,
                       "debit": total.debit, "credit": total.credit} for total in found.totals], out)
    else:
        emit(rows, args.format, out, whole=record(found))


def accounts(client: LedgerClient, args, out) -> None:
    rows = [record(account) for account in client.iter_accounts(args.book, args.type, args.prefix)]
    emit(rows, args.format, out)


def post(client: LedgerClient, args, out) -> None:
    """One entry from its lines (JSON: the entry), or a file's entries, all or none (JSON: a list,
    however many the file holds)."""
    if not args.file:
        posted = client.post_entry(args.book, entry_from_arguments(args))
        emit([_entry_summary(posted)], args.format, out, whole=record(posted))
        return
    posted = [result.entry for result in client.post_entries(args.book, entries_from_file(args.file), atomic=True)]
    emit([_entry_summary(e) for e in posted], args.format, out, whole=[record(e) for e in posted])


def _entry_summary(entry) -> dict:
    return {"reference": entry.reference, "id": entry.id, "effectiveDate": entry.effective_date,
            "status": entry.status, "recordedAt": entry.recorded_at}


def _metadata_text(metadata: Mapping[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in metadata.items())


def entries(client: LedgerClient, args, out) -> None:
    """The entries ListEntries finds, every page: a row each (its metadata as key=value, ...); JSON the whole."""
    key, with_value, value = (args.meta or "").partition("=")
    found = list(client.iter_entries(args.book, args.from_date, args.to_date, args.account, key or None,
                                     value if with_value else None))
    rows = [{**_entry_summary(entry), "description": entry.description, "metadata": _metadata_text(entry.metadata)}
            for entry in found]
    emit(rows, args.format, out, whole=[record(entry) for entry in found])


def show_entry(entry, form: str, out) -> None:
    """An entry: a table of its lines under a line that names it; CSV one row per line; JSON the whole."""
    whole = record(entry)
    rows = [{"reference": entry.reference, "status": entry.status, **record(line)} for line in entry.lines]
    if form == "table":
        named = [f"{entry.reference} {_text(entry.status)} effective {_text(entry.effective_date)}"]
        named += [f"{label} {value}" for label, value in (("reversal of", entry.reversal_of),
                                                          ("reversed by", entry.reversed_by)) if value]
        print(", ".join(named), file=out)
        if entry.description:
            print(entry.description, file=out)
        if entry.metadata:
            print(f"metadata {_metadata_text(entry.metadata)}", file=out)
        table([record(line) for line in entry.lines], out)
    else:
        emit(rows, form, out, whole=whole)


def get_entry(client: LedgerClient, args, out) -> None:
    show_entry(client.get_entry(args.book, args.reference), args.format, out)


def commit(client: LedgerClient, args, out) -> None:
    lines = tuple(parse_line(text) for text in args.lines) or None
    show_entry(client.commit_pending(args.book, args.reference, lines), args.format, out)


def void(client: LedgerClient, args, out) -> None:
    show_entry(client.void_pending(args.book, args.reference, args.reason), args.format, out)


def reverse(client: LedgerClient, args, out) -> None:
    show_entry(client.reverse_entry(args.book, args.reference, args.reversal_reference, args.date, args.reason),
               args.format, out)


def entry_from_arguments(args) -> EntryInput:
    if not args.reference or not args.date or len(args.lines) < 2:
        raise UsageError("post needs --reference, --date and at least two lines ACCOUNT:SIDE:AMOUNT[:MEMO] "
                         "(or --file FILE)")
    return EntryInput(args.reference, args.date, tuple(parse_line(text) for text in args.lines), args.description,
                      args.pending, args.timeout, dict(parse_metadata(text) for text in args.meta) or None)


def parse_metadata(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise UsageError(f"{text!r} is not KEY=VALUE")
    return key, value


def parse_line(text: str) -> LineInput:
    parts = text.split(":", 3)
    if len(parts) < 3 or parts[1].upper() not in Side.__members__:
        raise UsageError(f"{text!r} is not ACCOUNT:DEBIT|CREDIT:AMOUNT[:MEMO]")
    return LineInput(parts[0], Side(parts[1].upper()), _amount(parts[2]), parts[3] if len(parts) == 4 else None)


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise UsageError(f"{text!r} is not an amount") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def entries_from_file(path: str) -> list[EntryInput]:
    """A JSON file (one entry or a list, fields named as the contract names them, `metadata` an object of
    keys and values) or a CSV file with one row per line, `reference,effectiveDate,description,account,
    side,amount,memo` and a `meta.KEY` column per metadata key (its value from the entry's first row),
    consecutive rows of one reference forming one entry."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    try:
        if path.endswith(".json"):
            document = json.loads(text)
            return [_entry_from_json(item) for item in (document if isinstance(document, list) else [document])]
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or set(ENTRY_COLUMNS) - set(rows[0]):
            raise UsageError(f"{path} needs the columns {','.join(ENTRY_COLUMNS)}")
        return [EntryInput(reference, _day(group[0]["effectiveDate"]), tuple(
            LineInput(row["account"], Side(row["side"].upper()), _amount(row["amount"]), row["memo"] or None)
            for row in group), group[0]["description"] or None, metadata={
                column[len(METADATA_PREFIX):]: value for column, value in group[0].items()
                if column.startswith(METADATA_PREFIX) and value} or None)
            for reference, group in ((key, list(items)) for key, items in groupby(rows, key=lambda r: r["reference"]))]
    except (KeyError, ValueError, TypeError, argparse.ArgumentTypeError) as error:
        raise UsageError(f"{path}: {error}") from None


def _entry_from_json(item: dict) -> EntryInput:
    return EntryInput(item["reference"], _day(item["effectiveDate"]), tuple(
        LineInput(line["account"], Side(line["side"].upper()), _amount(str(line["amount"])), line.get("memo"))
        for line in item["lines"]), item.get("description"), bool(item.get("pending")),
        item.get("pendingTimeoutSeconds"), item.get("metadata"))


def verify_journal(args, out) -> int:
    """Checks a journal export (`ledger-service journal export`) with no service: the chain of hashes from
    its first record, and with --head, that a record obtained earlier is in it with nothing before it
    changed."""
    try:
        with open(args.file, encoding="utf-8") as file:
            checked = check_export(file, args.head)
    except OSError as error:
        raise UsageError(f"cannot read {args.file}: {error.strerror}") from None
    except (ExportError, UnicodeDecodeError) as error:
        raise UsageError(f"{args.file} is not a journal export: {error}") from None
    if checked.broken is not None:
        print(f"journal of book {checked.book} broken at sequence {checked.broken.sequence}: "
              f"{checked.broken.reason.value}", file=sys.stderr)
        return EXIT_FAULT
    if checked.head_found is False:
        print(f"journal of book {checked.book}: no record has the hash {args.head}: a record up to it was changed "
              "or removed, or the head is of another book", file=sys.stderr)
        return EXIT_FAULT
    print(f"journal of book {checked.book} intact: {checked.records} records, the last {checked.last_sequence} "
          f"with hash {checked.last_hash}", file=out)
    return 0


# --- the command line ---

def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ledger-client", description=__doc__.split("\n\n")[0],
                                  epilog="Credentials: LEDGER_CLIENT_URL, LEDGER_CLIENT_USERNAME, LEDGER_CLIENT_PASSWORD "
                                         "(or LEDGER_CLIENT_SIGNING_KEY and LEDGER_CLIENT_SIGNING_CERTIFICATE, "
                                         "LEDGER_CLIENT_SERVICE_CERTIFICATE, LEDGER_CLIENT_TLS_CERTIFICATE and "
                                         "LEDGER_CLIENT_TLS_KEY) or a config file (LEDGER_CLIENT_CONFIG). Exit "
                                         "status: 0 ok, 2 usage, 3 a ledger fault, 4 no answer, 5 an answer that "
                                         "did not verify.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run, help: str, formats: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("book")
        sub.add_argument("--format", choices=("table", "json", "csv", *formats), default="table")
        sub.set_defaults(run=run)
        return sub

    sub = command("balance", balance, "an account's balance, now or as of a date")
    sub.add_argument("account")
    sub.add_argument("--as-of", type=_day)
    sub = command("statement", statement, "an account's statement lines between two dates, every page; with "
                  "--format camt053 the ISO 20022 camt.053.001.08 document of the period", ("camt053",))
    sub.add_argument("account")
    sub.add_argument("--from", dest="from_date", type=_day, required=True)
    sub.add_argument("--to", dest="to_date", type=_day, required=True)
    sub = command("trial-balance", trial_balance, "every account's debit or credit, with totals per currency")
    sub.add_argument("--as-of", type=_day)
    sub = command("accounts", accounts, "the book's accounts, every page")
    sub.add_argument("--type", type=lambda text: AccountType(text.upper()), help="ASSET, EXPENSE, LIABILITY, ...")
    sub.add_argument("--prefix")
    sub = command("post", post, "post one entry from its lines, or the entries of a JSON or CSV file")
    sub.add_argument("lines", nargs="*", metavar="ACCOUNT:SIDE:AMOUNT[:MEMO]")
    sub.add_argument("--file", help="entries in JSON (.json) or CSV (one row per line)")
    sub.add_argument("--reference")
    sub.add_argument("--date", type=_day, help="effective date, YYYY-MM-DD")
    sub.add_argument("--description")
    sub.add_argument("--pending", action="store_true", help="reserve the amounts (two-phase)")
    sub.add_argument("--timeout", type=int, help="seconds before a pending entry expires")
    sub.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                     help="a metadata item of the entry (repeat for more)")
    sub = command("entries", entries, "the book's entries effective between two dates in journal order, every "
                  "page, optionally only those on an account or carrying a metadata key (and value)")
    sub.add_argument("--from", dest="from_date", type=_day, required=True)
    sub.add_argument("--to", dest="to_date", type=_day, required=True)
    sub.add_argument("--account")
    sub.add_argument("--meta", metavar="KEY[=VALUE]", help="only entries carrying KEY (with that VALUE)")
    sub = command("entry", get_entry, "one entry, by its reference")
    sub.add_argument("reference")
    sub = command("commit", commit, "post what a pending entry reserved; with lines, only those amounts")
    sub.add_argument("reference")
    sub.add_argument("lines", nargs="*", metavar="ACCOUNT:SIDE:AMOUNT[:MEMO]")
    sub = command("void", void, "release what a pending entry reserved")
    sub.add_argument("reference")
    sub.add_argument("--reason")
    sub = command("reverse", reverse, "post the entry that undoes a posted one, under a new reference")
    sub.add_argument("reference")
    sub.add_argument("reversal_reference")
    sub.add_argument("--date", type=_day, help="the reversal's effective date (default: the original's, or the "
                                               "first open day after a closed period)")
    sub.add_argument("--reason", help="the reversal's description")
    sub = commands.add_parser("verify-journal", help="check a journal export offline",
                              description=verify_journal.__doc__.split("\n\n")[0])
    sub.add_argument("file", help="the file `ledger-service journal export BOOK FILE` wrote")
    sub.add_argument("--head", help="a record's hash obtained earlier (GetJournalHead): the export must hold it, "
                                    "with nothing before it changed")
    sub.set_defaults(offline=verify_journal)
    return top


def main(argv: list[str] | None = None, environ: dict | None = None, out=None) -> int:
    out = out or sys.stdout
    top = parser()
    try:
        # A post's (or commit's) lines may come after its options, which argparse leaves over.
        args, left = top.parse_known_args(argv)
        if left and (args.command not in ("post", "commit") or any(item.startswith("-") for item in left)):
            top.error(f"unrecognized arguments: {' '.join(left)}")
        if left:
            args.lines += left
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if hasattr(args, "offline"):
            return args.offline(args, out)
        with connect(settings(os.environ if environ is None else environ)) as client:
            args.run(client, args, out)
    except UsageError as error:
        print(f"ledger-client: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LedgerError as error:
        print(str(error), file=sys.stderr)
        return EXIT_FAULT
    except TransportError as error:
        print(f"ledger-client: no answer from the ledger: {error}", file=sys.stderr)
        return EXIT_TRANSPORT
    except AnswerNotVerified as error:
        print(f"ledger-client: not the service's answer: {error}", file=sys.stderr)
        return EXIT_NOT_VERIFIED
    return 0


if __name__ == "__main__":
    sys.exit(main())
