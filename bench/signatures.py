"""What verifying a signature costs: GetBalance requests per second signed with a registered client's key
(zeep's BinarySignature, RSA-SHA256 over Body and Timestamp) as a ratio of PasswordText GetBalance, measured
in the same run against the same server.

    .venv/bin/python bench/signatures.py [--requests N] [--runs N] [--signed-answers]

1. A throwaway PostgreSQL database, `ledger-service serve --workers 4` on it (with --signed-answers, given
   LEDGER_SIGNING_KEY and LEDGER_SIGNING_CERTIFICATE, so that every answer is signed too), the book BENCH,
   a PasswordText client and a client registered with a fresh RSA-2048 certificate, both readers.
2. N GetBalance envelopes signed beforehand, each with its own Timestamp (a signature is accepted once:
   none can be sent twice), signing spread over the machine's cores and not measured; N PasswordText
   envelopes alike.
3. Runs alternate between the two kinds, each sending its N envelopes over 12 keep-alive connections once:
   requests per second, every answer checked for HTTP 200 and no Fault. The ratio of the medians is the
   figure; the database is dropped however the run ends. bench/README.md has the details.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from zeep.wsse.signature import BinarySignature
from zeep.wsse.utils import WSU, get_security_header

from throughput import (BOOK_CODE, CONTENT_TYPE, DEFAULT_POSTGRES_URL, FAULT, SOAP11_ENV, SOAP_PATH, TNS,
                        BenchmarkFailed, envelope, ledger_service, open_book, serving)

CONNECTIONS = 12
WORKERS = 4
READER, READER_PASSWORD = "bench-reader", "bench-reader-secret"
SIGNER = "bench-signer"


def key_and_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A fresh RSA-2048 key and its self-signed certificate, as PEM files in `directory`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_path, certificate_path = directory / f"{name}.key", directory / f"{name}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, certificate_path


def get_balance(number: int) -> str:
    return f"<l:GetBalance><l:book>{BOOK_CODE}</l:book><l:account>cash-{number % 4 + 1}</l:account></l:GetBalance>"


def signed_envelopes(key: Path, certificate: Path, numbers: range) -> list[bytes]:
    """GetBalance envelopes signed as a zeep client signs them, each with a Timestamp of its own."""
    signature = BinarySignature(str(key), str(certificate), signature_method=xmlsec.Transform.RSA_SHA256,
                                digest_method=xmlsec.Transform.SHA256)
    signed = []
    for number in numbers:
        root = etree.fromstring(f'<env:Envelope xmlns:env="{SOAP11_ENV}" xmlns:l="{TNS}"><env:Header/>'
                                f"<env:Body>{get_balance(number)}</env:Body></env:Envelope>")
        now = datetime.datetime.now(datetime.timezone.utc)
        created, expires = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (now, now + datetime.timedelta(minutes=5)))
        get_security_header(root).append(WSU.Timestamp(WSU.Created(created), WSU.Expires(expires)))
        signature.apply(root, {})
        signed.append(etree.tostring(root))
    return signed


def prepared(key: Path, certificate: Path, count: int) -> list[bytes]:
    processes = os.cpu_count() or 1
    slices = [range(first, count, processes) for first in range(processes)]
    with concurrent.futures.ProcessPoolExecutor(processes) as pool:
        return [document for batch in pool.map(signed_envelopes, [key] * processes, [certificate] * processes, slices)
                for document in batch]


def send(port: int, documents: list[bytes]) -> int:
    """Sends each document once on one keep-alive connection; the number of answers that were not a success."""
    connection, failed = http.client.HTTPConnection("127.0.0.1", port, timeout=60), 0
    try:
        for document in documents:
            connection.request("POST", SOAP_PATH, document, {"Content-Type": CONTENT_TYPE})
            response = connection.getresponse()
            content = response.read()
            failed += response.status != 200 or FAULT.search(content) is not None
    finally:
        connection.close()
    return failed


def send_all(port: int, documents: list[bytes]) -> int:
    """One process's share of the documents, over its share of the connections; the failures."""
    connections = CONNECTIONS // _processes()
    with concurrent.futures.ThreadPoolExecutor(connections) as threads:
        return sum(threads.map(lambda share: send(port, share), [documents[i::connections] for i in range(connections)]))


def _processes() -> int:
    return min(CONNECTIONS, os.cpu_count() or 1)


def requests_per_second(port: int, documents: list[bytes]) -> float:
    """All `documents`, each once, over CONNECTIONS connections from one process per core."""
    processes = _processes()
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(processes) as pool:
        failures = sum(pool.map(send_all, [port] * processes, [documents[i::processes] for i in range(processes)]))
    elapsed = time.perf_counter() - started
    if failures:
        raise BenchmarkFailed(f"{failures} of {len(documents)} requests failed")
    return len(documents) / elapsed


def benchmark(options: argparse.Namespace, work_dir: Path) -> None:
    key, certificate = key_and_certificate(work_dir, SIGNER)
    environment = {}
    if options.signed_answers:
        service_key, service_certificate = key_and_certificate(work_dir, "bench-service")
        environment = {"LEDGER_SIGNING_KEY": str(service_key), "LEDGER_SIGNING_CERTIFICATE": str(service_certificate)}
    with serving(options.postgres_url, WORKERS, work_dir, environment=environment) as server:
        open_book(server, 4)
        ledger_service(server.database_url, "clients", "add", READER, "--password-stdin", "--grant",
                       f"{BOOK_CODE}:reader", stdin=READER_PASSWORD + "\n")
        ledger_service(server.database_url, "clients", "add", SIGNER, "--certificate", str(certificate), "--grant",
                       f"{BOOK_CODE}:reader")
        password = [envelope(get_balance(number), READER, READER_PASSWORD).encode()
                    for number in range(options.requests)]
        measured: dict[str, list[float]] = {"PasswordText": [], "signed": []}
        for run in range(options.runs):
            signed = prepared(key, certificate, options.requests)  # fresh: a signature is accepted once
            for kind, documents in (("PasswordText", password), ("signed", signed)):
                measured[kind].append(requests_per_second(server.port, documents))
                print(f"  run {run + 1} {kind:<13}{measured[kind][-1]:>10.1f} requests/s", flush=True)
    medians = {kind: statistics.median(values) for kind, values in measured.items()}
    print(f"\nGetBalance, {WORKERS} workers, {CONNECTIONS} connections, {options.requests} requests a run, "
          f"{os.cpu_count()} CPUs{', answers signed' if options.signed_answers else ''}")
    print(f"  PasswordText {medians['PasswordText']:.1f} requests/s, signed {medians['signed']:.1f} requests/s: "
          f"signed / PasswordText = {medians['signed'] / medians['PasswordText']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests of each kind per run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind, alternating")
    parser.add_argument("--signed-answers", action="store_true", help="the server signs its answers too")
    parser.add_argument("--postgres-url", default=os.environ.get("LEDGER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as work_dir:
        try:
            benchmark(options, Path(work_dir))
        except BenchmarkFailed as failed:
            print(f"benchmark failed: {failed}\n{failed.detail or ''}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
