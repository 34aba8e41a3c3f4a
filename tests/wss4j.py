"""The WSS4J harness (tests/interop/wss4j): Java that signs a SOAP request envelope as Apache CXF does by
default, and verifies a signed envelope, with Apache WSS4J 1.6 (Debian's libwss4j-java) on Apache
Santuario (libxml-security-java). Compiled with javac for each test module that uses it, run with java."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from certificates import Issued
from conftest import require_tools
from java import classpath, jars

SOURCES = Path(__file__).resolve().parent / "interop" / "wss4j"
PACKAGES = "libwss4j-java libxml-security-java default-jdk-headless"
# What the harness names: WSS4J and Santuario (xmlsec).
COMPILE_JARS = ["wss4j", "xmlsec"]
# Found by running it with nothing else: WSS4J logs through Commons Logging, Santuario through SLF4J,
# whose no-op binding keeps stderr for real problems (without one SLF4J warns on every run).
RUNTIME_JARS = COMPILE_JARS + ["commons-logging", "slf4j-api", "slf4j-nop"]
# Each run is short: the JIT's quick tier alone starts it sooner.
JAVA_OPTIONS = ["-XX:TieredStopAtLevel=1"]
# The password of the PKCS#12 files the tests make.
PKCS12_PASSWORD = "harness-secret"


@dataclass(frozen=True)
class Harness:
    classes: Path

    def _run(self, program: str, *arguments: object) -> subprocess.CompletedProcess:
        return subprocess.run(["java", *JAVA_OPTIONS, "-cp", classpath(self.classes, *jars(RUNTIME_JARS, PACKAGES)),
                               f"ledger.wss4j.{program}", *map(str, arguments)],
                              capture_output=True, text=True, timeout=120)

    def sign(self, envelope: Path, signed: Path, signer: Issued, key_form: str = "pem") -> Path:
        """`envelope` signed with `signer`'s key, given to WSS4J as PEM files or as PKCS#12, into `signed`."""
        keys = ("--pem", signer.key_path, signer.certificate_path) if key_form == "pem" else \
            ("--pkcs12", signer.pkcs12(PKCS12_PASSWORD), PKCS12_PASSWORD)
        result = self._run("SignEnvelope", envelope, signed, *keys)
        assert result.returncode == 0, result.stdout + result.stderr
        return signed

    def verify(self, envelope: Path, certificate: Path) -> str:
        """What the verifier says of `envelope` signed with `certificate`'s key: "OK", or "FAILED: why"."""
        result = self._run("VerifyEnvelope", envelope, certificate)
        said = result.stdout.strip()
        assert (result.returncode, result.stderr) == (0 if said == "OK" else 1, ""), result
        return said


def compiled_harness(directory: Path) -> Harness:
    require_tools("javac", "java", packages=PACKAGES)
    sources = sorted(str(path) for path in SOURCES.rglob("*.java"))
    result = subprocess.run(["javac", "-d", str(directory), "-cp", classpath(*jars(COMPILE_JARS, PACKAGES)), *sources],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"javac failed on tests/interop/wss4j:\n{result.stdout}{result.stderr}"
    return Harness(directory)
