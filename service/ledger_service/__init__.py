"""soap-ledger: a double-entry accounting ledger served as a SOAP web service."""
from . import spyne_on_python312

spyne_on_python312.install()
