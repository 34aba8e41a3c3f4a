"""Python 3.11, 3.12 and 3.13: Spyne 2.14 imports on each through ledger_service/spyne_on_python312.py,
python-xmlsec works beside lxml on each (setup.cfg pins the two to wheels built on one libxml2, and the client
package's `signing` extra to the same), and every place that names the supported versions names the same ones."""
from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = ["3.11", "3.12", "3.13"]


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_spyne_imports_through_the_fix_and_the_fix_is_still_needed():
    bare = python("import spyne")
    if sys.version_info >= (3, 12):
        # Once this fails, Spyne imports on its own here: it has released the fix, and
        # spyne_on_python312 can go.
        assert bare.returncode != 0 and "spyne.util.six.moves" in bare.stderr, bare.stderr
    else:
        assert bare.returncode == 0, bare.stderr
    fixed = python("import ledger_service, spyne.protocol.soap\n"
                   "from spyne.util.six.moves.collections_abc import MutableSet\n"
                   "from spyne.util import six; print(six.get_function_name(len))")
    assert (fixed.returncode, fixed.stdout.strip()) == (0, "len"), fixed.stderr


# What a worker does with python-xmlsec, in a fresh interpreter: import it beside lxml (it refuses to when
# their libxml2 release series differ), sign an answer, verify it, and refuse it changed.
ROUNDTRIP = """
import datetime, xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from ledger_service.service_layer.context import utc_now
from ledger_service.soap.faults import envelope
from ledger_service.wsse import xmldsig
from ledger_service.wsse.identity import SigningIdentity
from ledger_service.wsse.security_header import WSU_ID
from ledger_service.wsse.signer import ResponseSigner
assert xmlsec.get_libxml_version()[:2] == etree.LIBXML_VERSION[:2], (xmlsec.get_libxml_version(), etree.LIBXML_VERSION)
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "roundtrip")])
certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(utc_now()).not_valid_after(utc_now() + datetime.timedelta(days=1))
               .sign(key, hashes.SHA256()))
der = certificate.public_bytes(serialization.Encoding.DER)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
root, body = envelope("http://schemas.xmlsoap.org/soap/envelope/")
etree.SubElement(body, "answer").text = "42"
ResponseSigner(SigningIdentity(pem, der), utc_now).sign(root)
signature = next(root.iter("{http://www.w3.org/2000/09/xmldsig#}Signature"))
identified = [(body, WSU_ID), (next(root.iter("{*}Timestamp")), WSU_ID)]
assert xmldsig.verifies(signature, identified, der)
body[0].text = "43"
assert not xmldsig.verifies(signature, identified, der)
print("verified")
"""


def test_xmlsec_works_beside_lxml():
    roundtrip = python(ROUNDTRIP)
    assert (roundtrip.returncode, roundtrip.stdout.strip()) == (0, "verified"), roundtrip.stderr


def _requirements(lines: str) -> dict[str, str]:
    """Each requirement's name and its version pin, from a setup.cfg list."""
    found = (re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*(.*)", line.strip()) for line in lines.splitlines()
             if line.strip() and not line.strip().startswith("#"))
    return {match.group(1).lower(): match.group(2).replace(" ", "") for match in found}


def test_the_client_signing_extra_pins_lxml_and_xmlsec_as_the_service_does():
    service, client = configparser.ConfigParser(), configparser.ConfigParser()
    service.read(ROOT / "setup.cfg")
    client.read(ROOT / "clients" / "setup.cfg")
    extra = _requirements(client["options.extras_require"]["signing"])
    pinned = _requirements(service["options"]["install_requires"])
    assert set(extra) == {"lxml", "xmlsec"} and extra == {name: pinned[name] for name in extra}, (extra, pinned)


def _declared(path: Path) -> tuple[str, list[str]]:
    config = configparser.ConfigParser()
    config.read(path)
    classifiers = re.findall(r"Programming Language :: Python :: (3\.\d+)", config["metadata"]["classifiers"])
    return config["options"]["python_requires"].replace(" ", ""), classifiers


def test_every_place_names_the_same_pythons():
    for setup in (ROOT / "setup.cfg", ROOT / "clients" / "setup.cfg"):
        assert _declared(setup) == (">=3.11,<3.14", SUPPORTED), setup
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in SUPPORTED
    image = re.search(r"^FROM python:(3\.\d+)-slim", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)
    assert image and image.group(1) == SUPPORTED[-1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(version in ci for version in SUPPORTED)
    assert "Python 3.11, 3.12 or 3.13" in (ROOT / "README.md").read_text()
