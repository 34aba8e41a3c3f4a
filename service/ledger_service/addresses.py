"""A request's two addresses: the one it was sent to (the service's base URL, which the WSDL's
soap:address and /docs name) and the one it came from (the client's, for the request log and for
budgets kept per source address); and the client certificate a proxy verified for mutual TLS.

The base URL is LEDGER_PUBLIC_URL when that is set. Otherwise it is the request's scheme and its Host
header, which must be exactly a host[:port] (an RFC 3986 reg-name, an IPv4 address or a bracketed IPv6
one; a port from 1 to 65535): anything else is refused (HTTP 400), whatever it would have been used for.
X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-For are believed only from a peer (REMOTE_ADDR) in
LEDGER_TRUSTED_PROXIES, and checked as strictly; from any other peer they are not read at all. This is
the one place that decides: gunicorn's own handling of forwarded headers is turned off
(deploy/gunicorn.conf.py), so wsgi.url_scheme is the scheme of the connection itself.

The client certificate is read from the header LEDGER_CLIENT_CERTIFICATE_HEADER names (none when it is
unset), from a trusted proxy only, like X-Forwarded-*: URL-escaped PEM, as nginx's
$ssl_client_escaped_cert writes it, and exactly one certificate; anything else is refused as a
malformed forwarded header is. What the certificate proves is the authentication's to decide.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from .adapters.certificates import one_pem_certificate
from .service_layer.context import ClientCertificate

DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"  # deploy/nginx, on the same host
# RFC 3986: a reg-name is unreserved characters, sub-delims and percent-encodings; an IPv4 address is
# one too.
_REG_NAME = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_MAX_NAME_LENGTH = 253  # DNS's limit on a name
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*")
_URL = re.compile(r"(?P<scheme>https?)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)", re.IGNORECASE)
# A header's name as the service can read it: a token of letters, digits and hyphens (the server drops
# a header whose name has an underscore: serving/application.py).
_HEADER_NAME = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
# Percent-encoding of everything but RFC 3986's unreserved characters, as nginx escapes a certificate;
# a comma, which joins two headers of the same name, is not among them.
_URL_ESCAPED = re.compile(r"(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidHeader(ValueError):
    """A request header the service reads (Host, or one a trusted proxy sets) that is malformed."""


class AddressSettingError(ValueError):
    """LEDGER_PUBLIC_URL, LEDGER_TRUSTED_PROXIES or LEDGER_CLIENT_CERTIFICATE_HEADER cannot be used."""


def _is_ipv6_literal(value: str) -> bool:
    # A zone index ("%eth0") means nothing to anyone but this host.
    if "%" in value:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _is_host(value: str) -> bool:
    """Whether `value` is exactly a host[:port]."""
    if value.startswith("["):
        literal, bracket, rest = value[1:].partition("]")
        valid = bool(bracket) and _is_ipv6_literal(literal)
    else:
        name, colon, port = value.partition(":")
        valid, rest = len(name) <= _MAX_NAME_LENGTH and _REG_NAME.fullmatch(name) is not None, colon + port
    if not rest:
        return valid
    port = rest[1:]
    return valid and rest[0] == ":" and _PORT.fullmatch(port) is not None and int(port) <= 65535


def _host(value: str | None, header: str) -> str:
    if value is None:
        raise InvalidHeader(f"the request has no {header} header")
    if not _is_host(value):
        raise InvalidHeader(f"the {header} header is not a host[:port]")
    return value


def _scheme(value: str) -> str:
    if value.lower() not in ("http", "https"):
        raise InvalidHeader("the X-Forwarded-Proto header is neither http nor https")
    return value.lower()


@functools.lru_cache(maxsize=1024)
def _ip(value: str) -> Address | None:
    """The address `value` writes, as the peer or a proxy gives it (a request asks up to four times)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def public_url(value: str) -> str | None:
    """LEDGER_PUBLIC_URL without its trailing slash; None when it is empty."""
    if not value:
        return None
    url = _URL.fullmatch(value)
    if url is None or not _is_host(url["authority"]) or not _PATH.fullmatch(url["path"]):
        # The value itself is not repeated: it could hold a password.
        raise AddressSettingError("LEDGER_PUBLIC_URL must be an absolute http:// or https:// URL: a host[:port] and "
                                  "optionally a path, with no user, query or fragment (https://ledger.example.com)")
    return f"{url['scheme'].lower()}://{url['authority']}{url['path'].rstrip('/')}"


def trusted_proxies(value: str) -> tuple[Network, ...]:
    """LEDGER_TRUSTED_PROXIES: comma-separated addresses and CIDR networks; empty trusts no proxy."""
    if not value.strip():
        return ()
    networks = []
    for entry in value.split(","):
        try:
            networks.append(ipaddress.ip_network(entry.strip()))
        except ValueError:
            raise AddressSettingError(f"LEDGER_TRUSTED_PROXIES: {entry.strip()!r} is neither an IP address nor a "
                                      "network such as 10.0.0.0/8") from None
    return tuple(networks)


def client_certificate_header(value: str) -> str | None:
    """LEDGER_CLIENT_CERTIFICATE_HEADER: a header's name; None when empty."""
    name = value.strip()
    if not name:
        return None
    if not _HEADER_NAME.fullmatch(name):
        raise AddressSettingError(f"LEDGER_CLIENT_CERTIFICATE_HEADER: {name!r} is not a header name (letters, digits "
                                  "and hyphens, such as X-Client-Certificate)")
    return name


def _forwarded_certificate(value: str, header: str) -> ClientCertificate:
    """The one certificate that `value`, URL-escaped PEM, holds. Raises InvalidHeader."""
    der = one_pem_certificate(unquote_to_bytes(value)) if _URL_ESCAPED.fullmatch(value) else None
    if der is None:
        raise InvalidHeader(f"the {header} header is not one URL-escaped PEM certificate")
    return ClientCertificate(der)


@dataclass(frozen=True)
class Addresses:
    public_url: str | None
    trusted_proxies: tuple[Network, ...]
    client_certificate_header: str | None = None

    def _trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self.trusted_proxies)

    def base_url(self, environ: dict) -> str:
        """scheme://host[:port][/path], to which the endpoints' paths are appended. Raises InvalidHeader."""
        host = _host(environ.get("HTTP_HOST"), "Host")  # checked even when unused: RFC 9112 section 3.2
        if self.public_url:
            return self.public_url
        scheme = environ.get("wsgi.url_scheme", "http")
        if self._trusted(_ip(environ.get("REMOTE_ADDR", ""))):
            if "HTTP_X_FORWARDED_PROTO" in environ:
                scheme = _scheme(environ["HTTP_X_FORWARDED_PROTO"])
            if "HTTP_X_FORWARDED_HOST" in environ:
                host = _host(environ["HTTP_X_FORWARDED_HOST"], "X-Forwarded-Host")
        return f"{scheme}://{host}"

    def client_certificate(self, environ: dict) -> ClientCertificate | None:
        """The certificate a trusted proxy says the client presented and it verified; None when the header is
        not set, or not read (no header named, or a peer that is not a trusted proxy). Raises InvalidHeader."""
        header = self.client_certificate_header
        if header is None or not self._trusted(_ip(environ.get("REMOTE_ADDR", ""))):
            return None
        value = environ.get("HTTP_" + header.upper().replace("-", "_"))
        return None if value is None else _forwarded_certificate(value, header)

    def client_address(self, environ: dict) -> str | None:
        """The peer; behind trusted proxies, the right-most address of X-Forwarded-For that is not one of
        them (every address to its left is the client's own claim). None on a Unix socket."""
        peer = environ.get("REMOTE_ADDR") or None
        client = _ip(peer or "")
        if not self._trusted(client):
            return str(client) if client else peer
        for hop in reversed(environ.get("HTTP_X_FORWARDED_FOR", "").split(",")):
            vouched = _ip(hop.strip())
            if vouched is None:  # a trusted proxy vouches for no more than what it could parse
                break
            client = vouched
            if not self._trusted(client):
                break
        return str(client)
