"""XML Signature through python-xmlsec (libxmlsec1 on OpenSSL), the one module that imports it: checking a
ds:Signature with a certificate's public key, and signing elements with the service's key.

What a signature may reference and which algorithms it may name is decided before this module is asked
(wsse/signed_info.py); xmlsec is held to the same algorithms all the same, is told which element each
reference means, and can open no URI: nothing it does reaches beyond the document.

python-xmlsec and lxml must be built on the same libxml2, which setup.cfg pins them to (tests/
test_python_versions.py checks it on every supported Python): xmlsec refuses to import otherwise.
"""
from __future__ import annotations

from typing import Iterable

import xmlsec
from lxml import etree

# RSA and ECDSA with SHA-2; never SHA-1 (nor MD5, nor HMAC, whose key would be the certificate's public one).
_SIGNATURE_METHODS = (xmlsec.Transform.RSA_SHA256, xmlsec.Transform.RSA_SHA384, xmlsec.Transform.RSA_SHA512,
                      xmlsec.Transform.ECDSA_SHA256, xmlsec.Transform.ECDSA_SHA384, xmlsec.Transform.ECDSA_SHA512)
_DIGEST_METHODS = (xmlsec.Transform.SHA256, xmlsec.Transform.SHA384, xmlsec.Transform.SHA512)
EXCLUSIVE_C14N = xmlsec.Transform.EXCL_C14N.href
SIGNATURE_METHODS = frozenset(method.href for method in _SIGNATURE_METHODS)
DIGEST_METHODS = frozenset(method.href for method in _DIGEST_METHODS)

# xmlsec reads a reference's URI through callbacks of its own (files, HTTP): with none, it can read none.
xmlsec.cleanup_callbacks()

# An element to be found by a reference, and the attribute ({namespace}name) holding its id.
Identified = tuple[etree._Element, str]


def _context(identified: Iterable[Identified]) -> xmlsec.SignatureContext:
    context = xmlsec.SignatureContext()
    for transform in (xmlsec.Transform.EXCL_C14N, *_SIGNATURE_METHODS):
        context.enable_signature_transform(transform)
    for transform in (xmlsec.Transform.EXCL_C14N, *_DIGEST_METHODS):
        context.enable_reference_transform(transform)
    for element, attribute in identified:
        name = etree.QName(attribute)
        context.register_id(element, name.localname, name.namespace)
    return context


def verifies(signature: etree._Element, identified: Iterable[Identified], certificate_der: bytes) -> bool:
    """Whether `signature` is intact and made with the key of the certificate (DER), each of its
    references meaning the element that carries its id among `identified`."""
    context = _context(identified)
    try:
        context.key = xmlsec.Key.from_memory(certificate_der, xmlsec.KeyFormat.CERT_DER)
        context.verify(signature)
    except xmlsec.Error:
        return False
    return True


class SigningKey:
    """A private key (PEM, unencrypted) to sign with, loaded once: each signature works on a copy."""

    def __init__(self, key_pem: bytes):
        self._key = xmlsec.Key.from_memory(key_pem, xmlsec.KeyFormat.PEM)

    def sign(self, parent: etree._Element, identified: list[Identified], key_info: etree._Element) -> None:
        """A ds:Signature appended to `parent`: RSA-SHA256 over SignedInfo, exclusive C14N, one reference
        per element of `identified` (exclusive C14N, SHA-256), and `key_info` as what its KeyInfo holds."""
        signature = xmlsec.template.create(parent, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
        for element, attribute in identified:
            reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256,
                                                      uri=f"#{element.get(attribute)}")
            xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
        xmlsec.template.ensure_key_info(signature).append(key_info)
        parent.append(signature)
        context = _context(identified)
        context.key = self._key
        context.sign(signature)
