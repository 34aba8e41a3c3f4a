"""What the WSGI layers of one request hand each other in the WSGI environ."""

REQUEST_ID = "ledger.request_id"  # set by the application, for every request
OPERATION = "ledger.operation"  # the operation the request called, for the request log
CLIENT = "ledger.client"  # the username its UsernameToken gave, for the request log
FAULT_CODE = "ledger.fault_code"  # the fault the request ended in, for the request log
HTTP_REFUSAL = "ledger.http_refusal"  # set by the server (serving/requests.py HttpRefusal): answer the refusal, run nothing
CLIENT_ADDRESS = "ledger.client_address"  # where the request came from (addresses.py), set by the application
CLIENT_CERTIFICATE = "ledger.client_certificate"  # the SHA-256 of the certificate a trusted proxy forwarded, for the request log
SIGNER = "ledger.signer"  # the SHA-256 of the certificate whose key signed the request (wsse/), for the request log
