"""Bringing the views over a long stretch of the log at once, in SQL.

Applying events one by one in Python costs microseconds per event; a replay or
a long catch-up over millions of them is better done by the database, a range
of positions at a time: the sends become invitation rows, the responses update
them, the pairs and the reputation counts follow from both, each by one
statement over the whole range. Only the events that feed the standing rules
(IDK reports, appeals, policy changes: a few percent of the log) go through
Python, through the same `Views` methods an append uses, so the rules stay
pure functions and have one implementation.

The result is the same rows the event-by-event path writes (the replay tests
compare both), and it lands in the caller's transaction with the tracking
position, so a crash still leaves the views at a range boundary.

SQLite 3.38 or later only: elsewhere the event-by-event path runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ledger import events as ev
from ledger.moments import from_us
from ledger.store import Tx
from projections import standing as rules
from projections.views import Views

# Events per range (one transaction): bounds the working tables of a range, which live
# in SQLite's temporary files, not in memory. Larger ranges cost less on long logs:
# each range rewrites pages across the pair and reputation trees.
RANGE = 500_000
# Below this many events behind, the event-by-event path is cheaper than the setup.
WORTH_IT = 2_000

_PREFIX = "invledger:"
_SENT = _PREFIX + "invitation_sent"
_RESPONSES = {
    _PREFIX + "invitation_accepted": "accepted",
    _PREFIX + "invitation_ignored": "ignored",
    _PREFIX + "invitation_marked_unknown": "unknown",
    _PREFIX + "invitation_withdrawn": "withdrawn",
}
# Appeals and policy changes: few, and decoded in full for the standing rules.
_DECODED = tuple(
    _PREFIX + name for name in ("appeal_filed", "appeal_granted", "appeal_denied", "policy_changed")
)


def supported(tx: Tx) -> bool:
    # unixepoch() came with SQLite 3.38 (UPDATE ... FROM with 3.33).
    return getattr(tx, "dialect", None) == "sqlite" and sqlite3.sqlite_version_info >= (3, 38)


def _field(name: str) -> str:
    return f"json_extract(state, '$.{name}')"


def _us(at: str) -> str:
    """SQL for the microseconds of an `at` column, as format_time writes it:
    'YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z' in UTC."""
    return (
        f"(unixepoch(substr({at}, 1, 19)) * 1000000 + CASE WHEN length({at}) > 20 "
        f"THEN CAST(substr(substr({at}, 21, length({at}) - 21) || '000000', 1, 6) AS INTEGER) "
        "ELSE 0 END)"
    )


_SETUP = (
    # The sends and responses of the range, one row each.
    "CREATE TEMP TABLE inv_r_sent (pos INTEGER PRIMARY KEY, inv TEXT, sender TEXT, "
    "recipient TEXT, at TEXT)",
    "CREATE TEMP TABLE inv_r_resp (pos INTEGER PRIMARY KEY, inv TEXT, id TEXT, at TEXT, "
    "status TEXT, type TEXT)",
    # Per answered invitation: its first and last response and its IDK in the range.
    "CREATE TEMP TABLE inv_r_answered (inv TEXT PRIMARY KEY, first INTEGER, last INTEGER, "
    "unknown INTEGER, old_status TEXT) WITHOUT ROWID",
)
_TEMP_TABLES = ("inv_r_sent", "inv_r_resp", "inv_r_answered")


def apply_range(
    tx: Tx, views: Views, last: int, progress: Callable[[int], None] | None = None
) -> int:
    """Apply the events after `views.position` up to `last` to the views, in this transaction.

    Flushes `views` (rows, tracking) at the end; returns how many events the range held.
    `progress` is told the range's events in parts as its steps finish (they sum to it).
    """
    after = views.position
    if last <= after:
        return 0
    found = tx.one(
        "SELECT count(*) FROM stored_events WHERE rowid > ? AND rowid <= ?", (after, last)
    )
    count = int(found[0]) if found else 0
    told = 0

    def done(share: float) -> None:  # `share` of the range's work is done by now
        nonlocal told
        if progress is not None and int(count * share) > told:
            progress(int(count * share) - told)
            told = int(count * share)

    views.flush()
    views.forget()
    for statement in _SETUP:
        tx.run(statement)
    try:
        # The shares are each step's usual part of the time.
        _extract(tx, after, last)
        done(0.25)
        _invitations(tx)
        done(0.35)
        _reputation(tx)
        done(0.5)
        _pairs(tx)
        done(0.8)
        latest = tx.one(
            f"SELECT max(m) FROM (SELECT max({_us('at')}) AS m FROM inv_r_sent "
            f"UNION ALL SELECT max({_us('at')}) FROM inv_r_resp)"
        )
        _standing(tx, views, after, last)
    finally:
        for table in _TEMP_TABLES:
            tx.run(f"DROP TABLE IF EXISTS temp.{table}")
    if latest and latest[0] is not None:
        at_us = int(latest[0])
        if views._latest_us is None or at_us > views._latest_us:
            views._latest_us = at_us
    views.position = last
    views.flush()
    views.forget()
    done(1.0)
    return count


def _extract(tx: Tx, after: int, last: int) -> None:
    tx.run(
        f"INSERT INTO inv_r_sent SELECT rowid, {_field('invitation')}, {_field('sender')}, "
        f"{_field('recipient')}, {_field('at')} FROM stored_events "
        "WHERE rowid > ? AND rowid <= ? AND topic = ?",
        (after, last, _SENT),
    )
    status = "CASE topic " + " ".join(f"WHEN '{t}' THEN '{s}'" for t, s in _RESPONSES.items())
    tx.run(
        f"INSERT INTO inv_r_resp SELECT rowid, {_field('invitation')}, originator_id, {_field('at')}, "
        f"{status} END, substr(topic, {len(_PREFIX) + 1}) FROM stored_events "
        f"WHERE rowid > ? AND rowid <= ? AND topic IN ({','.join('?' * len(_RESPONSES))})",
        (after, last, *_RESPONSES),
    )
    tx.run(
        "INSERT INTO inv_r_answered SELECT inv, min(pos), max(pos), "
        "max(CASE WHEN status = 'unknown' THEN pos END), NULL FROM inv_r_resp GROUP BY inv"
    )
    # The status before the range of each answered invitation sent before it.
    tx.run(
        "UPDATE inv_r_answered SET old_status = i.status FROM inv_invitations i "
        "WHERE i.invitation = inv_r_answered.inv"
    )


def _invitations(tx: Tx) -> None:
    # Sent in the range: the row as it stands at the range's end, in one insert.
    tx.run(
        "INSERT INTO inv_invitations SELECT s.inv, s.sender, s.recipient, "
        f"coalesce(l.status, 'pending'), {_us('s.at')}, {_us('f.at')}, f.status, f.id, "
        f"{_us('u.at')}, u.id "
        "FROM inv_r_sent s LEFT JOIN inv_r_answered a ON a.inv = s.inv "
        "LEFT JOIN inv_r_resp f ON f.pos = a.first LEFT JOIN inv_r_resp l ON l.pos = a.last "
        "LEFT JOIN inv_r_resp u ON u.pos = a.unknown"
    )
    # Sent before it, answered in it.
    tx.run(
        "UPDATE inv_invitations SET status = l.status, "
        f"responded_us = coalesce(inv_invitations.responded_us, {_us('f.at')}), "
        "first_response = coalesce(inv_invitations.first_response, f.status), "
        "first_event = coalesce(inv_invitations.first_event, f.id), "
        f"unknown_us = coalesce({_us('u.at')}, inv_invitations.unknown_us), "
        "unknown_event = coalesce(u.id, inv_invitations.unknown_event) "
        "FROM inv_r_answered a JOIN inv_r_resp f ON f.pos = a.first "
        "JOIN inv_r_resp l ON l.pos = a.last LEFT JOIN inv_r_resp u ON u.pos = a.unknown "
        "WHERE a.old_status IS NOT NULL AND inv_invitations.invitation = a.inv"
    )


_COUNTED = ("accepted", "ignored", "unknown", "withdrawn")


def _reputation(tx: Tx) -> None:
    """Each sender's counts move by their invitations' status changes in the range."""
    moves = ", ".join(
        f"(coalesce(new, '') = '{s}') - (coalesce(old, '') = '{s}')" for s in _COUNTED
    )
    # Row by row into the counts (most senders appear many times): cheaper than a sort.
    tx.run(
        f"INSERT INTO inv_reputation SELECT sender, sent, {moves} FROM ("
        # A new invitation: sent once, from no status to its status now.
        "SELECT s.sender, 1 AS sent, NULL AS old, l.status AS new FROM inv_r_sent s "
        "LEFT JOIN inv_r_answered a ON a.inv = s.inv LEFT JOIN inv_r_resp l ON l.pos = a.last "
        "UNION ALL "
        # An older invitation answered now: from its old status to its last one.
        "SELECT i.sender, 0, a.old_status, l.status FROM inv_r_answered a "
        "JOIN inv_r_resp l ON l.pos = a.last JOIN inv_invitations i ON i.invitation = a.inv "
        "WHERE a.old_status IS NOT NULL"
        ") WHERE true "
        "ON CONFLICT (member) DO UPDATE SET sent = sent + excluded.sent, "
        + ", ".join(f"{s} = {s} + excluded.{s}" for s in _COUNTED)
    )


def _pairs(tx: Tx) -> None:
    """Pending invitation, connection and block of each directed pair the range touched."""
    # One row for what each invitation sent or answered in the range did to its pair:
    # pending if unanswered, connected by its acceptance, blocked by its first answer
    # if that was an ignore or an IDK; and one for the other way of each acceptance.
    # A pair met twice (here or before) keeps the latest connection and the first block;
    # its pending invitation is the unanswered one, if any.
    tx.run(
        "INSERT INTO inv_pairs SELECT f.sender, f.recipient, f.pending, c.id, "
        f"b.id, b.type, b.inv, b.pos, {_us('b.at')} FROM ("
        "SELECT i.sender, i.recipient, CASE WHEN a.inv IS NULL THEN i.inv END AS pending, "
        "CASE WHEN l.status = 'accepted' THEN l.pos END AS connected, "
        "CASE WHEN f.status IN ('ignored', 'unknown') THEN f.pos END AS blocked FROM ("
        "SELECT inv, sender, recipient FROM inv_r_sent UNION ALL "
        "SELECT invitation, sender, recipient FROM inv_r_answered a "
        "JOIN inv_invitations ON invitation = a.inv WHERE a.old_status IS NOT NULL) i "
        "LEFT JOIN inv_r_answered a ON a.inv = i.inv "
        "LEFT JOIN inv_r_resp f ON f.pos = a.first LEFT JOIN inv_r_resp l ON l.pos = a.last "
        "UNION ALL "
        "SELECT i.recipient, i.sender, NULL, r.pos, NULL FROM inv_r_resp r "
        "JOIN inv_invitations i ON i.invitation = r.inv WHERE r.status = 'accepted'"
        ") f LEFT JOIN inv_r_resp c ON c.pos = f.connected "
        "LEFT JOIN inv_r_resp b ON b.pos = f.blocked "
        # In key order: B-tree pages are filled in turn rather than touched at random.
        "WHERE true ORDER BY f.sender, f.recipient "
        "ON CONFLICT (sender, recipient) DO UPDATE SET "
        "pending = CASE WHEN excluded.pending IS NOT NULL THEN excluded.pending "
        "WHEN inv_pairs.pending IN (SELECT inv FROM inv_r_answered) THEN NULL "
        "ELSE inv_pairs.pending END, "
        "connected_event = CASE WHEN excluded.connected_event IS NULL "
        "OR inv_pairs.connected_event IS NULL "
        "OR (SELECT rowid FROM stored_events WHERE originator_id = excluded.connected_event) > "
        "(SELECT rowid FROM stored_events WHERE originator_id = inv_pairs.connected_event) "
        "THEN coalesce(excluded.connected_event, inv_pairs.connected_event) "
        "ELSE inv_pairs.connected_event END, "
        + ", ".join(
            f"{column} = CASE WHEN inv_pairs.block_event IS NULL "
            "OR excluded.block_position < inv_pairs.block_position "
            f"THEN excluded.{column} ELSE inv_pairs.{column} END"
            for column in (
                "block_type",
                "block_invitation",
                "block_position",
                "block_us",
                "block_event",
            )
        )
    )


def _standing(tx: Tx, views: Views, after: int, last: int) -> None:
    """The standing rules over the range's IDK reports, appeals and policy changes, in order."""
    reports = tx.all(
        f"SELECT r.pos, r.id, {_us('r.at')}, r.inv, i.sender, i.recipient FROM inv_r_resp r "
        "JOIN inv_invitations i ON i.invitation = r.inv WHERE r.status = 'unknown' ORDER BY r.pos"
    )
    others = tx.all(
        f"SELECT rowid, state FROM stored_events WHERE rowid > ? AND rowid <= ? "
        f"AND topic IN ({','.join('?' * len(_DECODED))}) ORDER BY rowid",
        (after, last, *_DECODED),
    )
    views._load_standing({row[4] for row in reports} - views.standing.keys())
    decoded = iter(others)
    pending: tuple[Any, ...] | None = next(decoded, None)
    for position, event_id, at_us, invitation, sender, recipient in reports:
        while pending is not None and pending[0] < position:
            views.apply(ev.decode(bytes(pending[1])), pending[0])
            pending = next(decoded, None)
        report = rules.Report(event_id, position, from_us(at_us), invitation, recipient)
        views.report(sender, report)
    while pending is not None:
        views.apply(ev.decode(bytes(pending[1])), pending[0])
        pending = next(decoded, None)
