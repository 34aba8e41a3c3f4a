"""What the WSGI layers of one request hand each other in the WSGI environ."""

REQUEST_ID = "ledger.request_id"  # set by the application, for every request
ENVELOPE = "ledger.envelope"  # the parsed, checked request envelope, set by the gateway for Spyne
LEDGER = "ledger.ledger"  # the service layer the operations call
REQUEST = "ledger.request"  # the caller's credentials and request id, for the service layer
OPERATION = "ledger.operation"  # the operation Spyne dispatched to, for the request log
FAULT_CODE = "ledger.fault_code"  # the fault the request ended in, for the request log
