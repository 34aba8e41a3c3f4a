"""The ledger-service commands that do more than call one operator use case (cli.py parses them)."""
