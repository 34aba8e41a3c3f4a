"""Mutual TLS authenticates (docs/operations.md, "Mutual TLS"): a request through
deploy/nginx/soap-ledger-mtls.conf that carries no credentials but the certificate nginx verified runs as
the client registered with that certificate; a certificate the clients' CA issued to no registered client
is AuthenticationFailed, from the service.

Not collected until the service maps a forwarded certificate to its client: rename it to
test_mutual_tls_client.py then (its fixtures are test_mutual_tls.py's)."""
from __future__ import annotations

import pytest

from conftest import cli, envelope, unique
from test_mutual_tls import VERSIONS, authorities, certificate_server, fault, mutual_tls, through  # noqa: F401

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("version", VERSIONS)
def test_the_certificate_nginx_verified_authenticates_as_its_client(certificate_server, mutual_tls, authorities,
                                                                     version):
    book = certificate_server.new_book(cash=("ASSET", "USD"))
    registered = authorities.clients.client(unique("registered"))
    added = cli("clients", "add", registered.certificate_path.stem, "--certificate", str(registered.certificate_path),
                "--grant", f"{book.code}:reader", env={"LEDGER_DATABASE_URL": certificate_server.database_url})
    assert added.returncode == 0, added.stderr
    balance = envelope(version, f"<l:GetBalance><l:book>{book.code}</l:book><l:account>cash</l:account>"
                                "</l:GetBalance>", username=None)
    answer, request_id = through(mutual_tls, authorities, version, registered, request=balance)
    assert answer.status_code == 200, answer.text
    line = certificate_server.request_log_line(request_id)
    assert (line["operation"], line["certificate"]) == ("GetBalance", registered.sha256)
    unregistered = authorities.clients.client(unique("unregistered"))
    answer, _ = through(mutual_tls, authorities, version, unregistered, request=balance)
    assert fault(answer.content, version) == ("AuthenticationFailed", "authentication failed")
