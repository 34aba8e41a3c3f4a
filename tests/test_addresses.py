"""The addresses of a request (docs/operations.md, "Addresses and proxies"): the one the WSDL's
soap:address and /docs name is LEDGER_PUBLIC_URL when set, otherwise built from a Host header that is
strictly a host[:port], and from X-Forwarded-Proto/X-Forwarded-Host only when the peer is in
LEDGER_TRUSTED_PROXIES; the client's own address (the request log's `address`) is the peer, or the right-most
untrusted address of X-Forwarded-For when the peer is a trusted proxy.

Any other Host is HTTP 400: on the SOAP endpoints a SOAP fault of the endpoint's version with
MalformedRequest, elsewhere plain text, and never anything written. Nothing from a request is written into
a document unescaped. Requests go out through http.client, which sends any Host value byte for byte."""
from __future__ import annotations

import http.client
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree, html

from conftest import (CONTENT_TYPE, GUNICORN, SERVE, SOAP_ENV, TNS, LiveServer, assert_refused_to_start, envelope,
                      start_server, unique)

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ["11", "12"]
BINDING = {"11": "http://schemas.xmlsoap.org/wsdl/soap/", "12": "http://schemas.xmlsoap.org/wsdl/soap12/"}
WSDL = "http://schemas.xmlsoap.org/wsdl/"

INJECTIONS = [
    'x"/><a:address xmlns:a="http://schemas.xmlsoap.org/wsdl/soap/" location="http://attacker.example/steal',
    'evil"><inj/>',
]
MALFORMED_HOSTS = INJECTIONS + [
    'a"b', "a\\b", "<a>", "a>b", "a b", "a\tb", "a@b", "user:password@ledger.example", "ledger.example/path",
    "ledger.example/../x", "ledger.example?x=1", "ledger.example#x", "a" * 254, "a." * 127 + "aa",
    "ledger.example:0", "ledger.example:65536", "ledger.example:99999", "ledger.example:-1", "ledger.example:",
    "ledger.example:80:80", "ledger.example:8o", "ledger.example:+80", "ledger.example:080", "::1", "[::1",
    "[zz::1]", "[::1]x", "[::1]:", "[fe80::1%25eth0]", "a%zz", "\u00e9.example", "",
]
# Valid by RFC 3986 (sub-delims are allowed in a reg-name), and each needs escaping in XML or HTML.
ESCAPED_HOSTS = ["x&y'z(1)!$*+,;=", "a&b:8080"]
VALID_HOSTS = ESCAPED_HOSTS + ["a%41b:8080", "ledger.example.com", "LEDGER.example:65535", "127.0.0.1:1", "[::1]:8443",
                               "[2001:db8::7]", "a" * 253]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def call(server: LiveServer, path: str, host: str | None, method: str = "GET", body: bytes = b"",
         headers: dict[str, str] | None = None) -> Answer:
    """One request with exactly this Host header (none when `host` is None)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host.encode("utf-8"))
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def wsdl_address(answer: Answer, version: str) -> str:
    assert answer.status == 200, answer
    document = etree.fromstring(answer.body)
    [address] = document.iter(f"{{{BINDING[version]}}}address")
    return address.get("location")


def malformed_request_fault(answer: Answer, version: str) -> str:
    """The LedgerFault code of a 400 answer that must be a SOAP fault of `version`."""
    assert answer.status == 400, answer
    assert answer.media_type == CONTENT_TYPE[version].split(";")[0], answer.headers
    root = etree.fromstring(answer.body)
    assert root.tag == f"{{{SOAP_ENV[version]}}}Envelope"
    assert root.find(f"{{{SOAP_ENV[version]}}}Body/{{{SOAP_ENV[version]}}}Fault") is not None
    return root.findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code")


def create_book(version: str, code: str) -> bytes:
    return envelope(version, f"<l:CreateBook><l:code>{code}</l:code><l:name>Hosted</l:name></l:CreateBook>")


def post(server: LiveServer, version: str, host: str | None, data: bytes, headers: dict | None = None) -> Answer:
    return call(server, f"/v1/soap{version}", host, "POST", data,
                {"Content-Type": CONTENT_TYPE[version], **(headers or {})})


def request_log_line(server: LiveServer, answer: Answer) -> dict:
    return server.request_log_line(answer.headers["x-request-id"])


# --- the Host header ---

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("host", MALFORMED_HOSTS, ids=repr)
def test_a_malformed_host_gets_a_malformed_request_fault_and_writes_nothing(server, version, host):
    assert malformed_request_fault(call(server, f"/v1/soap{version}?wsdl", host), version) == "MalformedRequest"
    code = unique("H")
    answer = post(server, version, host, create_book(version, code))
    assert malformed_request_fault(answer, version) == "MalformedRequest"
    assert host.encode() not in answer.body or not host
    # the refused CreateBook wrote nothing: the same book can still be created
    created = post(server, version, f"127.0.0.1:{server.port}", create_book(version, code))
    assert created.status == 200 and b"CreateBookResponse" in created.body


@pytest.mark.parametrize("version", VERSIONS)
def test_a_request_without_host_gets_a_malformed_request_fault(sqlite_server, version):
    assert malformed_request_fault(call(sqlite_server, f"/v1/soap{version}?wsdl", None), version) == \
        "MalformedRequest"


@pytest.mark.parametrize("path", ["/docs", "/healthz", "/metrics", "/nowhere"])
@pytest.mark.parametrize("host", INJECTIONS + ["a b", "a@b", ""], ids=repr)
def test_a_malformed_host_elsewhere_is_a_plain_400_that_echoes_nothing(sqlite_server, path, host):
    answer = call(sqlite_server, path, host)
    assert (answer.status, answer.media_type) == (400, "text/plain"), answer
    assert b"<" not in answer.body and (not host or host.encode() not in answer.body)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_valid_host_is_the_wsdl_address_escaped_as_xml(sqlite_server, version):
    for host in VALID_HOSTS:
        answer = call(sqlite_server, f"/v1/soap{version}?wsdl", host)
        assert wsdl_address(answer, version) == f"http://{host}/v1/soap{version}", host
        ports = etree.fromstring(answer.body).findall(f"{{{WSDL}}}service/{{{WSDL}}}port")
        assert [len(port) for port in ports] == [1]  # one address, nothing injected beside it


@pytest.mark.parametrize("host", ESCAPED_HOSTS)
def test_docs_names_the_addresses_of_the_host_escaped_as_html(sqlite_server, host):
    answer = call(sqlite_server, "/docs", host)
    assert answer.status == 200
    page = html.fromstring(answer.body)
    for version in VERSIONS:
        link = page.get_element_by_id(f"wsdl-soap{version}")
        assert link.get("href") == f"http://{host}/v1/soap{version}?wsdl"
        assert page.get_element_by_id(f"address-soap{version}").text_content() == f"http://{host}/v1/soap{version}"
    assert host.encode() not in answer.body  # only ever escaped


# --- LEDGER_PUBLIC_URL ---

PUBLIC_URL = "https://ledger.example.com:8443/soap&ledger"


@pytest.fixture(scope="module")
def public_server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_PUBLIC_URL": PUBLIC_URL + "/"})


@pytest.mark.parametrize("version", VERSIONS)
def test_the_public_url_overrides_host_and_forwarded_headers(public_server, version):
    forwarded = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "proxy.example:81"}
    answer = call(public_server, f"/v1/soap{version}?wsdl", "other.example:9000", headers=forwarded)
    assert wsdl_address(answer, version) == f"{PUBLIC_URL}/v1/soap{version}"
    page = html.fromstring(call(public_server, "/docs", "other.example:9000", headers=forwarded).body)
    assert page.get_element_by_id(f"wsdl-soap{version}").get("href") == f"{PUBLIC_URL}/v1/soap{version}?wsdl"


@pytest.mark.parametrize("value", [
    "ledger.example.com", "ftp://ledger.example.com", "https://", "https://ledger.example.com/?x=1",
    "https://ledger.example.com/#top", "https://user@ledger.example.com", "https://ledger.example.com:99999",
    'https://ledger.example.com/"><x/>', "https://ledger example.com", "https://ledger.example.com/a b",
])
def test_a_bad_public_url_stops_serve_with_a_clear_message(tmp_path, value):
    assert_refused_to_start(SERVE, tmp_path, {"LEDGER_PUBLIC_URL": value}, "LEDGER_PUBLIC_URL")


@pytest.mark.parametrize("value", ["10.0.0.300", "proxy.example", "10.0.0.0/33", "127.0.0.1,,::1"])
def test_bad_trusted_proxies_stop_serve_with_a_clear_message(tmp_path, value):
    assert_refused_to_start(SERVE, tmp_path, {"LEDGER_TRUSTED_PROXIES": value}, "LEDGER_TRUSTED_PROXIES")


@pytest.mark.parametrize("variable, value", [("LEDGER_PUBLIC_URL", "https://ledger.example.com/?x"),
                                             ("LEDGER_TRUSTED_PROXIES", "proxy.example"),
                                             ("LEDGER_CLIENT_CERTIFICATE_HEADER", "X_Client_Certificate"),
                                             ("LEDGER_CLIENT_CERTIFICATE_HEADER", "X-Client-Certificate:")])
def test_bad_address_settings_stop_gunicorn_as_the_unit_starts_it(tmp_path, variable, value):
    assert_refused_to_start(GUNICORN, tmp_path, {variable: value, "LEDGER_BIND": "127.0.0.1:0",
                                                 "LEDGER_WORKERS": "1"}, variable)


# --- forwarded headers, and the client's address ---

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ledger.example.com:8443",
             "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture(scope="module")
def untrusting_server(request, tmp_path_factory):
    """Trusts a proxy network that the tests' own address, 127.0.0.1, is not in."""
    return start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_TRUSTED_PROXIES": "10.0.0.0/8, ::1"})


@pytest.mark.parametrize("version", VERSIONS)
def test_forwarded_headers_from_an_untrusted_peer_are_ignored(untrusting_server, version):
    host = f"127.0.0.1:{untrusting_server.port}"
    answer = call(untrusting_server, f"/v1/soap{version}?wsdl", host, headers=FORWARDED)
    assert wsdl_address(answer, version) == f"http://{host}/v1/soap{version}"
    assert request_log_line(untrusting_server, answer)["address"] == "127.0.0.1"
    # not read at all, so not refused either
    garbage = {"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": 'evil"><inj/>', "X-Forwarded-For": "not an address"}
    answer = call(untrusting_server, f"/v1/soap{version}?wsdl", host, headers=garbage)
    assert wsdl_address(answer, version) == f"http://{host}/v1/soap{version}"
    assert request_log_line(untrusting_server, answer)["address"] == "127.0.0.1"


@pytest.mark.parametrize("version", VERSIONS)
def test_forwarded_headers_from_a_trusted_peer_make_the_address(sqlite_server, version):
    """sqlite_server runs with the default LEDGER_TRUSTED_PROXIES: loopback, as nginx on the same host."""
    answer = call(sqlite_server, f"/v1/soap{version}?wsdl", "internal:8000", headers=FORWARDED)
    assert wsdl_address(answer, version) == f"https://ledger.example.com:8443/v1/soap{version}"
    assert request_log_line(sqlite_server, answer)["address"] == "203.0.113.9"
    answer = call(sqlite_server, f"/v1/soap{version}?wsdl", "ledger.example.com",
                  headers={"X-Forwarded-Proto": "https"})
    assert wsdl_address(answer, version) == f"https://ledger.example.com/v1/soap{version}"
    page = html.fromstring(call(sqlite_server, "/docs", "internal:8000", headers=FORWARDED).body)
    assert page.get_element_by_id(f"wsdl-soap{version}").get("href") == \
        f"https://ledger.example.com:8443/v1/soap{version}?wsdl"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("forwarded", [
    {"X-Forwarded-Host": INJECTIONS[0]}, {"X-Forwarded-Host": INJECTIONS[1]}, {"X-Forwarded-Host": "a@b"},
    {"X-Forwarded-Host": "a.example, b.example"}, {"X-Forwarded-Host": "a.example:0"},
    {"X-Forwarded-Proto": "ftp"}, {"X-Forwarded-Proto": "https, http"}, {"X-Forwarded-Proto": 'https"'},
], ids=repr)
def test_malformed_forwarded_headers_from_a_trusted_peer_are_refused(sqlite_server, version, forwarded):
    host = f"127.0.0.1:{sqlite_server.port}"
    assert malformed_request_fault(call(sqlite_server, f"/v1/soap{version}?wsdl", host, headers=forwarded),
                                   version) == "MalformedRequest"
    code = unique("F")
    assert malformed_request_fault(post(sqlite_server, version, host, create_book(version, code), forwarded),
                                   version) == "MalformedRequest"
    assert post(sqlite_server, version, host, create_book(version, code)).status == 200


@pytest.mark.parametrize("forwarded_for, address", [
    ("203.0.113.9", "203.0.113.9"),
    ("198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the left one is the client's own claim
    ("203.0.113.9, 127.0.0.1", "203.0.113.9"),  # a trusted proxy in the chain is passed over
    ("2001:db8::9", "2001:db8::9"),
    ("not-an-address", "127.0.0.1"),  # what a trusted proxy vouches for, and no further
    ("203.0.113.9, not-an-address, 127.0.0.1", "127.0.0.1"),
])
def test_the_client_address_is_the_right_most_untrusted_one(sqlite_server, forwarded_for, address):
    answer = call(sqlite_server, "/healthz", "ledger.example.com", headers={"X-Forwarded-For": forwarded_for})
    assert answer.status == 200
    assert request_log_line(sqlite_server, answer)["address"] == address
