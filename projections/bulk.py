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
from datetime import datetime

from ledger import events as ev
from ledger.moments import from_us, to_us
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
    (
        "CREATE TEMP TABLE inv_r_sent (pos INTEGER PRIMARY KEY, inv TEXT, sender TEXT, "
        "recipient TEXT, at TEXT)"
    ),
    (
        "CREATE TEMP TABLE inv_r_resp (pos INTEGER PRIMARY KEY, inv TEXT, id TEXT, at TEXT, "
        "status TEXT, type TEXT)"
    ),
    # Per answered invitation: its first and last response and its IDK in the range.
    (
        "CREATE TEMP TABLE inv_r_answered (inv TEXT PRIMARY KEY, first INTEGER, last INTEGER, "
        "unknown INTEGER, old_status TEXT) WITHOUT ROWID"
    ),
)
_TEMP_TABLES = ("inv_r_sent", "inv_r_resp", "inv_r_answered", "inv_r_inv")
# Pages of the working tables kept in memory (KiB): beyond it they spill to a temporary file.
TEMP_CACHE_KIB = 65_536


def apply_range(
    tx: Tx,
    views: Views,
    last: int,
    progress: Callable[[int], None] | None = None,
    *,
    log: str = "stored_events",
    until: datetime | None = None,
    policy_changes: bool = True,
) -> int:
    """Apply the events after `views.position` up to `last` to the views, in this transaction.

    Flushes `views` (rows, tracking) at the end; returns how many events it applied.
    `progress` is told the range's events in parts as its steps finish (they sum to all
    of them, applied or left out).
    `log` names the table of the events (a scratch rebuild reads another ledger's); with
    `until`, only the events dated at or before it are applied (the rest still count as
    passed); without `policy_changes`, the log's are left out (a what-if has its own).
    """
    after = views.position
    if last <= after:
        return 0
    count = 0  # the range's events, known once they are extracted
    told = 0

    def done(share: float) -> None:  # `share` of the range's work is done by now
        nonlocal told
        if progress is not None and int(count * share) > told:
            progress(int(count * share) - told)
            told = int(count * share)

    views.flush()
    views.forget()
    tx.run(f"PRAGMA temp.cache_size = -{TEMP_CACHE_KIB}")
    # The working tables hold nothing private (the log has it all), and overwriting their
    # freed pages with zeros (this SQLite's build default) made dropping them cost seconds.
    tx.run("PRAGMA temp.secure_delete = OFF")
    for statement in _SETUP:
        tx.run(statement)
    try:
        topics = _DECODED if policy_changes else _DECODED[:-1]
        stored = tx.all(
            f"SELECT rowid, state FROM {log} WHERE rowid > ? AND rowid <= ? "
            f"AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid",
            (after, last, *topics),
        )
        others = [(position, ev.decode(bytes(state))) for position, state in stored]
        if until is not None:
            others = [(position, event) for position, event in others if event.at <= until]
        applied = _extract(tx, after, last, log, None if until is None else to_us(until))
        applied += len(others)
        count = applied
        if until is not None or not policy_changes:
            # Every event of the range counts as passed, applied or left out.
            found = tx.one(
                f"SELECT count(*) FROM {log} WHERE rowid > ? AND rowid <= ?", (after, last)
            )
            count = int(found[0]) if found else 0
        # The shares are each step's usual part of the time.
        done(0.3)
        _outcomes(tx)
        done(0.45)
        _invitations(tx)
        _reputation(tx)
        done(0.6)
        _pairs(tx, log)
        done(0.85)
        latest = _latest(tx)
        _standing(tx, views, others)
    finally:
        for table in _TEMP_TABLES:
            tx.run(f"DROP TABLE IF EXISTS temp.{table}")
    if latest is not None and (views._latest_us is None or latest > views._latest_us):
        views._latest_us = latest
    views.position = last
    views.flush()
    views.forget()
    done(1.0)
    return applied


def _extract(tx: Tx, after: int, last: int, log: str, until_us: int | None) -> int:
    """The range's sends and responses (dated until `until_us`, if given) into the
    working tables; returns how many."""
    dated = "" if until_us is None else f"AND {_us(_field('at'))} <= {int(until_us)}"
    tx.run(
        f"INSERT INTO inv_r_sent SELECT rowid, {_field('invitation')}, {_field('sender')}, "
        f"{_field('recipient')}, {_field('at')} FROM {log} "
        f"WHERE rowid > ? AND rowid <= ? AND topic = ? {dated}",
        (after, last, _SENT),
    )
    extracted = _changes(tx)
    status = "CASE topic " + " ".join(f"WHEN '{t}' THEN '{s}'" for t, s in _RESPONSES.items())
    tx.run(
        f"INSERT INTO inv_r_resp SELECT rowid, {_field('invitation')}, originator_id, {_field('at')}, "
        f"{status} END, substr(topic, {len(_PREFIX) + 1}) FROM {log} "
        f"WHERE rowid > ? AND rowid <= ? AND topic IN ({','.join('?' * len(_RESPONSES))}) "
        f"{dated}",
        (after, last, *_RESPONSES),
    )
    extracted += _changes(tx)
    tx.run(
        "INSERT INTO inv_r_answered SELECT inv, min(pos), max(pos), "
        "max(CASE WHEN status = 'unknown' THEN pos END), NULL FROM inv_r_resp GROUP BY inv"
    )
    # The status before the range of each answered invitation sent before it.
    tx.run(
        "UPDATE inv_r_answered SET old_status = i.status FROM inv_invitations i "
        "WHERE i.invitation = inv_r_answered.inv"
    )
    return extracted


def _changes(tx: Tx) -> int:
    found = tx.one("SELECT changes()")
    return int(found[0]) if found else 0


def _latest(tx: Tx) -> int | None:
    """The latest time of the range's sends and responses, in microseconds: its second
    first, from the text (the same width in every row), then the exact time among the
    rows of that second, which alone are converted."""
    found = tx.one(
        "SELECT max(m) FROM (SELECT max(substr(at, 1, 19)) AS m FROM inv_r_sent "
        "UNION ALL SELECT max(substr(at, 1, 19)) FROM inv_r_resp)"
    )
    if not found or found[0] is None:
        return None
    second = found[0]
    exact = tx.one(
        f"SELECT max(m) FROM (SELECT max({_us('at')}) AS m FROM inv_r_sent WHERE at >= ? "
        f"UNION ALL SELECT max({_us('at')}) FROM inv_r_resp WHERE at >= ?)",
        (second, second),
    )
    return int(exact[0]) if exact and exact[0] is not None else None


def _outcomes(tx: Tx) -> None:
    """One row per invitation the range sent or answered: what the range did to it.

    `old_status` is NULL for an invitation sent in the range, else its status before it;
    `last_status` is NULL for one sent and not answered in it. The statements that
    follow read this table alone, so the range's rows are joined once.
    """
    tx.run(
        "CREATE TEMP TABLE inv_r_inv AS "
        f"SELECT s.inv AS inv, s.sender AS sender, s.recipient AS recipient, {_us('s.at')} AS sent_us, "
        "NULL AS old_status, f.status AS first_status, f.id AS first_id, f.type AS first_type, "
        f"f.pos AS first_pos, {_us('f.at')} AS first_us, l.status AS last_status, l.id AS last_id, "
        f"u.id AS unknown_id, {_us('u.at')} AS unknown_us "
        "FROM inv_r_sent s LEFT JOIN inv_r_answered a ON a.inv = s.inv "
        "LEFT JOIN inv_r_resp f ON f.pos = a.first LEFT JOIN inv_r_resp l ON l.pos = a.last "
        "LEFT JOIN inv_r_resp u ON u.pos = a.unknown "
        "UNION ALL "
        f"SELECT a.inv, i.sender, i.recipient, NULL, a.old_status, f.status, f.id, f.type, f.pos, "
        f"{_us('f.at')}, l.status, l.id, u.id, {_us('u.at')} "
        "FROM inv_r_answered a JOIN inv_invitations i ON i.invitation = a.inv "
        "JOIN inv_r_resp f ON f.pos = a.first JOIN inv_r_resp l ON l.pos = a.last "
        "LEFT JOIN inv_r_resp u ON u.pos = a.unknown WHERE a.old_status IS NOT NULL"
    )


def _invitations(tx: Tx) -> None:
    # Sent in the range: the row as it stands at the range's end, in one insert.
    tx.run(
        "INSERT INTO inv_invitations SELECT inv, sender, recipient, "
        "coalesce(last_status, 'pending'), sent_us, first_us, first_status, first_id, "
        "unknown_us, unknown_id FROM inv_r_inv WHERE old_status IS NULL"
    )
    # Sent before it, answered in it.
    tx.run(
        "UPDATE inv_invitations SET status = o.last_status, "
        "responded_us = coalesce(inv_invitations.responded_us, o.first_us), "
        "first_response = coalesce(inv_invitations.first_response, o.first_status), "
        "first_event = coalesce(inv_invitations.first_event, o.first_id), "
        "unknown_us = coalesce(o.unknown_us, inv_invitations.unknown_us), "
        "unknown_event = coalesce(o.unknown_id, inv_invitations.unknown_event) "
        "FROM inv_r_inv o WHERE o.old_status IS NOT NULL AND inv_invitations.invitation = o.inv"
    )


_COUNTED = ("accepted", "ignored", "unknown", "withdrawn")


def _reputation(tx: Tx) -> None:
    """Each sender's counts move by their invitations' status changes in the range:
    a new invitation is sent once, from no status to its status now; an older one
    answered now moves from its old status to its last one."""
    # Summed per sender first: one upsert per sender rather than one per invitation.
    sums = ", ".join(
        f"sum((coalesce(last_status, '') = '{s}') - (coalesce(old_status, '') = '{s}'))"
        for s in _COUNTED
    )
    tx.run(
        f"INSERT INTO inv_reputation SELECT sender, sum(old_status IS NULL), {sums} "
        "FROM inv_r_inv GROUP BY sender "
        "ON CONFLICT (member) DO UPDATE SET sent = sent + excluded.sent, "
        + ", ".join(f"{s} = {s} + excluded.{s}" for s in _COUNTED)
    )


_BLOCKED = "first_status IN ('ignored', 'unknown')"


def _pairs(tx: Tx, log: str) -> None:
    """Pending invitation, connection and block of each directed pair the range touched."""
    # One row for what each invitation sent or answered in the range did to its pair:
    # pending if unanswered, connected by its acceptance, blocked by its first answer
    # if that was an ignore or an IDK.
    # A pair met twice (here or before) keeps the latest connection and the first block;
    # its pending invitation is the unanswered one, if any.
    tx.run(
        "INSERT INTO inv_pairs SELECT sender, recipient, "
        "CASE WHEN last_status IS NULL THEN inv END, "
        "CASE WHEN last_status = 'accepted' THEN last_id END, "
        + ", ".join(
            f"CASE WHEN {_BLOCKED} THEN {column} END"
            for column in ("first_id", "first_type", "inv", "first_pos", "first_us")
        )
        + " FROM inv_r_inv "
        # In key order: B-tree pages are filled in turn rather than touched at random.
        "ORDER BY 1, 2 "
        "ON CONFLICT (sender, recipient) DO UPDATE SET "
        "pending = CASE WHEN excluded.pending IS NOT NULL THEN excluded.pending "
        "WHEN inv_pairs.pending IN (SELECT inv FROM inv_r_answered) THEN NULL "
        "ELSE inv_pairs.pending END, "
        "connected_event = CASE WHEN excluded.connected_event IS NULL "
        "OR inv_pairs.connected_event IS NULL "
        f"OR (SELECT rowid FROM {log} WHERE originator_id = excluded.connected_event) > "
        f"(SELECT rowid FROM {log} WHERE originator_id = inv_pairs.connected_event) "
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


def _standing(tx: Tx, views: Views, others: list[tuple[int, ev.Event]]) -> None:
    """The standing rules over the range's IDK reports and `others` (its appeals and
    policy changes, with their positions), in log order."""
    reports = tx.all(
        f"SELECT r.pos, r.id, {_us('r.at')}, r.inv, i.sender, i.recipient FROM inv_r_resp r "
        "JOIN inv_invitations i ON i.invitation = r.inv WHERE r.status = 'unknown' ORDER BY r.pos"
    )
    views._load_standing({row[4] for row in reports} - views.standing.keys())
    decoded = iter(others)
    pending = next(decoded, None)
    for position, event_id, at_us, invitation, sender, recipient in reports:
        while pending is not None and pending[0] < position:
            views.apply(pending[1], pending[0])
            pending = next(decoded, None)
        report = rules.Report(event_id, position, from_us(at_us), invitation, recipient)
        views.report(sender, report)
    while pending is not None:
        views.apply(pending[1], pending[0])
        pending = next(decoded, None)
