"""deploy/: each file exercised. gunicorn started with deploy/gunicorn.conf.py exactly as the systemd unit
starts it, reloaded with SIGHUP under load without losing a request; the unit's hardening; nginx from
Debian terminating TLS in front of the service, called through with zeep; the container files checked
against the repository (Docker itself does not run here)."""
from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import requests
import yaml
from lxml import etree
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from ledger_service.settings import SETTINGS, reference_table

from certificates import CertificateAuthority
from conftest import ADMIN, ADMIN_PASSWORD, CONTENT_TYPE, GUNICORN, SERVE, TNS, assert_refused_to_start, cli, envelope, \
    free_port, start_server, unique
from nginx import start_nginx

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "soap-ledger.service"
VENV_BIN = Path(sys.executable).parent
INSTALLED = "/opt/soap-ledger"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNIT)
    return parser


def as_installed_here(command: str) -> list[str]:
    """A command of the unit, with the installed release's paths made this checkout's."""
    return [word.replace(f"{INSTALLED}/venv/bin", str(VENV_BIN)).replace(f"{INSTALLED}/deploy", str(DEPLOY))
            for word in shlex.split(command)]


def unit_environment() -> dict[str, str]:
    return dict(item.split("=", 1) for item in unit()["Service"].get("Environment", "").split())


# --- gunicorn, as the unit runs it ---

def test_serve_runs_the_same_gunicorn_configuration(sqlite_server):
    # `serve` reads the configuration the package carries (the wheel test below: deploy/'s, byte for
    # byte); what gunicorn says of itself shows it was read.
    said = [json.loads(line)["message"] for line in sqlite_server.log().splitlines() if line.startswith("{")]
    assert "Using worker: ledger_service.serving.worker.BufferingWorker" in said


def test_the_wheel_carries_the_gunicorn_configuration_and_the_docs_page_templates(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("soap_ledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("ledger_service/gunicorn.conf.py") == (DEPLOY / "gunicorn.conf.py").read_bytes()
        templates = ROOT / "service" / "ledger_service" / "soap" / "templates"
        for template in ("docs.html", "docs.css"):
            assert archive.read(f"ledger_service/soap/templates/{template}") == (templates / template).read_bytes()


class Poster:
    """Threads posting entries, each on a fresh connection, until stopped; every outcome kept."""

    def __init__(self, url: str, book: str, threads: int = 6):
        self.url, self.book, self.stop = url, book, threading.Event()
        self.outcomes: list[tuple[str, object]] = []
        self.threads = [threading.Thread(target=self._post, args=(n,)) for n in range(threads)]

    def _post(self, number: int) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            reference = f"HUP-{number}-{count}"
            body = envelope("11", f"<l:PostEntry><l:book>{self.book}</l:book><l:entry><l:reference>{reference}"
                                  "</l:reference><l:effectiveDate>2026-01-15</l:effectiveDate><l:lines>"
                                  "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1.00</l:amount>"
                                  "</l:line><l:line><l:account>sales</l:account><l:side>CREDIT</l:side>"
                                  "<l:amount>1.00</l:amount></l:line></l:lines></l:entry></l:PostEntry>")
            try:
                response = requests.post(self.url, data=body, timeout=60,
                                         headers={"Content-Type": CONTENT_TYPE["11"], "Connection": "close"})
                self.outcomes.append((reference, response.status_code))
            except requests.RequestException as error:
                self.outcomes.append((reference, error))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in self.threads:
            thread.join(120)


def test_gunicorn_as_the_unit_starts_it_reloads_on_sighup_without_losing_a_request(tmp_path):
    port = free_port()
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    service = unit()["Service"]
    env = {**os.environ, **unit_environment(), "LEDGER_DATABASE_URL": database, "LEDGER_BIND": f"127.0.0.1:{port}",
           "LEDGER_WORKERS": "2"}
    migrated = subprocess.run(as_installed_here(service["ExecStartPre"]), env=env, capture_output=True, text=True,
                              timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    assert cli("clients", "add", ADMIN, "--system-admin", "--password-stdin", input=ADMIN_PASSWORD + "\n",
               env={"LEDGER_DATABASE_URL": database}).returncode == 0
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(as_installed_here(service["ExecStart"]), env=env, cwd=tmp_path,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.2)
        admin = Client(f"{base}/v1/soap11?wsdl", wsse=UsernameToken(ADMIN, ADMIN_PASSWORD),
                       transport=Transport(timeout=60), settings=Settings(strict=True)).service
        book = unique("HUP")
        admin.CreateBook(book, "Reloaded")
        for code, kind in (("cash", "ASSET"), ("sales", "INCOME")):
            admin.OpenAccount(book, {"code": code, "name": code, "type": kind, "currency": "USD"})
        with Poster(f"{base}/v1/soap11", book) as load:
            for _ in range(2):
                time.sleep(1.5)
                process.send_signal(signal.SIGHUP)
            time.sleep(3)
        failed = [(reference, outcome) for reference, outcome in load.outcomes if outcome != 200]
        assert load.outcomes and not failed, failed[:5]
        balance = admin.GetBalance(book, "cash")
        assert balance.postedDebits == len(load.outcomes)
        text = log.read_text()
        records = [json.loads(line) for line in text.splitlines()]  # every line JSON, gunicorn's own too
        assert [record["message"] for record in records].count("Handling signal: hup") == 2, text[-3000:]
        line = next(record for record in records
                    if record["logger"] == "ledger_service.requests" and record["operation"] == "PostEntry")
        assert set(line) == {"time", "level", "logger", "message", "process", "request_id", "method", "path",
                             "client", "operation", "status", "fault", "ms", "address", "certificate", "signer"}
        assert line["address"] == "127.0.0.1"
        assert (line["client"], line["operation"], line["status"], line["fault"]) == (ADMIN, "PostEntry", 200, None)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_the_unit_runs_unprivileged_and_hardened():
    service = unit()["Service"]
    assert service["User"] == service["Group"] == "soap-ledger"
    for setting, expected in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                              "PrivateTmp": "yes", "PrivateDevices": "yes", "ReadOnlyPaths": INSTALLED,
                              "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes", "UMask": "0077",
                              "Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID"}.items():
        assert service[setting] == expected, setting
    assert service["ExecStart"].split()[:3] == [f"{INSTALLED}/venv/bin/gunicorn", "--config",
                                                f"{INSTALLED}/deploy/gunicorn.conf.py"]
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
        complaints = [line for line in (verified.stdout + verified.stderr).splitlines()
                      if line.strip() and "is not executable: No such file or directory" not in line]
        assert complaints == []


# --- nginx in front, terminating TLS ---

# The service's body timeout here, shorter than the default 15 s for the test's sake.
BODY_TIMEOUT = 3


@pytest.fixture(scope="module")
def sqlite_server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)})


@pytest.fixture
def nginx(sqlite_server, tmp_path):
    """nginx running deploy/nginx/soap-ledger.conf, its addresses, certificate and upstream made this test's;
    its base URLs, and the certificate of the CA that issued its own."""
    authority = CertificateAuthority(tmp_path / "ca")
    issued = authority.server()
    running = start_nginx("soap-ledger.conf", sqlite_server, tmp_path, issued.certificate_path, issued.key_path,
                          authority.certificate_path)
    yield running.https, running.http, authority.certificate_path
    running.stop()


def exchanged(base: str, certificate: Path, request: str) -> tuple[bytes, bytes]:
    """Sends `request` as it is over TLS to `base`; the answer's head and body, once nginx closes."""
    host, port = base.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(certificate))
    with context.wrap_socket(socket.create_connection((host, int(port)), timeout=30), server_hostname=host) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def fault_code_of(body: bytes) -> str | None:
    return etree.fromstring(body).findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code")


def fault_code(response: requests.Response) -> str | None:
    return fault_code_of(response.content)


@pytest.mark.interop
def test_zeep_through_nginx_over_tls(sqlite_server, nginx):
    base, plain, certificate = nginx
    session = requests.Session()
    session.verify = str(certificate)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, would win over session.verify
    for version in ("11", "12"):
        client = Client(f"{base}/v1/soap{version}?wsdl", wsse=UsernameToken(ADMIN, ADMIN_PASSWORD),
                        transport=Transport(session=session, timeout=60), settings=Settings(strict=True))
        # the WSDL served through the proxy names the address the client called
        assert client.wsdl.services["LedgerService"].ports["Ledger"].binding_options["address"] == \
            f"{base}/v1/soap{version}"
        service = client.service
        book = unique("TLS")
        service.CreateBook(book, "Over TLS")
        for code, kind in (("cash", "ASSET"), ("sales", "INCOME")):
            service.OpenAccount(book, {"code": code, "name": code, "type": kind, "currency": "USD"})
        service.PostEntry(book, {"reference": "TLS-1", "effectiveDate": "2026-01-15", "lines": {"line": [
            {"account": "cash", "side": "DEBIT", "amount": "12.34"},
            {"account": "sales", "side": "CREDIT", "amount": "12.34"}]}})
        assert str(service.GetBalance(book, "cash").balance) == "12.34"
    redirected = requests.get(f"{plain}/docs", allow_redirects=False, timeout=10)
    assert redirected.status_code == 308 and redirected.headers["Location"].startswith("https://")


@pytest.mark.interop
def test_what_nginx_refuses_is_still_a_soap_fault(sqlite_server, nginx):
    base, _, certificate = nginx
    for version, media_type in (("11", "text/xml"), ("12", "application/soap+xml")):
        too_large = requests.post(f"{base}/v1/soap{version}", data=b"<" + b"x" * (9 * 1024 * 1024) + b"/>",
                                  headers={"Content-Type": CONTENT_TYPE[version]}, verify=str(certificate), timeout=60)
        assert too_large.status_code == 413 and too_large.headers["Content-Type"].startswith(media_type)
        assert fault_code(too_large) == "MalformedRequest"
        # over the service's own limit but under the proxy's: the service's own fault comes back
        large = requests.post(f"{base}/v1/soap{version}", data=b"<" + b"x" * (5 * 1024 * 1024) + b"/>",
                              headers={"Content-Type": CONTENT_TYPE[version]}, verify=str(certificate), timeout=60)
        assert large.status_code == 413 and fault_code(large) == "MalformedRequest"
        # a body that stalls reaches the service, whose fault comes back through the proxy
        host, port = base.removeprefix("https://").split(":")
        started = time.monotonic()
        head, body = exchanged(base, certificate, f"POST /v1/soap{version} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                                                  f"Content-Type: {CONTENT_TYPE[version]}\r\nContent-Length: 1000\r\n"
                                                  "\r\n<x")
        assert time.monotonic() - started < BODY_TIMEOUT + 5
        assert head.startswith(b"HTTP/1.1 408") and media_type.encode() in head, head
        assert fault_code_of(body) == "MalformedRequest"
        # what nginx cannot read as a request (two Host headers), and plain HTTP on its HTTPS port
        head, body = exchanged(base, certificate, f"POST /v1/soap{version} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") and media_type.encode() in head, head
        assert fault_code_of(body) == "MalformedRequest"
        plain = requests.post(f"{base.replace('https://', 'http://')}/v1/soap{version}", data=b"<x/>", timeout=60,
                              headers={"Content-Type": CONTENT_TYPE[version]})
        assert plain.status_code == 400 and plain.headers["Content-Type"].startswith(media_type)
        assert fault_code(plain) == "MalformedRequest"
    sqlite_server.stop()
    try:
        for version, media_type in (("11", "text/xml"), ("12", "application/soap+xml")):
            down = requests.post(f"{base}/v1/soap{version}", data=envelope(version, "<l:GetBalance/>"),
                                 headers={"Content-Type": CONTENT_TYPE[version]}, verify=str(certificate), timeout=60)
            assert (down.status_code, fault_code(down), down.headers["Retry-After"]) == (503, "Unavailable", "5")
            assert down.headers["Content-Type"].startswith(media_type)
    finally:
        sqlite_server.start(Path(sqlite_server.log_path).parent)



class VanishingUpstream:
    """An upstream that takes each request whole, then closes its connection without a word: what nginx
    sees of a worker killed mid-request. It counts the requests it took."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.taken = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                if b"POST " in received:
                    self.taken += 1

    def close(self) -> None:
        self.listener.close()


@pytest.mark.interop
def test_an_answer_lost_behind_nginx_is_a_502_the_client_retries_only_where_safe(tmp_path):
    """docs/operations.md#a-worker-killed-mid-request: 503 when nothing reached the service, 502 when it
    took the request and never answered, which the client package treats as a lost answer."""
    upstream = VanishingUpstream()
    authority = CertificateAuthority(tmp_path / "ca")
    issued = authority.server()
    running = start_nginx("soap-ledger.conf", upstream, tmp_path, issued.certificate_path, issued.key_path,
                          authority.certificate_path)
    try:
        for version, media_type in (("11", "text/xml"), ("12", "application/soap+xml")):
            lost = requests.post(f"{running.https}/v1/soap{version}", data=envelope(version, "<l:GetBalance/>"),
                                 headers={"Content-Type": CONTENT_TYPE[version]},
                                 verify=str(authority.certificate_path), timeout=60)
            assert (lost.status_code, fault_code(lost)) == (502, "Unavailable")
            assert lost.headers["Content-Type"].startswith(media_type)
            assert "may have been carried out" in lost.text
        from ledger_client import LedgerClient, RetryPolicy, TransportError

        with LedgerClient(running.https, ADMIN, ADMIN_PASSWORD, verify=str(authority.certificate_path),
                          retry=RetryPolicy(attempts=3, backoff=0.01)) as client:
            taken = upstream.taken
            with pytest.raises(TransportError) as not_repeated:
                client.create_book(unique("B"), "Lost")
            assert (not_repeated.value.status, upstream.taken - taken) == (502, 1)
            taken = upstream.taken
            with pytest.raises(TransportError):
                client.get_balance("ANY", "cash")
            assert upstream.taken - taken == 3
    finally:
        running.stop()
        upstream.close()

# --- the container files ---

def test_the_dockerfile_copies_what_exists_and_runs_the_service():
    instructions = [line.split(None, 1) for line in (DEPLOY / "Dockerfile").read_text().splitlines()
                    if line.strip() and not line.startswith("#") and not line.startswith(" ")]
    copied = [arguments.split()[:-1] for kind, arguments in instructions if kind == "COPY"]
    assert copied and all((ROOT / source).exists() for sources in copied for source in sources)
    command = json.loads(next(arguments for kind, arguments in instructions if kind == "CMD"))
    assert command[0] == "ledger-service"
    assert cli(*command[1:], "--help").returncode == 0
    assert next(arguments for kind, arguments in instructions if kind == "USER") != "root"
    examples = next(line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if "LEDGER_DOCS_EXAMPLES" in line)
    assert "/opt/soap-ledger/tests/envelopes" in examples


def test_compose_builds_the_dockerfile_and_gives_the_service_its_database():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    ledger, postgres = compose["services"]["ledger"], compose["services"]["postgres"]
    assert (DEPLOY / ledger["build"]["context"] / ledger["build"]["dockerfile"]).resolve() == \
        (DEPLOY / "Dockerfile").resolve()
    assert ledger["environment"]["LEDGER_DATABASE_URL"].startswith("postgresql://ledger:")
    assert ledger["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert postgres["image"].startswith("postgres:") and postgres["healthcheck"]["test"][1] == "pg_isready"
    documented = (ROOT / "docs" / "operations.md").read_text()
    for variable in ledger["environment"]:
        assert f"`{variable}`" in documented, variable


# --- the settings: one object read once, documented from itself ---

SETTINGS_MODULE = ROOT / "service" / "ledger_service" / "settings.py"
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb"}


def environment_reads(source: str) -> list[tuple[int, str | None]]:
    """Every place `source` reaches the process environment, however `os` or its environment is imported:
    the line, and the variable when it is a constant (a literal, or a name the module binds to one); None
    when it cannot be known (the environment passed on or copied, or a key computed)."""
    tree = ast.parse(source)
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}
    modules, names = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.asname or "os" for alias in node.names
                        if alias.name == "os" or (alias.name.startswith("os.") and not alias.asname)}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names |= {alias.asname or alias.name for alias in node.names if alias.name in ENVIRONMENT}
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    return [(node.lineno, _variable(node, parents, constants)) for node in ast.walk(tree)
            if (isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT and isinstance(node.value, ast.Name)
                and node.value.id in modules) or (isinstance(node, ast.Name) and node.id in names)]


def _variable(reached: ast.AST, parents: dict, constants: dict[str, str]) -> str | None:
    parent = parents.get(reached)
    if isinstance(parent, ast.Subscript) and parent.value is reached:
        key = parent.slice
    elif isinstance(parent, ast.Call) and parent.func is reached and parent.args:  # getenv(key)
        key = parent.args[0]
    elif (isinstance(parent, ast.Attribute) and parent.attr in ("get", "setdefault", "pop")
          and isinstance(parents.get(parent), ast.Call) and parents[parent].args):
        key = parents[parent].args[0]
    elif isinstance(parent, ast.Compare) and reached in parent.comparators:
        key = parent.left
    else:
        return None
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return constants.get(key.id) if isinstance(key, ast.Name) else None


def test_environment_reads_are_found_however_they_are_spelled():
    source = """
import os
import os.path
from os import environ as env, getenv
KEY = "LEDGER_A"
os.environ.get("LEDGER_B"), os.environ["LEDGER_C"], os.getenv("LEDGER_D"), env.get(KEY), getenv("LEDGER_E")
"LEDGER_F" in env, os.environ.setdefault("PATH", "/bin"), dict(os.environ), os.environ.get(f"LEDGER_{KEY}")

def handle(environ):
    return environ.get("HTTP_HOST")  # a WSGI environ, not the process's
"""
    assert sorted(environment_reads(source), key=str) == sorted(
        [(6, "LEDGER_B"), (6, "LEDGER_C"), (6, "LEDGER_D"), (6, "LEDGER_A"), (6, "LEDGER_E"), (7, "LEDGER_F"),
         (7, "PATH"), (7, None), (7, None)], key=str)


def test_only_the_settings_module_reads_ledger_variables_from_the_environment():
    modules = [*(ROOT / "service").rglob("*.py"), DEPLOY / "gunicorn.conf.py"]
    assert SETTINGS_MODULE in modules
    elsewhere = [f"{path.relative_to(ROOT)}:{line}: {variable or 'the environment, by a key not known here'}"
                 for path in modules if path != SETTINGS_MODULE
                 for line, variable in environment_reads(path.read_text())
                 if variable is None or variable.startswith("LEDGER_")]
    assert elsewhere == []
    assert any(variable is None for _, variable in environment_reads(SETTINGS_MODULE.read_text()))


def test_the_configuration_reference_is_the_table_the_settings_generate():
    generated = cli("settings", "reference")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout == reference_table()
    rows = [line for line in generated.stdout.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [setting.variable for setting in SETTINGS]
    guide = (ROOT / "docs" / "operations.md").read_text()
    section = guide.split("## Configuration reference\n", 1)[1].split("\n## ", 1)[0]
    [documented] = [block + "\n" for block in section.split("\n\n") if block.startswith("| variable |")]
    assert documented == generated.stdout, "docs/operations.md: paste `ledger-service settings reference`"
    readme = (ROOT / "README.md").read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    shown_in_readme = set(re.findall(r"^\| `(LEDGER_[A-Z_]+)`", readme, re.MULTILINE))
    assert shown_in_readme and shown_in_readme <= {setting.variable for setting in SETTINGS}


@pytest.mark.parametrize("variable, value", [
    ("LEDGER_THREADS", "two"), ("LEDGER_WORKER_CONNECTIONS", "0"), ("LEDGER_WORKER_TIMEOUT", "-1"),
    ("LEDGER_MAX_BODY_BYTES", "4MiB"), ("LEDGER_BODY_TIMEOUT_SECONDS", "nan"), ("LEDGER_LOG_LEVEL", "loud"),
    ("LEDGER_HOLD_SWEEP_SECONDS", "soon"), ("LEDGER_SECRET_KEY", "not-a-key"),
])
@pytest.mark.parametrize("command", [SERVE, GUNICORN], ids=["serve", "gunicorn"])
def test_a_malformed_setting_stops_the_service_in_one_sentence_naming_it(tmp_path, command, variable, value):
    assert_refused_to_start(command, tmp_path, {"LEDGER_BIND": "127.0.0.1:0", "LEDGER_WORKERS": "1", variable: value},
                            variable)
