"""Use cases: each authenticates its caller, checks the grant, and runs in one transaction."""
