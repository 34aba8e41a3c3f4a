"""Mutual TLS at the edge (docs/operations.md, "Mutual TLS"; deploy/nginx/soap-ledger-mtls.conf).

Debian's nginx, running the site as installed, verifies each client's certificate against the clients'
CA, which the test makes (tests/certificates.py), and forwards the verified certificate to the service in
LEDGER_CLIENT_CERTIFICATE_HEADER; the service reads it from a trusted proxy only, strictly, and carries it
with the request: the request log's `certificate` is its SHA-256 fingerprint. (Alice's certificate is
registered to the admin, whose password the requests carry, and bob's to a system administrator bob: a
request whose certificate and UsernameToken name different clients fails, test_mutual_tls_client.py.) A client without a
certificate, or with one the CA did not issue or that expired, gets nginx's AuthenticationFailed fault in
the endpoint's SOAP version. The header a client sends itself never counts: nginx replaces it (the plain
TLS site drops it), and the service ignores it from a peer that is not a trusted proxy (the test's
connections from 127.0.0.2, while the service trusts 127.0.0.1, where nginx runs).
"""
from __future__ import annotations

import datetime
import http.client
import uuid
from urllib.parse import quote

import pytest
import requests
from lxml import etree
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from certificates import CertificateAuthority, Issued, utc_now
from conftest import ADMIN, ADMIN_PASSWORD, CONTENT_TYPE, SOAP_ENV, TNS, LiveServer, cli, envelope, start_server, unique
from nginx import Nginx, start_nginx

pytestmark = pytest.mark.interop

HEADER = "X-Client-Certificate"
CLIENTS_CA = "/etc/ssl/certs/ledger-clients-ca.pem"
VERSIONS = ["11", "12"]
MEDIA_TYPE = {version: content_type.split(";")[0] for version, content_type in CONTENT_TYPE.items()}
# A loopback address of the test's own that the service does not trust as a proxy (it trusts 127.0.0.1).
UNTRUSTED_PEER = "127.0.0.2"


class Authorities:
    """The test's CAs: one for servers, one for the clients nginx accepts, one it does not know."""

    def __init__(self, directory):
        self.servers = CertificateAuthority(directory / "servers", "soap-ledger test servers CA")
        self.clients = CertificateAuthority(directory / "clients", "soap-ledger test clients CA")
        self.stranger = CertificateAuthority(directory / "stranger", "some other CA")
        self.server = self.servers.server()
        self.alice = self.clients.client("alice")
        self.bob = self.clients.client("bob")
        self.impostor = self.stranger.client("alice")  # alice's name, from a CA nginx does not trust
        self.expired = self.clients.client("carol", not_before=utc_now() - datetime.timedelta(days=2),
                                           not_after=utc_now() - datetime.timedelta(days=1))


@pytest.fixture(scope="module")
def authorities(tmp_path_factory) -> Authorities:
    return Authorities(tmp_path_factory.mktemp("authorities"))


BOB_PASSWORD = "bob's password"


@pytest.fixture(scope="module")
def certificate_server(request, tmp_path_factory, authorities) -> LiveServer:
    """A service that reads forwarded certificates, trusting the default proxies (loopback's 127.0.0.1),
    with alice's certificate registered to the admin and bob's to the system administrator bob."""
    server = start_server(request, tmp_path_factory, "sqlite",
                          extra_env={"LEDGER_CLIENT_CERTIFICATE_HEADER": HEADER})
    env = {"LEDGER_DATABASE_URL": server.database_url}
    for command, password in ((["certificate", ADMIN, str(authorities.alice.certificate_path)], None),
                              (["add", "bob", "--system-admin", "--password-stdin", "--certificate",
                                str(authorities.bob.certificate_path)], BOB_PASSWORD + "\n")):
        registered = cli("clients", *command, env=env, input=password)
        assert registered.returncode == 0, registered.stderr
    return server


def running(site: str, server: LiveServer, authorities: Authorities, directory, **files) -> Nginx:
    return start_nginx(site, server, directory, authorities.server.certificate_path, authorities.server.key_path,
                       authorities.servers.certificate_path, files)


@pytest.fixture(scope="module")
def mutual_tls(certificate_server, authorities, tmp_path_factory):
    proxy = running("soap-ledger-mtls.conf", certificate_server, authorities, tmp_path_factory.mktemp("mtls"),
                    **{CLIENTS_CA: authorities.clients.certificate_path})
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def plain_tls(certificate_server, authorities, tmp_path_factory):
    proxy = running("soap-ledger.conf", certificate_server, authorities, tmp_path_factory.mktemp("tls"))
    yield proxy
    proxy.stop()


def escaped(*pems: bytes) -> str:
    """PEM, URL-escaped as nginx's $ssl_client_escaped_cert writes it."""
    return quote(b"".join(pems), safe="")


def create_book(version: str) -> bytes:
    return envelope(version, f"<l:CreateBook><l:code>{unique('M')}</l:code><l:name>mTLS</l:name></l:CreateBook>")


def through(proxy: Nginx, authorities: Authorities, version: str, presented: Issued | None,
            headers: dict[str, str] | None = None, request: bytes | None = None) -> tuple[requests.Response, str]:
    """`request` (a CreateBook by the admin) through the proxy, presenting `presented`'s certificate (none
    when None); the answer, and the request id it was sent with."""
    request_id = uuid.uuid4().hex
    answer = requests.post(f"{proxy.https}/v1/soap{version}", data=request or create_book(version), timeout=60,
                           verify=str(authorities.servers.certificate_path),
                           cert=(str(presented.certificate_path), str(presented.key_path)) if presented else None,
                           headers={"Content-Type": CONTENT_TYPE[version], "X-Request-Id": request_id,
                                    **(headers or {})})
    return answer, request_id


def directly(server: LiveServer, version: str, certificate: str, source: str = "127.0.0.1") -> http.client.HTTPResponse:
    """A CreateBook sent straight to the service from `source`, with `certificate` in the header."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
    connection.request("POST", f"/v1/soap{version}", create_book(version),
                       {"Content-Type": CONTENT_TYPE[version], HEADER: certificate,
                        "X-Request-Id": uuid.uuid4().hex})
    answer = connection.getresponse()
    answer.body = answer.read()
    connection.close()
    return answer


def fault(body: bytes, version: str) -> tuple[str, str]:
    """The LedgerFault code and message of a SOAP fault of `version`."""
    root = etree.fromstring(body)
    assert root.find(f"{{{SOAP_ENV[version]}}}Body/{{{SOAP_ENV[version]}}}Fault") is not None, body
    return (root.findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code"),
            root.findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}message"))


# --- through nginx ---

@pytest.mark.parametrize("version", VERSIONS)
def test_a_certificate_the_clients_ca_issued_gets_through_and_the_service_sees_it(
        certificate_server, mutual_tls, authorities, version):
    answer, request_id = through(mutual_tls, authorities, version, authorities.alice)
    assert answer.status_code == 200, answer.text
    assert certificate_server.request_log_line(request_id)["certificate"] == authorities.alice.sha256
    # a SOAP stack calls through it as through any TLS proxy, its certificate presented with each request
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, would win over session.verify
    session.verify = str(authorities.servers.certificate_path)
    session.cert = (str(authorities.bob.certificate_path), str(authorities.bob.key_path))
    service = Client(f"{mutual_tls.https}/v1/soap{version}?wsdl", wsse=UsernameToken("bob", BOB_PASSWORD),
                     transport=Transport(session=session, timeout=60), settings=Settings(strict=True)).service
    book = unique("MZ")
    session.headers["X-Request-Id"] = request_id = uuid.uuid4().hex
    assert service.CreateBook(book, "Over mutual TLS").code == book
    line = certificate_server.request_log_line(request_id)
    assert (line["operation"], line["certificate"]) == ("CreateBook", authorities.bob.sha256)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("presented", [None, "impostor", "expired"])
def test_without_a_certificate_the_ca_vouches_for_nginx_answers_authentication_failed(
        certificate_server, mutual_tls, authorities, version, presented):
    answer, request_id = through(mutual_tls, authorities, version, presented and getattr(authorities, presented))
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith(MEDIA_TYPE[version])
    code, message = fault(answer.content, version)
    assert code == "AuthenticationFailed"
    assert message.startswith("a client certificate issued by")  # nginx's own: the request never reached the service
    assert request_id not in certificate_server.log()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_certificate_header_the_client_sends_never_counts(certificate_server, mutual_tls, plain_tls, authorities,
                                                            version):
    forged = {HEADER: escaped(authorities.bob.pem)}
    # nginx forwards the certificate it verified, not the one the client names
    answer, request_id = through(mutual_tls, authorities, version, authorities.alice, forged)
    assert answer.status_code == 200
    assert certificate_server.request_log_line(request_id)["certificate"] == authorities.alice.sha256
    # the TLS site without client certificates forwards none
    answer, request_id = through(plain_tls, authorities, version, None, forged)
    assert answer.status_code == 200
    assert certificate_server.request_log_line(request_id)["certificate"] is None


# --- the service: the header, from a trusted proxy only ---

@pytest.mark.parametrize("version", VERSIONS)
def test_the_service_reads_the_header_from_a_trusted_proxy_only(certificate_server, sqlite_server, authorities,
                                                                version):
    header = escaped(authorities.alice.pem)
    answer = directly(certificate_server, version, header)
    assert answer.status == 200
    assert certificate_server.request_log_line(answer.headers["X-Request-Id"])["certificate"] == \
        authorities.alice.sha256
    # from a peer that is no trusted proxy, not read at all: neither believed nor refused
    for value in (header, "not a certificate"):
        answer = directly(certificate_server, version, value, source=UNTRUSTED_PEER)
        assert answer.status == 200
        assert certificate_server.request_log_line(answer.headers["X-Request-Id"])["certificate"] is None
    # nor by a service that names no header (LEDGER_CLIENT_CERTIFICATE_HEADER unset)
    answer = directly(sqlite_server, version, header)
    assert answer.status == 200
    assert sqlite_server.request_log_line(answer.headers["X-Request-Id"])["certificate"] is None


def malformed_headers(authorities: Authorities) -> dict[str, str]:
    alice, bob = authorities.alice, authorities.bob
    armoured = b"-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n"
    return {
        "not escaped": alice.pem.decode().replace("\n", " "),
        "two certificates": escaped(alice.pem, bob.pem),
        "two headers": f"{escaped(alice.pem)},{escaped(bob.pem)}",
        "a certificate and more": escaped(alice.pem, b"more"),
        "a private key": escaped(alice.key_path.read_bytes()),
        "not a certificate inside": escaped(armoured % b"bm90IGEgY2VydGlmaWNhdGU="),
        "not Base64 inside": escaped(armoured % b"not*base64"),
        "DER, unarmoured": escaped(alice.der),
        "escaped twice": quote(escaped(alice.pem), safe=""),
        "empty": "",
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_a_malformed_certificate_from_a_trusted_proxy_is_a_malformed_request(certificate_server, authorities,
                                                                             version):
    for case, value in malformed_headers(authorities).items():
        answer = directly(certificate_server, version, value)
        assert answer.status == 400 and answer.headers["Content-Type"].startswith(MEDIA_TYPE[version]), case
        code, message = fault(answer.body, version)
        assert (code, message) == ("MalformedRequest", f"the {HEADER} header is not one URL-escaped PEM certificate")
        line = certificate_server.request_log_line(answer.headers["X-Request-Id"])
        assert line["certificate"] is line["operation"] is None  # refused before anything was read or run
