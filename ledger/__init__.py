"""The write side of invledger: events, invitation rules, storage, import and export."""
