"""WS-Security message signatures (X.509 Token Profile 1.0 and 1.1, XML Signature): reading the signature
of a request's Security block and finding who made it (verification.py, with signed_info.py and
security_header.py), and signing the service's responses (signer.py). xmldsig.py alone talks to
python-xmlsec. The rules are docs/contract.md#signed-requests."""
