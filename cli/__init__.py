"""The `invledger` command line: parses, calls the ledger, renders."""

import os

# This process builds a few pydantic models and needs none of pydantic's plugins:
# looking them up costs a scan of every installed package's metadata at startup.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
