"""The service's signature on its responses, faults included, when the operator gives it a key and its
certificate (LEDGER_SIGNING_KEY, LEDGER_SIGNING_CERTIFICATE): a wsse:Security header block holding a
wsu:Timestamp, the certificate as an X.509 BinarySecurityToken, and a ds:Signature over the Body and the
Timestamp (RSA-SHA256, exclusive C14N, SHA-256 digests) whose KeyInfo points to the token. That is what
Apache WSS4J and CXF send and check by default, and what zeep's signature verification reads.

The block carries no mustUnderstand: a client that does not check signatures reads the answer as before."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Callable

from lxml import etree

from ..ns import BASE64_BINARY, WSSE, WSU, X509_TOKEN, qualified
from .identity import SigningIdentity
from .security_header import BINARY_SECURITY_TOKEN, TIMESTAMP, WSU_ID
from .xmldsig import SigningKey

# How long a signed answer is fresh: WSS4J's default, and as long as the service accepts a request's.
RESPONSE_LIFETIME = timedelta(minutes=5)
# The ids of what is signed; nothing else in a response carries an id.
BODY_ID, TIMESTAMP_ID, TOKEN_ID = "ledger-body", "ledger-timestamp", "ledger-certificate"


class ResponseSigner:
    """Signs response envelopes with one identity, its key loaded once (per worker)."""

    def __init__(self, identity: SigningIdentity, clock: Callable[[], datetime]):
        self.key = SigningKey(identity.key_pem)
        self.token = base64.b64encode(identity.certificate_der).decode()
        self.clock = clock

    def sign(self, root: etree._Element) -> None:
        """Adds the signed Security block to the envelope `root` (a response of either SOAP version)."""
        envelope_ns = etree.QName(root).namespace
        body = root.find(qualified(envelope_ns, "Body"))
        header = root.find(qualified(envelope_ns, "Header"))
        if header is None:
            header = etree.Element(qualified(envelope_ns, "Header"))
            body.addprevious(header)
        security = etree.SubElement(header, qualified(WSSE, "Security"), nsmap={"wsse": WSSE, "wsu": WSU})
        created = self.clock().replace(microsecond=0)
        timestamp = etree.SubElement(security, TIMESTAMP, {WSU_ID: TIMESTAMP_ID})
        for name, moment in (("Created", created), ("Expires", created + RESPONSE_LIFETIME)):
            etree.SubElement(timestamp, qualified(WSU, name)).text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        etree.SubElement(security, BINARY_SECURITY_TOKEN, {"EncodingType": BASE64_BINARY, "ValueType": X509_TOKEN,
                                                          WSU_ID: TOKEN_ID}).text = self.token
        body.set(WSU_ID, BODY_ID)
        # The Body's wsu:Id in the prefix the Security block uses, declared once, on the Envelope.
        etree.cleanup_namespaces(root, top_nsmap={"wsu": WSU})
        reference = etree.Element(qualified(WSSE, "SecurityTokenReference"))
        etree.SubElement(reference, qualified(WSSE, "Reference"), URI=f"#{TOKEN_ID}", ValueType=X509_TOKEN)
        self.key.sign(security, [(body, WSU_ID), (timestamp, WSU_ID)], reference)
