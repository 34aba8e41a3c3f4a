"""`ledger-service`: run, migrate and administer the ledger. Every command reads the LEDGER_* settings
(LEDGER_DATABASE_URL above all) once, as it starts, and stops at a malformed one."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import date
from pathlib import Path

from . import admin
from .commands import contract as contract_commands, fixtures as fixture_commands, loading
from .adapters.camt053 import camt053_document
from .adapters.certificates import read_certificate_file
from .adapters.database import Database, sqlite_file
from .adapters.passwords import generate_password
from .adapters.secret_box import KEY_VARIABLE
from .domain.errors import LedgerError
from .logs import configure
from .settings import Settings, SettingError, reference_table

EXIT_FAILED = 1
log = logging.getLogger(__name__)


def _serve(args, database: Database) -> int:
    from .server import run

    configure(args.settings.log_level or "INFO")  # what serve writes is the service's log, JSON like the workers'
    # The schema is checked (a new SQLite file migrated) in a child process: the migration tooling it loads,
    # about 9 MiB, then stays out of this process, which becomes gunicorn's master and forks every worker.
    child = os.fork()
    if child == 0:
        try:
            code = _prepare_schema(database)
        except BaseException:
            log.exception("the database schema could not be checked", extra={"database": database.location})
            code = EXIT_FAILED
        os._exit(code)
    code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    if code != 0:
        return code
    database.dispose()
    run(bind=args.bind, workers=args.workers)
    return 0


def _prepare_schema(database: Database) -> int:
    file = sqlite_file(database.url)
    state = "empty" if file is not None and not file.exists() else database.schema_state()
    if state == "empty":
        log.info("empty database: migrating it first", extra={"database": database.location})
        database.migrate()
    elif state == "outdated":
        log.error("the database schema is older than this release: run `ledger-service migrate` first",
                  extra={"database": database.location})
        return EXIT_FAILED
    return 0


def _migrate(args, database: Database) -> int:
    database.migrate()
    print(f"database schema is up to date ({database.location})")
    return 0


def _books_create(args, database: Database) -> int:
    admin.create_book(database, args.code, args.name)
    print(f"book {args.code} created")
    return 0


def _read_password(from_stdin: bool, certificate) -> tuple[str | None, bool]:
    """The new client's password, and whether it was generated: from stdin when asked, else none for a
    client with a certificate, else a generated one."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if certificate is not None:
        return None, False
    return generate_password(), True


def _clients_add(args, database: Database) -> int:
    certificate = read_certificate_file(Path(args.certificate)) if args.certificate else None
    password, generated = _read_password(args.password_stdin, certificate)
    secret_box = args.settings.secret_key
    admin.add_client(database, args.name, password, args.system_admin, [admin.Grant.parse(g) for g in args.grant],
                     secret_box=secret_box, rate_limit=_rate_limit(args), certificate=certificate,
                     require_signature=args.require_signature)
    if generated:
        print(password)
    print(f"client {args.name} added", file=sys.stderr)
    if password is None:
        print(f"client {args.name} has no password: it authenticates with its certificate only", file=sys.stderr)
    elif secret_box is None:
        print(f"{KEY_VARIABLE} is not set: client {args.name} can use PasswordText but not PasswordDigest",
              file=sys.stderr)
    return 0


def _clients_certificate(args, database: Database) -> int:
    certificate = None if args.remove else read_certificate_file(Path(args.file))
    has_password = admin.register_certificate(database, args.name, certificate)
    if certificate is None:
        print(f"client {args.name} has no certificate"
              + ("" if has_password else ", and no password: it cannot authenticate any more"))
    else:
        print(f"client {args.name} is registered with the certificate {_described(certificate.certificate)}")
    return 0


def _clients_require_signature(args, database: Database) -> int:
    admin.require_signature(database, args.name, not args.off)
    print(f"client {args.name}: " + ("requests signed or not, as it authenticates" if args.off else
                                     "every request must be signed with its certificate's key"))
    return 0


def _described(certificate) -> str:
    return (f"SHA-256 {certificate.sha256}, subject {certificate.subject}, issuer {certificate.issuer}, "
            f"serial {certificate.serial_number}, valid {certificate.not_before:%Y-%m-%d %H:%M} to "
            f"{certificate.not_after:%Y-%m-%d %H:%M} UTC")


def _clients_rekey(args, database: Database) -> int:
    secret_box = args.settings.secret_key
    if secret_box is None:
        print(f"ledger-service: {KEY_VARIABLE} is not set", file=sys.stderr)
        return EXIT_FAILED
    count = admin.rekey_secrets(database, secret_box)
    print(f"{count} client secret(s) encrypted under the first key of {KEY_VARIABLE}")
    return 0


def _rate_limit(args):
    if args.rate is None:
        if args.burst is not None:
            raise admin.AdminError("--burst needs --rate")
        return None
    return admin.parse_rate_limit(args.rate, args.burst)


def _clients_limit(args, database: Database) -> int:
    rate_limit = None if args.no_limit else _rate_limit(args)
    if rate_limit is None and args.burst is not None:
        raise admin.AdminError("--burst goes with --rate, not --no-limit")
    admin.limit_client(database, args.name, rate_limit)
    print(f"client {args.name}: {f'rate limit {rate_limit}' if rate_limit else 'no rate limit'}")
    return 0


def _clients_list(args, database: Database) -> int:
    clients = admin.list_clients(database)
    print(f"{'NAME':<24} {'SYSTEM ADMIN':<13} {'DISABLED':<9} {'SIGNATURE':<10} {'RATE LIMIT':<24} GRANTS")
    for client in clients:
        grants = ", ".join(f"{g.book}:{g.role.name}" for g in client.grants) or "-"
        print(f"{client.name:<24} {'yes' if client.system_admin else 'no':<13} "
              f"{'yes' if client.disabled else 'no':<9} {'required' if client.require_signature else '-':<10} "
              f"{str(client.rate_limit or '-'):<24} {grants}")
        if client.certificate is not None:
            print(f"  certificate {_described(client.certificate)}")
    return 0


def _clients_disable(args, database: Database) -> int:
    admin.disable_client(database, args.name)
    print(f"client {args.name} disabled")
    return 0


def _clients_grant(args, database: Database) -> int:
    grant = admin.Grant.parse(args.grant)
    admin.grant(database, args.name, grant)
    print(f"client {args.name} is {grant.role.name} of book {grant.book}")
    return 0


def _journal_export(args, database: Database) -> int:
    """Writes the export beside FILE first and moves it into place once complete: a reader of FILE never
    sees half an export, and a transaction run again starts the file afresh."""
    target = Path(args.file)
    partial = target.with_name(target.name + ".partial")
    written, head = admin.export_journal(database, args.book, lambda: partial.open("w", encoding="utf-8"))
    partial.replace(target)
    print(f"journal of book {head.book}: {written} records written to {target}; head: sequence {head.sequence}, "
          f"hash {head.hash}")
    return 0


def _export_camt053(args, database: Database) -> int:
    """The document GetCamtStatement returns, to FILE (written beside it and moved into place) or stdout."""
    exported = camt053_document(admin.export_camt053(database, args.book, args.account, args.from_date, args.to_date))
    if args.file is None:
        sys.stdout.buffer.write(exported.document)
        sys.stdout.buffer.flush()
        return 0
    target = Path(args.file)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(exported.document)
    partial.replace(target)
    print(f"camt.053 statement {exported.message_id} of account {args.account} written to {target}", file=sys.stderr)
    return 0


def _settings_show(args, database: Database | None) -> int:
    shown = args.settings.shown()
    width = max(len(variable) for variable, _ in shown)
    for variable, value in shown:
        print(f"{variable:<{width}} {value}")
    return 0


def _settings_reference(args, database: Database | None) -> int:
    print(reference_table(), end="")
    return 0


def _rate_limit_options(command: argparse.ArgumentParser, exclusive: bool = False):
    group = command.add_mutually_exclusive_group(required=True) if exclusive else command
    group.add_argument("--rate", metavar="N/s|N/min", help="requests the client may make, sustained")
    command.add_argument("--burst", type=int, metavar="B",
                         help="requests it may make at once (default: one second's worth of --rate)")
    return group


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ledger-service", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service under gunicorn (migrates an empty database first)")
    serve.add_argument("--bind", metavar="HOST:PORT", help="default: LEDGER_BIND, else 127.0.0.1:8000")
    serve.add_argument("--workers", type=int, metavar="N", help="default: LEDGER_WORKERS, else two per core")
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="upgrade the database schema to this release").set_defaults(run=_migrate)

    books = commands.add_parser("books", help="manage books").add_subparsers(dest="books", required=True)
    create = books.add_parser("create", help="create a book")
    create.add_argument("code")
    create.add_argument("--name", required=True)
    create.set_defaults(run=_books_create)

    clients = commands.add_parser("clients", help="manage API clients").add_subparsers(dest="clients", required=True)
    add = clients.add_parser("add", help="add a client; prints a generated password unless one comes on stdin")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.add_argument("--system-admin", action="store_true", help="may create books")
    add.add_argument("--grant", action="append", default=[], metavar="BOOK:ROLE",
                     help="role reader, poster or admin on a book; repeat for several")
    add.add_argument("--certificate", metavar="FILE.pem",
                     help="the client's X.509 certificate (one PEM certificate): mutual TLS and signed requests "
                          "authenticate as the client; without --password-stdin, the client then has no password")
    add.add_argument("--require-signature", action="store_true",
                     help="refuse every request of the client not signed with the certificate's key")
    _rate_limit_options(add)
    add.set_defaults(run=_clients_add)
    clients.add_parser("list", help="list clients, their grants and certificates").set_defaults(run=_clients_list)
    certificate = clients.add_parser("certificate", help="register a client's certificate in place of any it had, "
                                                         "or remove it")
    certificate.add_argument("name")
    file_or_remove = certificate.add_mutually_exclusive_group(required=True)
    file_or_remove.add_argument("file", metavar="FILE.pem", nargs="?", help="one PEM certificate")
    file_or_remove.add_argument("--remove", action="store_true", help="remove the client's certificate")
    certificate.set_defaults(run=_clients_certificate)
    signature = clients.add_parser("require-signature", help="refuse every request of a client not signed with its "
                                                             "certificate's key (--off: no longer)")
    signature.add_argument("name")
    signature.add_argument("--off", action="store_true", help="accept the client's requests signed or not")
    signature.set_defaults(run=_clients_require_signature)
    clients.add_parser("rekey", help=f"encrypt every stored client secret again under the first key of {KEY_VARIABLE}"
                       ).set_defaults(run=_clients_rekey)
    limit = clients.add_parser("limit", help="set or lift a client's rate limit, shared by every worker")
    limit.add_argument("name")
    choice = _rate_limit_options(limit, exclusive=True)
    choice.add_argument("--no-limit", action="store_true", help="lift the client's rate limit")
    limit.set_defaults(run=_clients_limit)
    disable = clients.add_parser("disable", help="refuse every further request of a client")
    disable.add_argument("name")
    disable.set_defaults(run=_clients_disable)
    grant = clients.add_parser("grant", help="give a client a role on a book")
    grant.add_argument("name")
    grant.add_argument("grant", metavar="BOOK:ROLE")
    grant.set_defaults(run=_clients_grant)

    settings = commands.add_parser("settings", help="the LEDGER_* settings").add_subparsers(dest="settings_command",
                                                                                          required=True)
    settings.add_parser("show", help="print each setting as in effect here, secrets masked"
                        ).set_defaults(run=_settings_show, no_database=True)
    settings.add_parser("reference", help="print the settings' reference table (docs/operations.md), in Markdown"
                        ).set_defaults(run=_settings_reference, no_database=True, no_settings=True)

    contract = commands.add_parser("contract", help="the WSDL contract").add_subparsers(dest="contract", required=True)
    export = contract.add_parser("export", help="write the WSDL documents the service serves")
    export.add_argument("--directory", default="wsdl")
    export.set_defaults(run=contract_commands.export, no_database=True)
    check = contract.add_parser("check", help="list the changes that would break consumers of the baseline contract")
    check.add_argument("--baseline", default="wsdl/baseline/v1", metavar="DIR")
    check.add_argument("--directory", default="wsdl", metavar="DIR")
    check.set_defaults(run=contract_commands.check, no_database=True)

    journal = commands.add_parser("journal", help="a book's hash-chained journal").add_subparsers(
        dest="journal", required=True)
    export_journal = journal.add_parser("export", help="write the book's journal records, their content rebuilt from "
                                                       "the stored rows, for `ledger-client verify-journal`")
    export_journal.add_argument("book")
    export_journal.add_argument("file")
    export_journal.set_defaults(run=_journal_export)

    exporting = commands.add_parser("export", help="documents for other systems").add_subparsers(
        dest="format", required=True)
    camt053 = exporting.add_parser("camt053", help="an account's statement for a period as an ISO 20022 camt.053.001.08 "
                                                   "document, the one GetCamtStatement returns")
    for positional in ("book", "account"):
        camt053.add_argument(positional)
    for option, day in (("--from", "from_date"), ("--to", "to_date")):
        camt053.add_argument(option, dest=day, required=True, type=date.fromisoformat, metavar="DATE")
    camt053.add_argument("file", nargs="?", metavar="FILE", help="default: standard output")
    camt053.set_defaults(run=_export_camt053)

    importing = commands.add_parser("import", help="load a chart of accounts or entries from CSV")
    kinds = importing.add_subparsers(dest="kind", required=True)
    for kind, columns in (("accounts", "code,name,type,currency,parentCode,noNegativeBalance"),
                          ("entries", "reference,effectiveDate,description,account,side,amount,memo")):
        load = kinds.add_parser(kind, help=f"load {kind} from a UTF-8 CSV file with the header {columns}; "
                                           "loading it again does nothing twice")
        load.add_argument("book")
        load.add_argument("file", metavar="FILE.csv")
        load.set_defaults(run=loading.load)

    fixtures = commands.add_parser("fixtures", help="envelope fixtures").add_subparsers(dest="fixtures", required=True)
    replay = fixtures.add_parser("run", help="replay envelope fixtures against a live service (exit 0 when none fails)")
    replay.add_argument("directory", metavar="DIR", help="a folder of <Operation>/<case>/ fixtures")
    replay.add_argument("--url", required=True, help="the service's base URL, such as http://127.0.0.1:8000")
    replay.add_argument("--username", default="admin", help="a system administrator of the service")
    replay.add_argument("--password-stdin", action="store_true",
                        help="read the passwords from stdin, one a line: --username's, then each --as's")
    replay.add_argument("--as", dest="identities", action="append", default=[], metavar="ROLE=NAME",
                        help="another client, named {{ROLE.username}} in fixtures (other: one with no grants; "
                             "limited: one with a rate limit of one request a minute)")
    replay.add_argument("--no-digest", action="store_true",
                        help="skip the cases that send PasswordDigest (the client has no stored secret)")
    replay.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    replay.add_argument("--record", action="store_true",
                        help="write each response the service gives into the step's response.xml, for review")
    replay.set_defaults(run=fixture_commands.run, no_database=True)
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    # argparse gives an optional positional (export's FILE) only the place before the options; after them
    # it is left over.
    args, left = top.parse_known_args(argv)
    if left and getattr(args, "file", "") is None and len(left) == 1 and not left[0].startswith("-"):
        args.file, left = left[0], []
    if left:
        top.error(f"unrecognized arguments: {' '.join(left)}")
    if getattr(args, "no_settings", False):
        return args.run(args, None)
    if args.run is _serve:
        from .server import settings_or_exit

        args.settings = settings_or_exit()  # what serve writes is the service's log, JSON like the workers'
    else:
        try:
            args.settings = Settings.from_environment()
        except SettingError as malformed:
            print(f"ledger-service: {malformed}", file=sys.stderr)
            return EXIT_FAILED
    configure(args.settings.log_level or "WARNING")
    database = None if getattr(args, "no_database", False) else Database(args.settings.database_url)
    try:
        if database is not None and args.run not in (_serve, _migrate):
            problem = database.unready()
            if problem:
                print(f"ledger-service: {problem}", file=sys.stderr)
                return EXIT_FAILED
        return args.run(args, database)
    except (admin.AdminError, LedgerError) as error:
        print(f"ledger-service: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if database is not None:
            database.dispose()


if __name__ == "__main__":
    sys.exit(main())
