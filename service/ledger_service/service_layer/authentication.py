"""Who is calling: every use case runs through `Authentication.run`, which establishes the caller from
the request's identities (its UsernameToken, PasswordText or PasswordDigest; the certificate a trusted
proxy verified for mutual TLS; the certificate whose key signed the message), spends a rate-limited
client's token, counts a failure against the failed-login budget, and replaces an outdated password
hash, each of these writes in a short transaction of its own (docs/contract.md#security).

Every identity a request carries must name the same client: a certificate names the client it is
registered to, and must be valid at the time of the request. A client that requires a signature is
refused unless its registered certificate signed the request, whatever else the request proves."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, TypeVar

from ..domain.access import Caller, Client
from ..domain.errors import FaultCode, LedgerError
from ..domain.rate_limits import admit
from .context import ClientCertificate, Context, Credentials, RequestContext
from .failed_logins import FailedLoginBudget
from .ports import LoginSubjects, PasswordDigests, Passwords, SecretBox, Stores, UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)

# A PasswordDigest's Created must lie this close to now; its nonce is kept until Created has left the
# window, plus a margin for hosts whose clocks differ a little.
DIGEST_WINDOW = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)
PRUNE_NONCES_AT_MOST = 100


def authentication_failed() -> LedgerError:
    """The one refusal of every failed authentication, whatever failed: it tells nothing more."""
    return LedgerError(FaultCode.AuthenticationFailed, "authentication failed")


class _TokenNeeded(Exception):
    """A rate-limited client authenticated, and its request has not taken a token yet.

    The token must be spent in a transaction of its own, committed whatever the use case then does: a
    refused or failing request counts too, and reads run in read-only snapshots. It cannot be spent in
    a second transaction nested in the use case's, since on SQLite a writing use case already holds the
    database's one write lock. So authenticating (which every use case does first, before it reads or
    writes anything else) stops the attempt, `run` spends the token, then runs the use case again,
    once, without stopping; retries after a conflict do not spend another. A limited client pays one
    extra short transaction and its first authentication query twice; an unlimited one pays nothing,
    and a caller that fails authentication never reaches, nor learns anything of, the bucket.
    """

    def __init__(self, client_id: int):
        super().__init__(client_id)
        self.client_id = client_id


class _FailedAuthentication(Exception):
    """The credentials did not authenticate, and the failure is not counted yet. `run` counts it against
    the username's and the address's budgets in a transaction of its own, committed although the
    request fails (the use case's own rolls back, or only reads), then answers AuthenticationFailed,
    whatever was wrong."""


def _certificates(request: RequestContext) -> list[ClientCertificate]:
    """The certificates the request comes with: the one mutual TLS presented, the one that signed it."""
    return [certificate for certificate in (request.client_certificate, request.signed_by) if certificate is not None]


def _admits(client: Client, request: RequestContext, now: datetime) -> bool:
    """Whether the request's certificates all are the client's registered one, valid `now`; whether its
    signature is by that certificate's key when the client requires one; and whether it is enabled."""
    registered = client.certificate
    presented = _certificates(request)
    if presented and (registered is None or not registered.valid_at(now)
                      or any(certificate.sha256 != registered.sha256 for certificate in presented)):
        return False
    return not (client.require_signature and request.signed_by is None) and not client.disabled


@dataclass
class _SignIn:
    """One request's identities, checked in each attempt at its use case (`Context.authenticate`)."""

    passwords: Passwords
    failed_logins: FailedLoginBudget
    request: RequestContext
    login: LoginSubjects | None
    # The client whose PasswordDigest was checked, and its nonce spent, before the use case began.
    digest_client_id: int | None = None
    # Whether this request already took its token from a rate-limited client's bucket.
    token_taken: bool = False
    # A PasswordText client whose stored hash is outdated: (its id, that hash).
    outdated_hash: tuple[int, str] | None = field(default=None, repr=False)

    def __call__(self, stores: Stores, book_code: str | None, now: datetime,
                 account_code: str | None = None) -> Caller:
        credentials, presented = self.request.credentials, _certificates(self.request)
        if credentials is not None:
            caller = self._by_password(stores, credentials, book_code, account_code, now)
        elif presented:
            caller = self._by_certificate(stores, presented[-1], book_code, account_code, now)
        else:
            raise authentication_failed()  # a request that names no client spends no one's budget
        if caller is None or not _admits(caller.client, self.request, now):
            raise _FailedAuthentication()
        if credentials is not None and credentials.password_type == "PasswordText" \
                and self.passwords.needs_rehash(caller.client.password_hash):
            self.outdated_hash = (caller.client.id, caller.client.password_hash)
        if caller.client.rate_limit is not None and not self.token_taken:
            raise _TokenNeeded(caller.client.id)
        return caller

    def _by_certificate(self, stores: Stores, certificate: ClientCertificate, book_code: str | None,
                        account_code: str | None, now: datetime) -> Caller | None:
        """The client `certificate` (the signer's, else the mutual-TLS one) is registered to."""
        caller, failed_logins = stores.access.certificate_caller(certificate.sha256, book_code, self.login, now,
                                                                 account_code)
        self.failed_logins.ensure_open(failed_logins, now)
        return caller

    def _by_password(self, stores: Stores, credentials: Credentials, book_code: str | None,
                     account_code: str | None, now: datetime) -> Caller | None:
        """The client the UsernameToken names, if its password (or digest) is right."""
        caller, failed_logins = stores.access.caller(credentials.username, book_code, self.login, now, account_code)
        # Before any password is hashed: a spent budget is refused whatever the password.
        self.failed_logins.ensure_open(failed_logins, now)
        stored = caller.client.password_hash if caller else None
        if credentials.password_type == "PasswordDigest":
            password_matches = caller is not None and caller.client.id == self.digest_client_id
        else:
            # The password is checked whatever else is wrong, so that every failure takes the same time.
            password_matches = self.passwords.verify(
                credentials.username, credentials.password, stored) and credentials.password_type == "PasswordText"
        return caller if password_matches else None


class Authentication:
    def __init__(self, unit_of_work: UnitOfWork, clock: Callable[[], datetime], passwords: Passwords,
                 failed_logins: FailedLoginBudget, digests: PasswordDigests, secret_box: SecretBox | None = None):
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.passwords = passwords
        self.failed_logins = failed_logins
        self.digests = digests
        # Without a secret box no client's secret can be recovered, and no PasswordDigest checked.
        self.secret_box = secret_box

    def run(self, request: RequestContext, operation: str, work: Callable[[Context], T], *, write: bool,
            snapshot: bool = True) -> T:
        """`work` as the use case of `operation`, in one transaction, for the caller `request` names (a read
        without `snapshot`: UnitOfWork.run)."""
        credentials = request.credentials
        login = self._login_subjects(request)
        sign_in = _SignIn(self.passwords, self.failed_logins, request, login, self._admit_digest(credentials, login))

        def attempt(stores: Stores) -> T:
            return work(Context(stores, self.clock(), self.clock, request.request_id, operation, sign_in))

        # A read may be served by a standby of the database; its client still reads its own writes there.
        standby = not write
        try:
            try:
                return self.unit_of_work.run(attempt, write=write, standby=standby, snapshot=snapshot)
            except _TokenNeeded as needed:
                self._take_token(needed.client_id)
                sign_in.token_taken = True
                return self.unit_of_work.run(attempt, write=write, standby=standby, snapshot=snapshot)
        except _FailedAuthentication:
            self.unit_of_work.run(lambda stores: self.failed_logins.count_failure(stores.access, login, self.clock),
                                  write=True)
            raise authentication_failed() from None
        finally:
            if sign_in.outdated_hash is not None:
                self._rehash(credentials.password, *sign_in.outdated_hash)

    def _login_subjects(self, request: RequestContext) -> LoginSubjects | None:
        """The failed-login buckets the request spends: its username's, or without a UsernameToken its
        certificate's, and its address's; None when it names no client at all."""
        if request.credentials is not None:
            return self.failed_logins.subjects(request.credentials.username, request.client_address)
        presented = _certificates(request)
        return self.failed_logins.certificate_subjects(presented[-1].sha256, request.client_address) \
            if presented else None

    def _admit_digest(self, credentials: Credentials | None, login: LoginSubjects | None) -> int | None:
        """The id of the client whose PasswordDigest this is, once its nonce is spent, in a short write
        transaction of its own before the use case's begins: the nonce stays spent even when the use
        case then fails or only reads, and every worker on every host sees it. None for any failure
        (the use case counts it against the `login` budgets). The lookup also reads those budgets,
        refused with RateLimited before anything is computed once they are spent."""
        if credentials is None or credentials.password_type != "PasswordDigest" or self.secret_box is None:
            return None
        now = self.clock()
        created = self.digests.created_at(credentials.created)
        if created is None or not credentials.nonce or abs(now - created) > DIGEST_WINDOW:
            return None
        box = self.secret_box

        def work(stores: Stores) -> int | None:
            found, failed_logins = stores.access.client_secret(credentials.username, login)
            # Before the digest is computed: a spent budget is refused whatever the digest.
            self.failed_logins.ensure_open(failed_logins, now)
            # Decrypt and digest whatever was found, so that unknown clients take as long as known ones.
            secret = box.decrypt(found[1] if found else None)
            if not self.digests.matches(credentials.nonce, credentials.created, credentials.password, secret) \
                    or found is None:
                return None
            if not stores.access.spend_nonce(credentials.username, credentials.nonce,
                                             created + DIGEST_WINDOW + CLOCK_SKEW):
                return None  # a replay
            stores.access.prune_nonces(now, PRUNE_NONCES_AT_MOST)
            return found[0]

        return self.unit_of_work.run(work, write=True)

    def _take_token(self, client_id: int) -> None:
        """Spends one token of the client's bucket, or refuses the request with RateLimited."""
        def spend(stores: Stores) -> None:
            limit, bucket = stores.access.rate_bucket(client_id)
            if limit is None:
                return  # lifted since the request authenticated
            admission = admit(limit, bucket, self.clock())
            if not admission.admitted:
                raise LedgerError(FaultCode.RateLimited,
                                  f"over the rate limit of {limit}; retry after {admission.retry_after} s",
                                  retry_after=admission.retry_after)
            stores.access.save_rate_bucket(client_id, admission.bucket, new=bucket is None)

        self.unit_of_work.run(spend, write=True)

    def _rehash(self, password: str, client_id: int, outdated: str) -> None:
        """Stores the client's password hashed as passwords are hashed now, in place of `outdated`
        (unless something else replaced that meanwhile), once the use case is over, in a short write
        transaction of its own: the next login verifies the new hash. The request's answer does not
        depend on it; should the database fail here, the next successful login tries again."""
        new = self.passwords.hash(password)
        try:
            self.unit_of_work.run(lambda stores: stores.access.replace_password_hash(client_id, outdated, new),
                                  write=True)
        except LedgerError as error:
            log.warning("an outdated password hash was not replaced", extra={"client_id": client_id,
                                                                              "fault": error.code.value})


def use_case(operation: str, *, write: bool, snapshot: bool = True) -> Callable:
    """A method `(self, context, ...)` of a room of use cases as the use case of the contract's
    `operation`, called `(self, request, ...)`: in one transaction, for the caller the request names,
    who must hold what REQUIRED_ROLE says `operation` needs. The room has its `authentication`. A read
    whose every statement stands alone (no answer combines two of them) needs no `snapshot`."""
    def decorate(method):
        @functools.wraps(method)
        def run(self, request: RequestContext, *args, **kwargs):
            return self.authentication.run(request, operation, lambda context: method(self, context, *args, **kwargs),
                                           write=write, snapshot=snapshot)

        run.operation = operation
        return run

    return decorate
