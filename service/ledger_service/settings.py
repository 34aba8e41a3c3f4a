"""Every LEDGER_* setting of the service: one frozen object, read from the environment once per process.

`Settings.from_environment()` reads and checks them all at a process's start: `ledger-service`'s main,
gunicorn's master as it reads deploy/gunicorn.conf.py, each worker as it builds the app
(`wsgi.create_app`). What needs a setting is handed the object, or the part of it it uses. A variable
that is unset, or empty, takes its default (except LEDGER_TRUSTED_PROXIES, where empty trusts no
proxy); a value that cannot be used is a SettingError, one sentence naming the variable.

Each field documents itself (its variable, its default, what it means, how its text is read):
docs/operations.md's "Configuration reference" is `reference_table()`, printed by
`ledger-service settings reference`, and tests/test_deploy.py fails when the two differ.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Callable, Mapping

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .adapters.database import DEFAULT_URL, Database, create_ledger_engine
from .adapters.standby import Standby
from .adapters.secret_box import SecretBox, SecretKeyError
from .addresses import DEFAULT_TRUSTED_PROXIES, Addresses, Network
from .addresses import client_certificate_header as _checked_client_certificate_header
from .addresses import public_url as _checked_public_url
from .addresses import trusted_proxies as _checked_trusted_proxies
from .domain.rate_limits import RateLimit
from .service_layer.admin_input import BURST_MAX, AdminError, parse_rate_limit
from .service_layer.failed_logins import DEFAULT_PER_ADDRESS, DEFAULT_PER_USERNAME, FailedLoginBudget
from .soap.envelope import Limits
from .sweeper import DEFAULT_INTERVAL_SECONDS, DEFAULT_SEAL_INTERVAL_SECONDS
from .wsse.identity import SigningIdentity

# The fixtures of a source checkout (an editable install, or a container built from the repository).
CHECKOUT_EXAMPLES = Path(__file__).resolve().parents[2] / "tests" / "envelopes"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")  # the ones gunicorn's logger knows too
_METADATA_KEY = "setting"


class SettingError(ValueError):
    """A LEDGER_* variable whose value cannot be used, said in one sentence that names it."""


@dataclass(frozen=True)
class Setting:
    """How one field of Settings comes from the environment, and how the operations guide describes it."""

    variable: str
    meaning: str  # Markdown, as the guide's table shows it
    parse: Callable[[str], object]  # raises ValueError, or the parsing's own error, on a value it refuses
    unset: Callable[[], object]  # the value when the variable is unset (or empty, when empty_is_unset)
    default: str  # Markdown: what an unset variable means
    show: Callable[[object], str] = str  # the value as `ledger-service settings show` prints it
    empty_is_unset: bool = True

    def read(self, environ: Mapping[str, str]) -> object:
        text = environ.get(self.variable)
        if text is None or (self.empty_is_unset and not text.strip()):
            return self.unset()
        try:
            return self.parse(text)
        except (ValueError, AdminError, SecretKeyError) as refused:
            message = str(refused)
            raise SettingError(message if self.variable in message else f"{self.variable}: {message}") from None


def _setting(variable: str, meaning: str, parse: Callable[[str], object] = str, *, default: str | None = None,
             unset: Callable[[], object] = lambda: None, documented_default: str | None = None,
             show: Callable[[object], str] = str, empty_is_unset: bool = True):
    """A field of Settings. `default` is the text an unset variable stands for, parsed like a value;
    otherwise `unset` makes the value and `documented_default` says what it is."""
    if default is not None:
        unset = partial(parse, default)
    described = Setting(variable, meaning, parse, unset, documented_default or f"`{default}`", show, empty_is_unset)
    return field(default_factory=described.unset, metadata={_METADATA_KEY: described})


def _whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = None
        if number is None or number < minimum or (maximum is not None and number > maximum):
            raise ValueError(f"{text!r} is not a whole number {bounds}")
        return number

    return parse


def _seconds(minimum: float, *, inclusive: bool) -> Callable[[str], float]:
    bounds = f"of {minimum:g} or more" if inclusive else f"above {minimum:g}"

    def parse(text: str) -> float:
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < minimum or (seconds == minimum and not inclusive):
            raise ValueError(f"{text!r} is not a number of seconds {bounds}")
        return seconds

    return parse


def _url_of(backends: tuple[str, ...], refusal: str) -> Callable[[str], str]:
    """A database URL of one of these backends; another is refused with `refusal`, which does not repeat
    the value (it could hold a password)."""
    def parse(text: str) -> str:
        try:
            backend = make_url(text).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in backends:
            raise ValueError(refusal)
        return text

    return parse


_database_url = _url_of(("sqlite", "postgresql", "postgres"),
                        "LEDGER_DATABASE_URL must be a SQLite or PostgreSQL URL, such as "
                        "sqlite:////srv/ledger/ledger.db or postgresql://user:password@host:5432/ledger")
_standby_url = _url_of(("postgresql", "postgres"),
                       "LEDGER_READ_DATABASE_URL must be the PostgreSQL URL of a hot standby of LEDGER_DATABASE_URL, "
                       "such as postgresql://user:password@standby:5432/ledger")


def _without_password(url: str | None) -> str:
    return "unset" if url is None else make_url(url).render_as_string(hide_password=True)


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"{text!r} is not a log level: say {', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}")
    return level


def _per_minute(text: str) -> int:
    return parse_rate_limit(text).per_minute


def _rate(per_minute: int) -> str:
    return f"{per_minute}/min"


def _burst(variable: str, meaning: str, default: RateLimit):
    """The burst of a budget of failed logins (FailedLoginBudget): a field of Settings."""
    return _setting(variable, meaning, _whole_number(1, BURST_MAX), default=str(default.burst))


def _refill_rate(variable: str, meaning: str, default: RateLimit):
    """The rate at which a budget of failed logins refills, in requests a minute: a field of Settings."""
    return _setting(variable, meaning, _per_minute, default=_rate(default.per_minute), show=_rate)


def _networks(networks: tuple[Network, ...]) -> str:
    return ",".join(map(str, networks)) or "none"


def _in_seconds(seconds: float) -> str:
    return f"{seconds:g}"


def _masked(_secret) -> str:
    return "********"


def _public_url(text: str) -> str | None:
    return _checked_public_url(text.strip())


def _two_workers_per_core() -> int:
    return 2 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    """The service's settings, one field per LEDGER_* variable, each described by its Setting."""

    database_url: str = _setting(
        "LEDGER_DATABASE_URL",
        "SQLAlchemy URL of the database; `sqlite:////abs/path/ledger.db` for an absolute file. A command other than "
        "`serve` and `migrate` that finds no migrated database there says which file or URL it looked at and stops. "
        "Production: `postgresql://user:password@host:5432/ledger` (psycopg 3). SQLite suits one host only",
        _database_url, default=DEFAULT_URL, show=_without_password,
        documented_default=f"`{DEFAULT_URL}` (relative to the directory a command runs in)")
    read_database_url: str | None = _setting(
        "LEDGER_READ_DATABASE_URL",
        "URL of a PostgreSQL hot standby of `LEDGER_DATABASE_URL` that serves the read operations; writes, and what "
        "they read, stay on the primary. A client reads its own writes, and reads go to the primary while the "
        "standby is down ([Read replicas](#read-replicas)). Needs a PostgreSQL `LEDGER_DATABASE_URL`",
        _standby_url, documented_default="unset: the primary serves every read", show=_without_password)
    read_wait_seconds: float = _setting(
        "LEDGER_READ_WAIT_SECONDS",
        "how long a read waits for the standby to replay the writes its client saw committed, before the primary "
        "serves it instead", _seconds(0, inclusive=True), default="1", show=_in_seconds)
    standby_retry_seconds: float = _setting(
        "LEDGER_STANDBY_RETRY_SECONDS",
        "after the standby failed to answer, how long the primary serves every read before the standby is asked "
        "again", _seconds(0, inclusive=True), default="10", show=_in_seconds)
    secret_key: SecretBox | None = _setting(
        "LEDGER_SECRET_KEY",
        "comma-separated Fernet keys, newest first: the first encrypts client secrets kept for PasswordDigest, every "
        "one decrypts. Back it up apart from the database (see [Backups](#backup-and-restore)); rotation in the "
        "README's Security section",
        SecretBox, documented_default="unset", show=_masked)
    bind: str = _setting(
        "LEDGER_BIND", "address gunicorn listens on; keep it on loopback behind the proxy", default="127.0.0.1:8000")
    workers: int = _setting(
        "LEDGER_WORKERS", "gunicorn worker processes", _whole_number(1), unset=_two_workers_per_core,
        documented_default="two per CPU core")
    threads: int = _setting(
        "LEDGER_THREADS",
        "threads per worker that run requests (more contend for a worker's interpreter lock: see `bench/README.md`)",
        _whole_number(1), default="2")
    accept_deferral_seconds: float = _setting(
        "LEDGER_ACCEPT_DEFERRAL_SECONDS",
        "how long a worker whose `LEDGER_THREADS` all hold a connection leaves a new connection to the workers "
        "with a thread free before it takes it itself ([Serving model](#serving-model); 0: takes it at once)",
        _seconds(0, inclusive=True), default="0.005", show=_in_seconds)
    worker_connections: int = _setting(
        "LEDGER_WORKER_CONNECTIONS",
        "connections one worker holds open at once (idle, arriving or being answered); past it the worker stops "
        "accepting until one closes",
        _whole_number(1), default="1000")
    body_timeout_seconds: float = _setting(
        "LEDGER_BODY_TIMEOUT_SECONDS",
        "a request must arrive whole, from its first byte to its last, within this time; a slower one gets a "
        "`MalformedRequest` fault and its connection is closed. The same bound applies to a client reading its "
        "response",
        _seconds(0, inclusive=False), default=_in_seconds(Limits.body_timeout_seconds), show=_in_seconds)
    max_buffered_bytes: int = _setting(
        "LEDGER_MAX_BUFFERED_BYTES",
        "request bodies one worker holds at once while they arrive; a body that would pass it is refused with "
        "`Unavailable` (HTTP 503, Retry-After: 1)",
        _whole_number(1), default=str(Limits.max_buffered_bytes))
    worker_timeout: int = _setting(
        "LEDGER_WORKER_TIMEOUT", "seconds a worker may stay silent before gunicorn replaces it",
        _whole_number(0), default="60")
    graceful_timeout: int = _setting(
        "LEDGER_GRACEFUL_TIMEOUT", "seconds a worker may finish its requests on SIGTERM or SIGHUP",
        _whole_number(0), default="30")
    max_requests: int = _setting(
        "LEDGER_MAX_REQUESTS", "requests after which a worker is replaced (with 10% jitter, so never all at once)",
        _whole_number(0), default="20000")
    public_url: str | None = _setting(
        "LEDGER_PUBLIC_URL",
        "the service's address as clients call it (`https://ledger.example.com`, a path allowed; no query, fragment "
        "or user): the WSDL's `soap:address` and `/docs` name it whatever a request says. A malformed value stops "
        "`serve`. See [Addresses and proxies](#addresses-and-proxies)",
        _public_url, documented_default="unset")
    trusted_proxies: tuple[Network, ...] = _setting(
        "LEDGER_TRUSTED_PROXIES",
        "comma-separated addresses and CIDR networks (`10.0.0.0/8`) of the proxies whose `X-Forwarded-Proto`, "
        "`X-Forwarded-Host` and `X-Forwarded-For` the service believes; empty: none. The default is nginx on the "
        "same host ([Addresses and proxies](#addresses-and-proxies))",
        _checked_trusted_proxies, default=DEFAULT_TRUSTED_PROXIES, show=_networks, empty_is_unset=False)
    client_certificate_header: str | None = _setting(
        "LEDGER_CLIENT_CERTIFICATE_HEADER",
        "the request header in which a trusted proxy forwards the client certificate it verified for mutual TLS, "
        "URL-escaped PEM as nginx's `$ssl_client_escaped_cert` (`X-Client-Certificate` with "
        "`deploy/nginx/soap-ledger-mtls.conf`); read only from `LEDGER_TRUSTED_PROXIES`. Unset: no certificate is "
        "read ([Mutual TLS](#mutual-tls))",
        _checked_client_certificate_header, documented_default="unset")
    signing_key: Path | None = _setting(
        "LEDGER_SIGNING_KEY",
        "PEM file of the unencrypted RSA private key the service signs every SOAP answer with, faults included, "
        "set together with `LEDGER_SIGNING_CERTIFICATE` ([Signed responses](#signed-responses)). Only one of the "
        "two, an unreadable file or a certificate of another key stops `serve`",
        Path, documented_default="unset: answers are not signed")
    signing_certificate: Path | None = _setting(
        "LEDGER_SIGNING_CERTIFICATE",
        "PEM file of that key's X.509 certificate, which each signed answer carries for clients to compare with the "
        "copy they were given", Path, documented_default="unset")
    control_socket: str | None = _setting(
        "LEDGER_CONTROL_SOCKET", "path of gunicorn's control socket (`gunicornc`); none without it",
        documented_default="unset")
    log_level: str | None = _setting(
        "LEDGER_LOG_LEVEL",
        "log level; logs never carry a password, a digest, a page token or what the database says of a row "
        "([Logs](#logs))",
        _log_level, documented_default="`INFO` for the service, `WARNING` for commands")
    max_body_bytes: int = _setting(
        "LEDGER_MAX_BODY_BYTES",
        "larger request bodies are refused while being read (`MalformedRequest`); keep the proxy's limit above it",
        _whole_number(1), default=str(Limits.max_body_bytes))
    max_xml_depth: int = _setting(
        "LEDGER_MAX_XML_DEPTH", "deeper XML nesting is refused (`MalformedRequest`)",
        _whole_number(1), default=str(Limits.max_depth))
    failed_logins_burst_per_username: int = _burst(
        "LEDGER_FAILED_LOGINS_BURST_PER_USERNAME",
        "failed authentications one username may have at once; then every request with it, whatever the password, "
        "is `RateLimited` until its budget refills ([Failed logins](#failed-logins))", DEFAULT_PER_USERNAME)
    failed_logins_per_username: int = _refill_rate(
        "LEDGER_FAILED_LOGINS_PER_USERNAME", "how fast a username's budget refills (`N/s` or `N/min`)",
        DEFAULT_PER_USERNAME)
    failed_logins_burst_per_address: int = _burst(
        "LEDGER_FAILED_LOGINS_BURST_PER_ADDRESS",
        "the same for one source address, whatever the usernames (an IPv6 address counts by its /64)",
        DEFAULT_PER_ADDRESS)
    failed_logins_per_address: int = _refill_rate(
        "LEDGER_FAILED_LOGINS_PER_ADDRESS", "how fast an address's budget refills", DEFAULT_PER_ADDRESS)
    hold_sweep_seconds: float = _setting(
        "LEDGER_HOLD_SWEEP_SECONDS",
        "how often each worker tidies away the reservations of expired pending entries (0: never; nothing waits "
        "for it)",
        _seconds(0, inclusive=True), default=_in_seconds(DEFAULT_INTERVAL_SECONDS), show=_in_seconds)
    journal_seal_seconds: float = _setting(
        "LEDGER_JOURNAL_SEAL_SECONDS",
        "how often each worker seals the journal records that changes queued on PostgreSQL onto their books' "
        "chains: about the longest a record waits unsealed ([The chain](contract.md#the-chain); 0: only when "
        "the journal is read or exported)",
        _seconds(0, inclusive=True), default=_in_seconds(DEFAULT_SEAL_INTERVAL_SECONDS), show=_in_seconds)
    metrics_dir: Path | None = _setting(
        "LEDGER_METRICS_DIR",
        "where the workers of one gunicorn keep their `/metrics` counters; emptied when gunicorn starts",
        Path, documented_default="a fresh temporary folder")
    docs_examples: Path = _setting(
        "LEDGER_DOCS_EXAMPLES", "the envelope fixtures `/docs` shows as examples",
        Path, unset=lambda: CHECKOUT_EXAMPLES, documented_default="the checkout's `tests/envelopes`")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Every setting, read and checked; a SettingError names the first variable that cannot be used."""
        settings = cls(**{setting.name: _described(setting).read(environ) for setting in fields(cls)})
        settings.signing_identity()  # a process with a key it cannot sign with refuses to start
        if settings.read_database_url is not None and make_url(settings.database_url).get_backend_name() == "sqlite":
            raise SettingError("LEDGER_READ_DATABASE_URL needs a PostgreSQL LEDGER_DATABASE_URL, whose hot standby it "
                               "is; SQLite has none")
        return settings

    def database(self) -> Database:
        """The primary, and the standby reads may be served by when LEDGER_READ_DATABASE_URL is set."""
        standby = None
        if self.read_database_url is not None:
            standby = Standby(create_ledger_engine(self.read_database_url), self.read_wait_seconds,
                              self.standby_retry_seconds)
        return Database(self.database_url, standby)

    def signing_identity(self) -> SigningIdentity | None:
        """The key and certificate to sign answers with, read from their files (None: answers are not signed);
        a SettingError when only one is set, or they cannot be used."""
        key, certificate = self.signing_key, self.signing_certificate
        if key is None and certificate is None:
            return None
        if key is None or certificate is None:
            raise SettingError("LEDGER_SIGNING_KEY and LEDGER_SIGNING_CERTIFICATE go together: set both, or neither")
        try:
            return SigningIdentity.from_files(key, certificate)
        except ValueError as refused:
            raise SettingError(f"LEDGER_SIGNING_KEY, LEDGER_SIGNING_CERTIFICATE: {refused}") from None

    @property
    def addresses(self) -> Addresses:
        return Addresses(self.public_url, self.trusted_proxies, self.client_certificate_header)

    @property
    def limits(self) -> Limits:
        return Limits(max_body_bytes=self.max_body_bytes, max_depth=self.max_xml_depth,
                      body_timeout_seconds=self.body_timeout_seconds, max_buffered_bytes=self.max_buffered_bytes)

    @property
    def failed_login_budget(self) -> FailedLoginBudget:
        return FailedLoginBudget(RateLimit(self.failed_logins_per_username, self.failed_logins_burst_per_username),
                                 RateLimit(self.failed_logins_per_address, self.failed_logins_burst_per_address))

    def shown(self) -> list[tuple[str, str]]:
        """(variable, value) for each setting as in effect, secrets masked, "(default)" after an unset one's."""
        lines = []
        for setting in fields(self):
            described, value = _described(setting), getattr(self, setting.name)
            text = "unset" if value is None else described.show(value)
            lines.append((described.variable, f"{text} (default)" if value == described.unset() else text))
        return lines


def _described(setting) -> Setting:
    return setting.metadata[_METADATA_KEY]


SETTINGS: tuple[Setting, ...] = tuple(_described(setting) for setting in fields(Settings))


def reference_table() -> str:
    """docs/operations.md's "Configuration reference" table, in Markdown: one row per field of Settings."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{setting.variable}` | {setting.default} | {setting.meaning} |" for setting in SETTINGS]
    return "\n".join(rows) + "\n"
