"""The ledger-service command: serve, migrate, books and clients (their certificates too), run as a user
runs them."""
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from cryptography import x509
from cryptography.fernet import Fernet

from certificates import CertificateAuthority, utc_now
from conftest import LiveServer, cli, fault_code, free_port, unique


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'var' / 'ledger.db'}"


def test_serve_migrates_an_empty_database_and_is_ready_to_call(tmp_path, sqlite_url):
    server = LiveServer(sqlite_url)
    try:
        server.start(tmp_path)
        assert "migrating" in server.log()
        name, password = server.add_client(system_admin=True)
        assert server.zeep(name, password).service.CreateBook(unique("B"), "Fresh").name == "Fresh"
    finally:
        server.stop()


def test_serve_refuses_a_database_from_another_release(tmp_path, sqlite_url):
    assert cli("migrate", env={"LEDGER_DATABASE_URL": sqlite_url}).returncode == 0
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from-another-release'")
    result = cli("serve", "--bind", "127.0.0.1:1", env={"LEDGER_DATABASE_URL": sqlite_url})
    assert result.returncode == 1 and "ledger-service migrate" in result.stderr


def test_clients_are_added_listed_granted_and_disabled(sqlite_server):
    env = {"LEDGER_DATABASE_URL": sqlite_server.database_url}
    book = unique("B")
    assert cli("books", "create", book, "--name", "Operations", env=env).returncode == 0

    generated = cli("clients", "add", unique("gen"), "--grant", f"{book}:reader", env=env)
    assert generated.returncode == 0 and len(generated.stdout.strip()) >= 24

    clerk = unique("clerk")
    added = cli("clients", "add", clerk, "--password-stdin", "--grant", f"{book}:reader", env=env,
                input="clerk-password\n")
    assert added.returncode == 0 and added.stdout == ""
    clerk_service = sqlite_server.zeep(clerk, "clerk-password").service
    assert fault_code(clerk_service.OpenAccount, book, {"code": "1000", "name": "Cash", "type": "ASSET",
                                                        "currency": "USD"}) == "NotAuthorized"

    assert cli("clients", "grant", clerk, f"{book}:admin", env=env).returncode == 0
    assert clerk_service.OpenAccount(book, {"code": "1000", "name": "Cash", "type": "ASSET",
                                            "currency": "USD"}).code == "1000"

    listing = cli("clients", "list", env=env).stdout
    assert any(line.split()[0] == clerk and f"{book}:admin" in line for line in listing.splitlines())
    assert "clerk-password" not in listing

    assert cli("clients", "disable", clerk, env=env).returncode == 0
    assert fault_code(clerk_service.GetAccount, book, "1000") == "AuthenticationFailed"


@pytest.mark.parametrize("arguments, message", [
    (["clients", "add", "someone", "--grant", "NO-SUCH-BOOK:reader"], "does not exist"),
    (["clients", "add", "someone", "--grant", "BOOK:owner"], "not BOOK:ROLE"),
    (["clients", "grant", "nobody-here", "BOOK:reader"], "no client nobody-here"),
    (["clients", "disable", "nobody-here"], "no client nobody-here"),
])
def test_operator_mistakes_are_explained_and_change_nothing(sqlite_server, arguments, message):
    env = {"LEDGER_DATABASE_URL": sqlite_server.database_url}
    result = cli(*arguments, env=env)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert "someone" not in cli("clients", "list", env=env).stdout


def test_existing_client_or_book_is_refused(sqlite_server):
    env = {"LEDGER_DATABASE_URL": sqlite_server.database_url}
    book = unique("B")
    assert cli("books", "create", book, "--name", "One", env=env).returncode == 0
    again = cli("books", "create", book, "--name", "Two", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    twice = cli("clients", "add", "admin", env=env)
    assert twice.returncode == 1 and "already exists" in twice.stderr


def test_usage_errors_exit_2(sqlite_server):
    assert cli("clients", "frobnicate").returncode == 2
    assert cli("books", "create", "X").returncode == 2


def test_healthz_reports_the_database(sqlite_server):
    response = requests.get(sqlite_server.url + "/healthz", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert requests.get(sqlite_server.url + "/nowhere", timeout=10).status_code == 404


def _in(directory, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command as a user types it in `directory`, with no LEDGER_DATABASE_URL unless `env` sets one."""
    environment = {key: value for key, value in os.environ.items() if key != "LEDGER_DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "ledger_service.cli", *args], cwd=directory, text=True,
                          capture_output=True, env={**environment, **(env or {})}, timeout=120)


def test_a_command_that_finds_no_database_says_where_it_looked_and_what_to_do(tmp_path):
    service_directory, elsewhere = tmp_path / "service", tmp_path / "elsewhere"
    service_directory.mkdir(), elsewhere.mkdir()
    assert _in(service_directory, "migrate").returncode == 0
    assert (service_directory / "var" / "ledger.db").exists()

    lost = _in(elsewhere, "clients", "add", "admin", "--system-admin")
    assert lost.returncode == 1, lost.stderr
    assert str(elsewhere / "var" / "ledger.db") in lost.stderr
    for remedy in ("LEDGER_DATABASE_URL", "ledger-service migrate", "ledger-service serve"):
        assert remedy in lost.stderr, lost.stderr
    assert "try again" not in lost.stderr
    assert list(elsewhere.iterdir()) == []  # no empty var/ left behind

    found = _in(service_directory, "clients", "add", "admin", "--system-admin")
    assert found.returncode == 0, found.stderr


def test_a_database_without_the_schema_or_out_of_reach_is_named(tmp_path, postgres_databases):
    empty = _in(tmp_path, "clients", "list", env={"LEDGER_DATABASE_URL": postgres_databases.create()})
    assert empty.returncode == 1 and "has no schema yet: run `ledger-service migrate`" in empty.stderr, empty.stderr
    nowhere = f"postgresql://ledger:secret@127.0.0.1:{free_port()}/ledger"
    down = _in(tmp_path, "clients", "list", env={"LEDGER_DATABASE_URL": nowhere})
    assert down.returncode == 1 and "cannot be reached" in down.stderr and "try again" in down.stderr, down.stderr
    assert "secret" not in down.stderr and "ledger:***@127.0.0.1" in down.stderr


def test_settings_show_the_values_in_effect_with_secrets_masked(tmp_path):
    from ledger_service.settings import SETTINGS

    key = Fernet.generate_key().decode()
    env = {"LEDGER_DATABASE_URL": "postgresql://ledger:hunter2@db.example:5432/ledger", "LEDGER_SECRET_KEY": key,
           "LEDGER_THREADS": "3", "LEDGER_TRUSTED_PROXIES": ""}
    shown = _in(tmp_path, "settings", "show", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line.split(None, 1)[1] for line in shown.stdout.splitlines()}
    assert list(lines) == [setting.variable for setting in SETTINGS]
    assert "hunter2" not in shown.stdout and key not in shown.stdout
    assert lines["LEDGER_DATABASE_URL"] == "postgresql://ledger:***@db.example:5432/ledger"
    assert lines["LEDGER_THREADS"] == "3" and lines["LEDGER_TRUSTED_PROXIES"] == "none"
    assert lines["LEDGER_BIND"] == "127.0.0.1:8000 (default)"
    assert lines["LEDGER_PUBLIC_URL"] == "unset (default)"
    assert lines["LEDGER_FAILED_LOGINS_PER_ADDRESS"] == "30/min (default)"


@pytest.mark.parametrize("variable, value, says", [
    ("LEDGER_MAX_XML_DEPTH", "deep", "'deep' is not a whole number"),
    ("LEDGER_PUBLIC_URL", "ledger.example.com", "must be an absolute http:// or https:// URL"),
    ("LEDGER_DATABASE_URL", "mysql://root:hunter2@db.example/ledger", "SQLite or PostgreSQL"),
    ("LEDGER_FAILED_LOGINS_BURST_PER_USERNAME", "many", "'many' is not a whole number"),
])
@pytest.mark.parametrize("command", [["migrate"], ["settings", "show"]])
def test_a_malformed_setting_stops_a_command_in_a_sentence_naming_it(tmp_path, command, variable, value, says):
    result = _in(tmp_path, *command, env={variable: value})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"ledger-service: {variable}") and says in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "hunter2" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing done


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("authority"))


def test_clients_are_registered_with_certificates_replaced_and_listed(sqlite_server, authority):
    env = {"LEDGER_DATABASE_URL": sqlite_server.database_url}
    signer, renewed, both = (authority.client(unique(name)) for name in ("signer", "renewed", "both"))
    name = unique("signer")
    added = cli("clients", "add", name, "--certificate", str(signer.certificate_path), "--require-signature", env=env)
    assert added.returncode == 0 and added.stdout == "" and "no password" in added.stderr, added.stderr
    # a certificate and a password, from stdin: the password authenticates as ever
    with_password = unique("both")
    assert cli("clients", "add", with_password, "--certificate", str(both.certificate_path), "--password-stdin",
               "--system-admin", env=env, input="both-password\n").returncode == 0
    assert sqlite_server.zeep(with_password, "both-password").service.CreateBook(unique("B"), "Both").name == "Both"

    def listed() -> list[str]:
        lines = cli("clients", "list", env=env).stdout.splitlines()
        at = next(i for i, line in enumerate(lines) if line.split()[0] == name)
        return lines[at:at + 2]

    row, certificate = listed()
    assert row.split()[3] == "required"
    validity = signer.certificate.not_valid_after_utc
    assert f"SHA-256 {signer.sha256}" in certificate and signer.certificate.subject.rfc4514_string() in certificate
    assert f"to {validity:%Y-%m-%d %H:%M} UTC" in certificate
    replaced = cli("clients", "certificate", name, str(renewed.certificate_path), env=env)
    assert replaced.returncode == 0 and renewed.sha256 in replaced.stdout
    assert renewed.sha256 in listed()[1] and signer.sha256 not in cli("clients", "list", env=env).stdout
    # the certificate of a client that requires signatures stays until the requirement goes
    kept = cli("clients", "certificate", name, "--remove", env=env)
    assert kept.returncode == 1 and f"clients require-signature {name} --off" in kept.stderr
    assert cli("clients", "require-signature", name, "--off", env=env).returncode == 0
    assert listed()[0].split()[3] == "-"
    removed = cli("clients", "certificate", name, "--remove", env=env)
    assert removed.returncode == 0 and "cannot authenticate" in removed.stdout
    assert not any(line.startswith("  certificate") for line in listed()[1:])


def test_a_certificate_that_cannot_be_registered_is_refused_saying_why(sqlite_server, authority, tmp_path):
    env = {"LEDGER_DATABASE_URL": sqlite_server.database_url}
    taken, other = authority.client(unique("taken")), authority.client(unique("other"))
    holder = unique("holder")
    assert cli("clients", "add", holder, "--certificate", str(taken.certificate_path), env=env).returncode == 0
    same_key = authority.client(unique("same-key"), key_identifier=taken.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest)
    expired = authority.client(unique("expired"), not_before=utc_now() - timedelta(days=2),
                               not_after=utc_now() - timedelta(days=1))
    files = {"two.pem": taken.pem + other.pem, "key.pem": taken.key_path.read_bytes(),
             "annotated.pem": b"subject=CN=taken\n" + taken.pem, "der.pem": taken.der, "empty.pem": b""}
    for file, content in files.items():
        (tmp_path / file).write_bytes(content)
    refusals = [
        *((["--certificate", str(tmp_path / file)], "is not one PEM certificate") for file in files),
        (["--certificate", str(tmp_path / "missing.pem")], "No such file"),
        (["--certificate", str(taken.certificate_path)], f"client {holder} is registered with the same certificate"),
        (["--certificate", str(same_key.certificate_path)],
         f"client {holder} is registered with the same subject key identifier"),
        (["--certificate", str(expired.certificate_path)], "expired on"),
        (["--require-signature"], "--require-signature needs the client's --certificate"),
    ]
    refused = []
    for options, says in refusals:
        refused.append(unique("refused"))
        result = cli("clients", "add", refused[-1], *options, env=env)
        assert result.returncode == 1 and says in result.stderr and "Traceback" not in result.stderr, (options, result)
    listed = cli("clients", "list", env=env).stdout
    assert holder in listed and not [name for name in refused if name in listed]
    plain = unique("plain")
    assert cli("clients", "add", plain, env=env).returncode == 0
    for command, says in ((["certificate", plain, str(taken.certificate_path)], "the same certificate"),
                          (["certificate", plain, str(expired.certificate_path)], "expired on"),
                          (["certificate", "nobody-here", str(other.certificate_path)], "no client nobody-here"),
                          (["require-signature", plain], f"client {plain} has no certificate")):
        result = cli("clients", *command, env=env)
        assert result.returncode == 1 and says in result.stderr, (command, result.stderr)
    assert cli("clients", "certificate", plain, env=env).returncode == 2  # neither a file nor --remove
