"""The `invledger` command line: parses, calls the ledger, renders."""

import os

# This process builds a few pydantic models and needs none of pydantic's plugins:
# looking them up costs a scan of every installed package's metadata at startup.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def run() -> None:
    """The console script. Ctrl-C while Python is still loading the command line (before
    anything is read or written) ends it with exit 130, as it does later, not a traceback."""
    import sys

    try:
        from cli.main import main
    except KeyboardInterrupt:
        if sys.stderr is not None:
            sys.stderr.write("Interrupted: nothing was done\n")
        sys.exit(130)
    main()
