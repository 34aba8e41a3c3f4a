"""Client passwords at rest (README, Security): argon2id hashes with OWASP's parameters. A hash an earlier
release stored (scrypt) still lets its client in, and is replaced by an argon2id hash at the client's next
successful login, never at a failed one; SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from conftest import fault_code
from ledger_service.adapters.orm import ClientRow
from ledger_service.adapters import passwords
from ledger_service.adapters.passwords import PasswordHashes, hash_password

ARGON2ID_OWASP = "$argon2id$v=19$m=7168,t=5,p=1$"


def scrypt_hash(password: str) -> str:
    """A password hash as releases before argon2 stored them."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "$".join(["scrypt", "16384", "8", "1", base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def stored_hash(server, name: str) -> str:
    database = server.database()
    try:
        return database.run(lambda stores: stores.connection.execute(
            select(ClientRow.password_hash).where(ClientRow.name == name)).scalar_one(), write=False)
    finally:
        database.dispose()


def store_hash(server, name: str, password_hash: str) -> None:
    database = server.database()
    try:
        database.run(lambda stores: stores.connection.execute(
            update(ClientRow).where(ClientRow.name == name).values(password_hash=password_hash)), write=True)
    finally:
        database.dispose()


def test_a_new_client_is_stored_as_an_argon2id_hash(server):
    name, password = server.add_client()
    stored = stored_hash(server, name)
    assert stored.startswith(ARGON2ID_OWASP) and password not in stored


@pytest.mark.parametrize("earlier", [
    pytest.param(scrypt_hash, id="scrypt"),
    pytest.param(PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash, id="argon2id-19MiB"),
])
def test_an_earlier_release_s_hash_lets_its_client_in_and_is_replaced_at_the_next_login(server, earlier):
    book = server.new_book()
    name, password = server.add_client(password="from-an-earlier-release", grants={book.code: "reader"})
    earlier_hash = earlier(password)
    store_hash(server, name, earlier_hash)

    assert fault_code(server.zeep(name, "wrong").service.GetTrialBalance, book.code) == "AuthenticationFailed"
    assert stored_hash(server, name) == earlier_hash

    server.zeep(name, password).service.GetTrialBalance(book.code)
    rehashed = stored_hash(server, name)
    assert rehashed.startswith(ARGON2ID_OWASP)
    # It still logs in, on either endpoint and whichever worker answers, and is not hashed again.
    for version in ("11", "12", "11", "12"):
        server.zeep(name, password, version).service.GetTrialBalance(book.code)
    assert stored_hash(server, name) == rehashed
    assert fault_code(server.zeep(name, "wrong").service.GetTrialBalance, book.code) == "AuthenticationFailed"


def test_a_burst_of_first_logins_in_one_worker_hashes_the_password_once(monkeypatch):
    """Each hash takes its memory and a core: the threads of a worker that meet a password it has not yet
    verified at the same moment wait for one hash instead of each computing their own."""
    stored = hash_password("burst-password-123456")
    hashes, started = PasswordHashes(), threading.Barrier(8)
    computed = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            computed.append(1)
            return super().verify(hash, password)

    used = passwords.ARGON2
    monkeypatch.setattr(passwords, "ARGON2", CountingHasher(time_cost=used.time_cost, memory_cost=used.memory_cost,
                                                            parallelism=used.parallelism))

    def first_login(_) -> bool:
        started.wait()
        return hashes.verify("burst", "burst-password-123456", stored)

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(first_login, range(8))) == [True] * 8
    assert len(computed) == 1
