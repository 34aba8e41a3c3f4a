"""The ledger's rules in plain Python: no Spyne, no SQLAlchemy."""
