"""Every XML namespace the service reads or writes, named once.

The contract's own namespace comes first; the others belong to the standards the contract is written
in (WSDL 1.1, XML Schema, SOAP 1.1 and 1.2, WS-Security 1.0 with its UsernameToken and X.509 Token
profiles, XML Signature).
"""

# The contract: its types, elements and messages (docs/contract.md#contract-rules).
TNS = "urn:soap-ledger:v1"

# A WSDL 1.1 document and its bindings.
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
SOAP11_BINDING = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_BINDING = "http://schemas.xmlsoap.org/wsdl/soap12/"
SOAP_OVER_HTTP = "http://schemas.xmlsoap.org/soap/http"

# SOAP envelopes, and the values of a header block's actor (1.1) or role (1.2) that name this service.
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NEXT_ACTOR = "http://schemas.xmlsoap.org/soap/actor/next"
SOAP12_NEXT_ROLE = f"{SOAP12_ENV}/role/next"
SOAP12_ULTIMATE_RECEIVER = f"{SOAP12_ENV}/role/ultimateReceiver"
XML = "http://www.w3.org/XML/1998/namespace"  # xml:lang

# WS-Security 1.0: the Security header, its utility namespace (wsu:Created), and the URIs that type a
# UsernameToken's password and a nonce's encoding.
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_TEXT = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
# The X.509 Token Profile 1.0: a BinarySecurityToken holding a certificate, and a KeyIdentifier naming one
# by its subject key identifier.
X509_TOKEN = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
X509_SUBJECT_KEY_IDENTIFIER = \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier"
# XML Signature (its algorithms' URIs are wsse/xmldsig.py's).
DS = "http://www.w3.org/2000/09/xmldsig#"


def qualified(namespace: str, name: str) -> str:
    """`name` in `namespace`, in Clark notation ({namespace}name), as lxml names elements."""
    return f"{{{namespace}}}{name}"
