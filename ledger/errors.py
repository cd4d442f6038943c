"""The errors a user can meet. The CLI turns each into one line and an exit code."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every expected error. `exit_code` follows click: 1 refused, 2 bad input."""

    exit_code = 1


class RuleViolation(LedgerError):
    """A command or event broke an invitation, appeal or send-time rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class UnknownId(LedgerError):
    """An invitation, appeal or member that the ledger does not know."""


class BadInput(LedgerError):
    """Input that cannot be an event or a policy: malformed, missing a field, out of range."""

    exit_code = 2


class ImportStopped(LedgerError):
    """An import stopped at a bad line; what came before it stays committed."""

    exit_code = 2

    def __init__(self, line: int, reason: str, imported: int, skipped: int) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason
        self.imported = imported
        self.skipped = skipped


class StorageError(LedgerError):
    """The database cannot be opened or used: missing, unreadable, not a ledger, locked."""

    exit_code = 2


class StorageUnavailable(StorageError):
    """The storage cannot be reached or locked for now (a lost connection, a server that
    restarts, a write lock held too long): the same command may succeed later."""


class NoLedger(StorageError):
    """The --db names no ledger yet: no SQLite file, or no invledger tables in the database."""

    def __init__(self, where: str, detail: str = "") -> None:
        """`where`: "at FILE" or "in DATABASE"; `detail`: what is there instead, if anything."""
        super().__init__(
            f"no ledger {where}: {detail}only send, import and policy set create one "
            "(is --db right?)"
        )


class UnreadableLog(StorageError):
    """The log holds what invledger cannot have stored: a row another tool wrote into
    `stored_events` that is not an event, or an event its rules would have refused."""
