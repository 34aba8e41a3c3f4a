"""soap-ledger: a double-entry accounting ledger served as a SOAP web service."""
