"""The `invledger` command line: parses, calls the ledger, renders."""
