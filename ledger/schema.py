"""The tables invledger keeps beside the library's `stored_events`.

Every table here is derived from the log and written in the same transaction
as the events that change it, with the tracking row `inv_tracking('views')`
naming the last position they reflect. Times are integer microseconds since
the epoch (UTC): exact, and ordered the same way as the moments they name.
"""

from __future__ import annotations

import re

# 2: inv_standing.level is the level of the member's open episode (it was the level
#    under the policy in force when the row was written, which a later policy change
#    could leave stale).
# 3: a member's standing state records the policy of its latest judgement, which an
#    open warning leaves the window by (a policy change no longer ends it by itself, and
#    a report at the very moment one leaves the window keeps it open).
# 4: a connection is recorded on the pair row of the accepted invitation's direction
#    only (it was written on both): the rules read both directions.
# 5: a warning opened at an expiry with the restriction limit already reached says in
#    its rule that the next report imposes a restriction (a member's standing state
#    keeps each episode's rule sentence, so the views are rebuilt to say it).
SCHEMA_VERSION = 5
# Every stored event's topic starts with it (the library's `topic` column).
TOPIC_PREFIX = "invledger:"
VIEWS_TRACKING_KEY = "views"

# Tables in the order a rebuild clears them.
VIEW_TABLES = (
    "inv_invitations",
    "inv_pairs",
    "inv_appeals",
    "inv_reputation",
    "inv_standing",
    "inv_standing_inputs",
    "inv_policies",
)

STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS inv_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS inv_tracking (view TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    # The state of each invitation: what the invitation rules and reputation need.
    """CREATE TABLE IF NOT EXISTS inv_invitations (
        invitation TEXT PRIMARY KEY,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        status TEXT NOT NULL,
        sent_us BIGINT NOT NULL,
        responded_us BIGINT,
        first_response TEXT,
        first_event TEXT,
        unknown_us BIGINT,
        unknown_event TEXT)""",
    # One row per directed pair (sender -> recipient) that ever had an invitation:
    # the pending invitation, the connection made by accepting one of its invitations
    # (the other direction's row does not repeat it), and the block with its cause.
    """CREATE TABLE IF NOT EXISTS inv_pairs (
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        pending TEXT,
        connected_event TEXT,
        block_event TEXT,
        block_type TEXT,
        block_invitation TEXT,
        block_position BIGINT,
        block_us BIGINT,
        PRIMARY KEY (sender, recipient))""",
    (
        "CREATE INDEX IF NOT EXISTS inv_pairs_blocked_by ON inv_pairs (recipient) "
        "WHERE block_event IS NOT NULL"
    ),
    """CREATE TABLE IF NOT EXISTS inv_appeals (
        appeal TEXT PRIMARY KEY,
        member TEXT NOT NULL,
        filed_us BIGINT NOT NULL,
        position BIGINT NOT NULL,
        outcome TEXT,
        resolved_us BIGINT)""",
    "CREATE INDEX IF NOT EXISTS inv_appeals_open ON inv_appeals (filed_us) WHERE outcome IS NULL",
    """CREATE TABLE IF NOT EXISTS inv_reputation (
        member TEXT PRIMARY KEY,
        sent BIGINT NOT NULL,
        accepted BIGINT NOT NULL,
        ignored BIGINT NOT NULL,
        unknown BIGINT NOT NULL,
        withdrawn BIGINT NOT NULL)""",
    # The standing rules' state of each member who was ever reported or appealed,
    # as of the last event about them; `level` is the level of their open episode
    # ('good' when none is open: then they are in good standing under any policy).
    """CREATE TABLE IF NOT EXISTS inv_standing (
        member TEXT PRIMARY KEY,
        level TEXT NOT NULL,
        state TEXT NOT NULL)""",
    (
        "CREATE INDEX IF NOT EXISTS inv_standing_not_good ON inv_standing (level) "
        "WHERE level <> 'good'"
    ),
    # Positions of the events that feed a member's standing, to refold a past moment.
    """CREATE TABLE IF NOT EXISTS inv_standing_inputs (
        member TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (member, position))""",
    """CREATE TABLE IF NOT EXISTS inv_policies (
        position BIGINT PRIMARY KEY,
        at_us BIGINT NOT NULL,
        version BIGINT NOT NULL,
        policy TEXT NOT NULL)""",
)


def create_statements(sqlite: bool) -> list[str]:
    """STATEMENTS as a backend runs them: on SQLite every table is WITHOUT ROWID (each has
    a primary key)."""
    return [
        f"{statement} WITHOUT ROWID"
        if sqlite and statement.startswith("CREATE TABLE")
        else statement
        for statement in STATEMENTS
    ]


def columns(table: str) -> tuple[str, ...]:
    """The columns of one of the tables above, in their order."""
    for statement in STATEMENTS:
        head, _, body = statement.partition("(")
        if head.startswith("CREATE TABLE") and head.split()[-1] == table:
            # The definitions, without a table constraint: `PRIMARY KEY (a, b)`.
            definitions = re.sub(r"PRIMARY KEY\s*\([^)]*\)", "", body.rsplit(")", 1)[0])
            return tuple(part.split()[0] for part in definitions.split(",") if part.strip())
    raise KeyError(table)


def upgrade_statements(version: int) -> list[str]:
    """What brings the tables of an older schema to this one, in one transaction.

    Every change so far is in the views: they are emptied (with their tracking and
    latest time), and the next command rebuilds them from the log, which never changes.
    """
    if version >= SCHEMA_VERSION:
        return []
    return [
        *(f"DELETE FROM {table}" for table in VIEW_TABLES),
        "DELETE FROM inv_tracking",
        "DELETE FROM inv_meta WHERE key = 'latest_at_us'",
        f"UPDATE inv_meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'",
    ]


# How SQLite and PostgreSQL name a table that is not there.
_MISSING_TABLE = re.compile(r'no such table: (?:main\.)?(\w+)|relation "(\w+)" does not exist')


def missing_view_table(error_text: str) -> str | None:
    """The view table (or the views' tracking) that a storage error says is missing.

    Those hold nothing the log does not, and `replay` creates them again; any other
    missing table (the log itself, the ledger's metadata) is not one of them.
    """
    found = _MISSING_TABLE.search(error_text)
    table = found and (found.group(1) or found.group(2))
    return table if table in (*VIEW_TABLES, "inv_tracking") else None


def missing_view_reason(where: str, table: str) -> str:
    return (
        f"{where}: the view table {table} is missing: run `invledger replay` to create it "
        "again and rebuild the views from the log"
    )
