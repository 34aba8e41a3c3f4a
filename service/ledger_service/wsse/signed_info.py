"""Which signatures the service checks at all, decided before a digest is computed: SignedInfo canonicalised
with exclusive C14N and signed with an accepted algorithm, and each of its References a same-document `#id`
naming one of the parts of the envelope a signature may cover, where the envelope rules find them: the Body
by its position (the one the service processes), the Timestamp, the BinarySecurityToken and the
UsernameToken in the Security block addressed to the service. Each reference is transformed by exclusive
C14N alone and digested with an accepted digest, no part is referenced twice, and the Body and the
Timestamp are among them. No id is carried twice in the whole document, so that no reference can mean
one element to xmlsec and another to the service (signature wrapping)."""
from __future__ import annotations

from lxml import etree

from ..ns import DS, XML, qualified
from .security_header import ID_ATTRIBUTES, SecurityHeader
from .xmldsig import DIGEST_METHODS, EXCLUSIVE_C14N, SIGNATURE_METHODS, Identified

# libxml2 takes xml:id for an id whatever the document says: one more attribute that must not repeat an id.
_ALL_ID_ATTRIBUTES = (*ID_ATTRIBUTES, qualified(XML, "id"))
# What an exclusive C14N transform may hold: the prefixes to treat as inclusive.
_INCLUSIVE_NAMESPACES = qualified(EXCLUSIVE_C14N, "InclusiveNamespaces")


def covered(signature: etree._Element, root: etree._Element, body: etree._Element,
            header: SecurityHeader) -> list[Identified] | None:
    """The parts of the envelope `root` the signature covers, each with the attribute its id is in; None
    when the signature breaks any rule above."""
    info = _only_child(signature, "SignedInfo")
    if info is None or _algorithm(info, "CanonicalizationMethod") != EXCLUSIVE_C14N \
            or _algorithm(info, "SignatureMethod") not in SIGNATURE_METHODS:
        return None
    ids = _unique_ids(root)
    if ids is None:
        return None
    coverable = [part for part in (body, header.timestamp, header.token, header.username_token) if part is not None]
    signed: list[Identified] = []
    for reference in info.iterchildren(qualified(DS, "Reference")):
        uri = reference.get("URI") or ""
        identified = ids.get(uri[1:]) if uri.startswith("#") else None
        if identified is None or identified[1] not in ID_ATTRIBUTES or not _is_among(identified[0], coverable) \
                or _is_among(identified[0], [element for element, _ in signed]) \
                or not _transformed_by_exclusive_c14n_alone(reference) \
                or _algorithm(reference, "DigestMethod") not in DIGEST_METHODS:
            return None
        signed.append(identified)
    elements = [element for element, _ in signed]
    if not (_is_among(body, elements) and header.timestamp is not None and _is_among(header.timestamp, elements)):
        return None
    return signed


def _is_among(element: etree._Element, elements: list[etree._Element]) -> bool:
    return any(element is other for other in elements)


def _only_child(parent: etree._Element, name: str) -> etree._Element | None:
    found = parent.findall(qualified(DS, name))
    return found[0] if len(found) == 1 else None


def _algorithm(parent: etree._Element, name: str) -> str | None:
    element = _only_child(parent, name)
    return element.get("Algorithm") if element is not None else None


def _transformed_by_exclusive_c14n_alone(reference: etree._Element) -> bool:
    transforms = _only_child(reference, "Transforms")
    if transforms is None or len(transforms) != 1 or transforms[0].tag != qualified(DS, "Transform"):
        return False
    transform = transforms[0]
    return transform.get("Algorithm") == EXCLUSIVE_C14N and all(
        child.tag == _INCLUSIVE_NAMESPACES for child in transform)


def _unique_ids(root: etree._Element) -> dict[str, Identified] | None:
    """Every id in the document, with the element and attribute that carry it; None when one repeats."""
    ids: dict[str, Identified] = {}
    for element in root.iter(etree.Element):
        for attribute in _ALL_ID_ATTRIBUTES:
            value = element.get(attribute)
            if value is None:
                continue
            if value in ids:
                return None
            ids[value] = (element, attribute)
    return ids
