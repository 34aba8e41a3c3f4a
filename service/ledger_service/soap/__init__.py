"""The SOAP adapter: the v1 contract (types, operations, faults) and the WSGI gateway serving it."""
