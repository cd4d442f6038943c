"""The read side of invledger: standing, reputation and blocks, derived from the log."""
