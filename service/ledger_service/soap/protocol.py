"""Spyne's SOAP protocols, taking the envelope the gateway already parsed and checked, reading the
operation's arguments and writing its result with the contract codec, and writing faults with the
one fault writer."""
from __future__ import annotations

from spyne.protocol.soap import Soap11, Soap12

from ..domain.errors import LedgerError
from . import codec
from .environ_keys import ENVELOPE, FAULT_CODE
from .faults import LedgerFault, add_fault, as_ledger_error, envelope, http_headers, http_status


class _GatewayParsed:
    ns_soap_env: str

    def create_in_document(self, ctx, charset=None):
        ctx.in_document = (ctx.transport.req_env[ENVELOPE], {})

    def deserialize(self, ctx, message):
        try:
            ctx.in_object = codec.read_arguments(ctx.descriptor.in_message, ctx.in_body_doc)
        except LedgerError as error:
            raise LedgerFault(error) from None

    def serialize(self, ctx, message):
        root, body = envelope(self.ns_soap_env)
        if ctx.out_error is not None:
            error = as_ledger_error(ctx.out_error)
            ctx.transport.req_env[FAULT_CODE] = error.code.value
            # Spyne sends its response headers after writing the fault, with the status from below.
            ctx.transport.resp_headers.update(http_headers(error))
            add_fault(body, self.ns_soap_env, error)
        else:
            codec.write_result(body, ctx.descriptor.out_message, ctx.out_object)
        ctx.out_body_doc, ctx.out_document = body, root

    def fault_to_http_response_code(self, fault):
        return http_status(as_ledger_error(fault))


class LedgerSoap11(_GatewayParsed, Soap11):
    pass


class LedgerSoap12(_GatewayParsed, Soap12):
    pass
