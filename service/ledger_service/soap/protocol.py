"""Spyne's SOAP protocols, taking the envelope the gateway already parsed and checked, and writing
faults with the one fault writer."""
from __future__ import annotations

from spyne.protocol.soap import Soap11, Soap12

from .environ_keys import ENVELOPE, FAULT_CODE
from .faults import as_ledger_error, detail_element, fault_element, http_headers, http_status


class _GatewayParsed:
    ns_soap_env: str

    def create_in_document(self, ctx, charset=None):
        ctx.in_document = (ctx.transport.req_env[ENVELOPE], {})

    def fault_to_parent(self, ctx, cls, inst, parent, ns, *args, **kwargs):
        name = args[0] if args else kwargs.get("name")
        if name is not None:
            # A fault held in a field (EntryResult.fault): that field's element, typed tns:LedgerFault.
            parent.append(detail_element(as_ledger_error(inst), name))
            return
        error = as_ledger_error(inst)
        ctx.transport.req_env[FAULT_CODE] = error.code.value
        # Spyne sends its response headers after writing the fault, with the status from below.
        ctx.transport.resp_headers.update(http_headers(error))
        parent.append(fault_element(self.ns_soap_env, error))

    def fault_to_http_response_code(self, fault):
        return http_status(as_ledger_error(fault))


class LedgerSoap11(_GatewayParsed, Soap11):
    pass


class LedgerSoap12(_GatewayParsed, Soap12):
    pass
