"""Storage: SQLAlchemy tables, the store the service layer talks to, and transactions."""
