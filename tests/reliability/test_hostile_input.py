"""Hostile input: malformed import lines and command-line arguments.

Every bad line, and every bad command-line argument, goes through a real `invledger`
process (forked from one loaded interpreter, see reliability_helpers.run_together):
exit 2, a stderr line naming "line N", exactly one `Error:` line, no traceback, no raw
control byte echoed to the terminal, and nothing stored (every table of the SQLite file
is compared before and after). The same catalogue also goes through
`Ledger.import_lines` on a real SQLite file: ImportStopped at the right line and no
other exception, with a one-line reason, and nothing stored. A fuzz test drives `ledger.events.parse` with
random bytes, random JSON and random near-events: it returns an event or raises
BadInput, nothing else, and what it accepts re-parses to itself.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import (
    assert_clean_failure,
    cli,
    jsonl,
    run_together,
    sqlite_dump,
    stored_ids,
)

from ledger import events as ev
from ledger.application import Ledger
from ledger.errors import BadInput, ImportStopped
from projections import rebuild

SENT = {
    "id": "h-1",
    "type": "invitation_sent",
    "at": "2026-01-03T12:00:00Z",
    "invitation": "hi-1",
    "sender": "hana",
    "recipient": "ivo",
}
BASE = [
    {
        "id": "b-1",
        "type": "invitation_sent",
        "at": "2026-01-01T12:00:00Z",
        "invitation": "bi-1",
        "sender": "bea",
        "recipient": "cem",
        "message": "hello\tthere\nfriend",
    },
    {
        "id": "b-2",
        "type": "invitation_accepted",
        "at": "2026-01-02T12:00:00Z",
        "invitation": "bi-1",
    },
]


def line(**changes: Any) -> bytes:
    """SENT with fields changed; a value of ... removes the field."""
    event = {**SENT, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def other(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


AT = "2026-01-03T12:00:00Z"
BAD_LINES: dict[str, bytes] = {
    # not an object, not JSON
    "invalid-utf8": line().replace(b'"hana"', b'"h\xff\xfena"'),
    "invalid-utf8-overlong": line().replace(b'"hana"', b'"h\xc0\xafna"'),
    "lone-surrogate-escape": line().replace(b'"hana"', b'"h\\ud800na"'),
    "json-list": b'[{"id": "h-1"}]',
    "json-string": b'"invitation_sent"',
    "json-number": b"42",
    "json-null": b"null",
    "json-true": b"true",
    "empty-object": b"{}",
    "truncated-json": line()[:-7],
    "trailing-garbage": line() + b" x",
    "two-objects": line() + line(id="h-2", invitation="hi-2"),
    "nan": b'{"id": "h-1", "type": "invitation_sent", "at": NaN}',
    "deep-nesting": b"[" * 20000 + b"]" * 20000,
    "raw-control-in-string": line().replace(b'"hana"', b'"ha\x1b[31mna"'),
    # wrong types
    "id-int": line(id=17),
    "at-int": line(at=1767441600),
    "at-float": line(at=1767441600.5),
    "sender-null": line(sender=None),
    "invitation-list": line(invitation=["hi-1"]),
    "message-object": line(message={"text": "hi"}),
    "type-int": line(type=3),
    # unknown type, missing and unknown fields
    "unknown-type": line(type="invitation_teleported"),
    "missing-type": line(type=...),
    "missing-id": line(id=...),
    "missing-at": line(at=...),
    "missing-recipient": line(recipient=...),
    "unknown-field": line(priority="high"),
    # times
    "impossible-date": line(at="2026-02-30T12:00:00Z"),
    "month-13": line(at="2026-13-01T12:00:00Z"),
    "hour-25": line(at="2026-01-03T25:00:00Z"),
    "time-without-zone": line(at="2026-01-03T12:00:00"),
    "date-only": line(at="2026-01-03"),
    "offset-24h": line(at="2026-01-03T12:00:00+24:00"),
    "year-9999-west-of-utc": line(at="9999-12-31T23:59:59-23:59"),
    "year-1-east-of-utc": line(at="0001-01-01T00:00:00+01:00"),
    "empty-time": line(at=""),
    # sizes
    "handle-129": line(sender="h" * 129),
    "invitation-id-129": line(invitation="i" * 129),
    "event-id-129": line(id="e" * 129),
    "empty-id": line(id=""),
    "message-301": line(message="m" * 301),
    "line-over-64KiB": line(message="m" * 70_000),
    "line-over-64KiB-padding": line() + b" " * (64 * 1024 + 10),
    # terminal escapes and control characters
    "message-esc": line(message="\u001b[31mred\u001b[0m"),
    "message-csi-c1": line(message="\u009b31mred"),
    "message-osc-title": line(message="\u001b]0;pwned\u0007"),
    "message-nul": line(message="a\u0000b"),
    "message-del": line(message="a\u007fb"),
    "message-carriage-return": line(message="fake\rline"),
    "message-backspace": line(message="abc\u0008\u0008\u0008xyz"),
    "statement-esc": other(
        {
            "id": "h-9",
            "type": "appeal_filed",
            "at": AT,
            "appeal": "ap-1",
            "member": "hana",
            "statement": "\u001b[2Jcleared",
        }
    ),
    "statement-c1": other(
        {
            "id": "h-9",
            "type": "appeal_filed",
            "at": AT,
            "appeal": "ap-1",
            "member": "hana",
            "statement": "x\u0085y",
        }
    ),
    "note-esc": other(
        {
            "id": "h-9",
            "type": "appeal_granted",
            "at": AT,
            "appeal": "ap-1",
            "agent": "dana",
            "note": "\u001b[31m",
        }
    ),
    "id-bell": line(id="h\u0007-1"),
    "invitation-nul": line(invitation="hi\u0000-1"),
    "sender-tab": line(sender="ha\tna"),
    "sender-newline": line(sender="ha\nna"),
    "sender-space": line(sender="ha na"),
    "sender-nbsp": line(sender="ha\u00a0na"),
    "sender-c1-nel": line(sender="ha\u0085na"),
    "sender-esc": line(sender="\u001b[31mhana"),
    "agent-esc": other(
        {"id": "h-9", "type": "appeal_denied", "at": AT, "appeal": "ap-1", "agent": "\u009bdana"}
    ),
    "email-invalid": line(recipient_email="not-an-email"),
    "email-with-esc": line(recipient_email="ivo@exa\u001bmple.com"),
    # policies
    "policy-version-not-larger": other(
        {"id": "h-9", "type": "policy_changed", "at": AT, "policy": {"version": 1, "warn_at": 3}}
    ),
    "policy-version-huge": other(
        {"id": "h-9", "type": "policy_changed", "at": AT, "policy": {"version": 10**30}}
    ),
    "policy-unknown-field": other(
        {
            "id": "h-9",
            "type": "policy_changed",
            "at": AT,
            "policy": {"version": 2, "ban_everyone": True},
        }
    ),
    "policy-inconsistent": other(
        {
            "id": "h-9",
            "type": "policy_changed",
            "at": AT,
            "policy": {"version": 2, "warn_at": 9, "restrict_at": 3},
        }
    ),
    "policy-negative": other(
        {
            "id": "h-9",
            "type": "policy_changed",
            "at": AT,
            "policy": {"version": 2, "window_days": -1},
        }
    ),
    "policy-not-object": other({"id": "h-9", "type": "policy_changed", "at": AT, "policy": [2]}),
    # broken rules
    "response-unknown-invitation": other(
        {"id": "h-9", "type": "invitation_accepted", "at": AT, "invitation": "nope"}
    ),
    "response-before-send": other(
        {
            "id": "h-9",
            "type": "invitation_ignored",
            "at": "2026-01-01T11:00:00Z",
            "invitation": "bi-1",
        }
    ),
    "response-to-accepted": other(
        {"id": "h-9", "type": "invitation_ignored", "at": AT, "invitation": "bi-1"}
    ),
    "self-invitation": line(recipient="hana"),
    "invitation-id-reused": line(invitation="bi-1"),
    "invite-connected-pair": line(sender="cem", recipient="bea"),
    "same-id-other-content": line(id="b-1"),
    "appeal-without-restriction": other(
        {
            "id": "h-9",
            "type": "appeal_filed",
            "at": AT,
            "appeal": "ap-1",
            "member": "bea",
            "statement": "x",
        }
    ),
    "grant-unknown-appeal": other(
        {"id": "h-9", "type": "appeal_granted", "at": AT, "appeal": "nope", "agent": "dana"}
    ),
}

# The bad line is line 3: line 1 repeats an event already stored (skipped), line 2 is blank.
BAD_LINE_NUMBER = 3
# Every bad line goes through a real process; a few also as the first line of a new ledger.
CLI_LINE_CASES = tuple(BAD_LINES)
EMPTY_LEDGER_CASES = (
    "json-list",
    "invalid-utf8",
    "time-without-zone",
    "message-esc",
    "line-over-64KiB",
    "year-9999-west-of-utc",
)

ARGS_AT = ["--at", "2026-01-05T12:00:00Z"]
BAD_ARGS: dict[str, list[str]] = {
    "send-handle-with-space": ["send", "ha na", "ivo", *ARGS_AT],
    "send-at-without-zone": ["send", "hana", "ivo", "--at", "2026-01-05T12:00:00"],
    "send-email-invalid": ["send", "hana", "ivo", "--email", "not-an-email", *ARGS_AT],
    "send-message-esc": ["send", "hana", "ivo", "--message", "\x1b[31mred", *ARGS_AT],
    "send-invitation-bell": ["send", "hana", "ivo", "--invitation", "inv\x07", *ARGS_AT],
    "appeal-statement-c1-csi": ["appeal", "hana", "--statement", "\u009b2J", *ARGS_AT],
    "send-at-year-9999-west": ["send", "hana", "ivo", "--at", "9999-12-31T23:59:59-23:59"],
    "status-at-year-1-east": ["status", "hana", "--at", "0001-01-01T00:00:00+01:00"],
    "send-empty-handle": ["send", "", "ivo", *ARGS_AT],
    "send-handle-129": ["send", "h" * 129, "ivo", *ARGS_AT],
    "send-handle-esc": ["send", "\x1b[31mhana", "ivo", *ARGS_AT],
    "send-at-impossible": ["send", "hana", "ivo", "--at", "2026-02-30T12:00:00Z"],
    "send-at-garbage": ["send", "hana", "ivo", "--at", "tomorrow"],
    "send-message-c1-csi": ["send", "hana", "ivo", "--message", "\u009b31m", *ARGS_AT],
    "send-message-301": ["send", "hana", "ivo", "--message", "m" * 301, *ARGS_AT],
    "appeal-statement-osc": ["appeal", "hana", "--statement", "\x1b]0;title\x07", *ARGS_AT],
    "grant-agent-with-space": ["grant", "ap-1", "--agent", "da na", *ARGS_AT],
    "deny-note-esc": ["deny", "ap-1", "--agent", "dana", "--note", "\x1b[2J", *ARGS_AT],
    "accept-id-esc": ["accept", "\x1b[31mbi-1", *ARGS_AT],
    "status-at-date-only": ["status", "hana", "--at", "2026-01-05"],
    "check-email-invalid": ["check", "hana", "ivo", "--email", "@", *ARGS_AT],
    "events-since-negative": ["events", "--since", "-1"],
    "events-unknown-type": ["events", "--type", "invitation_teleported"],
    "import-missing-file": ["import", "/nonexistent/history.jsonl"],
    "policy-set-missing-file": ["policy", "set", "/nonexistent/policy.toml"],
    # A byte that is not UTF-8 in a query's handle (Python holds it as a lone surrogate).
    "status-handle-not-utf8": ["status", "ha\udcffna"],
    "audit-handle-not-utf8": ["audit", "ha\udcffna", "--statement"],
    "blocks-handle-not-utf8": ["blocks", "ha\udcffna", "--json"],
    "check-handle-not-utf8": ["check", "hana", "i\udcffvo"],
    "events-member-not-utf8": ["events", "--member", "ha\udcffna"],
    "send-handle-not-utf8": ["send", "ha\udcffna", "ivo", *ARGS_AT],
    "send-handle-hangul-filler": ["send", "hana", "\u3164", *ARGS_AT],
    "status-handle-braille-blank": ["status", "ha\u2800na"],
}


class Outcome:
    def __init__(
        self,
        proc: subprocess.CompletedProcess[bytes],
        db: Path,
        before: list[str],
        after: list[subprocess.CompletedProcess[bytes]],
    ) -> None:
        self.proc = proc
        self.db = db
        self.before = before
        self.after = after  # `status bea --json` and a valid `send`, run afterwards
        self.dump: list[str] = []  # every table right after the refused command
        self.existed = True  # whether the ledger was there right after it

    def assert_still_usable(self) -> None:
        status, send = self.after
        assert status.returncode == 0 and b"Traceback" not in status.stderr, (
            "the ledger cannot be queried after the refused input",
            status.stderr.decode()[-600:],
        )
        assert send.returncode == 0 and b"Traceback" not in send.stderr, (
            "the ledger cannot be written after the refused input",
            send.stderr.decode()[-600:],
        )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every real-process case run by its own `invledger` process (all released together)."""
    root = tmp_path_factory.mktemp("hostile")
    base = root / "base.db"
    (root / "base.jsonl").write_bytes(jsonl(BASE))
    made = cli(base, "import", str(root / "base.jsonl"))
    assert made.returncode == 0, made.stderr
    assert not Path(f"{base}-wal").exists() or Path(f"{base}-wal").stat().st_size == 0
    base_dump = sqlite_dump(base)
    assert any("bi-1" in row for row in base_dump)
    keys: list[tuple[str, Path, list[str]]] = []
    jobs: list[tuple[str, list[str], Path | None]] = []
    for name in CLI_LINE_CASES:
        db = root / f"line-{name}.db"
        shutil.copy(base, db)
        history = root / f"line-{name}.jsonl"
        after = line(id="after", invitation="after")
        history.write_bytes(jsonl(BASE[:1]) + b"\n" + BAD_LINES[name] + b"\n" + after + b"\n")
        keys.append((f"line:{name}", db, base_dump))
        jobs.append((str(db), ["import", str(history)], None))
    for name in EMPTY_LEDGER_CASES:
        db = root / f"empty-{name}.db"
        history = root / f"empty-{name}.jsonl"
        history.write_bytes(BAD_LINES[name] + b"\n" + line(id="after", invitation="after") + b"\n")
        keys.append((f"empty:{name}", db, []))
        jobs.append((str(db), ["import", "-"], history))
    for name, args in BAD_ARGS.items():
        db = root / f"args-{name}.db"
        shutil.copy(base, db)
        keys.append((f"args:{name}", db, base_dump))
        jobs.append((str(db), args, None))
    results = run_together(jobs, root / "runs")
    existed = [db.exists() for _, db, _ in keys]
    dumps = [sqlite_dump(db) if there else [] for (_, db, _), there in zip(keys, existed)]
    # Then, on every ledger, a query and a valid send: a refused line must leave it usable.
    after = run_together(
        [
            job
            for (key, db, _), _ in zip(keys, jobs, strict=True)
            for job in (
                (str(db), ["status", "bea", "--json"]),
                (str(db), ["send", "uma", "vic", *ARGS_AT]),
            )
        ],
        root / "after",
    )
    done = {}
    for n, ((key, db, before), proc) in enumerate(zip(keys, results, strict=True)):
        done[key] = Outcome(proc, db, before, after[2 * n : 2 * n + 2])
        done[key].dump, done[key].existed = dumps[n], existed[n]
    yield done


@pytest.mark.parametrize("name", CLI_LINE_CASES)
def test_bad_import_line_cli(outcomes: dict[str, Outcome], name: str) -> None:
    result = outcomes[f"line:{name}"]
    proc = result.proc
    assert_clean_failure(proc, 2, f"import with bad line {name!r}")
    assert f"line {BAD_LINE_NUMBER}" in proc.stderr.decode("utf-8", "replace"), proc.stderr
    assert result.dump == result.before, "a refused import changed the ledger"


@pytest.mark.parametrize("name", CLI_LINE_CASES)
def test_ledger_usable_after_bad_line_cli(outcomes: dict[str, Outcome], name: str) -> None:
    """After the refused import, `status` and a valid `send` still work on that ledger."""
    outcomes[f"line:{name}"].assert_still_usable()


@pytest.mark.parametrize("name", EMPTY_LEDGER_CASES)
def test_bad_first_line_on_empty_ledger_cli(outcomes: dict[str, Outcome], name: str) -> None:
    result = outcomes[f"empty:{name}"]
    assert_clean_failure(result.proc, 2, f"import starting with bad line {name!r}")
    assert "line 1" in result.proc.stderr.decode("utf-8", "replace")
    assert not result.existed, "an import that stored nothing created a ledger"
    status, send = result.after  # run together: status may come before send makes one
    assert status.returncode in (0, 2) and b"Traceback" not in status.stderr
    assert send.returncode == 0, ("no ledger could be made after the refused input", send.stderr)


@pytest.mark.parametrize("name", list(BAD_ARGS))
def test_bad_argument_cli(outcomes: dict[str, Outcome], name: str) -> None:
    result = outcomes[f"args:{name}"]
    assert_clean_failure(result.proc, 2, f"bad argument {name!r}")
    assert result.dump == result.before, "a refused command changed the ledger"
    result.assert_still_usable()


# The whole catalogue through the service layer on a real SQLite file ------------------


@pytest.fixture(scope="module")
def base_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile-inproc") / "base.db"
    book = Ledger(str(path))
    book.import_lines(iter(jsonl(BASE).splitlines(keepends=True)))
    book.close()
    return path


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_bad_import_line(base_file: Path, tmp_path: Path, name: str) -> None:
    """import_lines stops at line 3 with ImportStopped (nothing else), and stores nothing."""
    path = tmp_path / "ledger.db"
    shutil.copy(base_file, path)
    before = sqlite_dump(path)
    book = Ledger(str(path))
    try:
        lines = [
            jsonl(BASE[:1]),
            b"\n",
            BAD_LINES[name] + b"\n",
            line(id="after", invitation="after") + b"\n",
        ]
        with pytest.raises(ImportStopped) as stopped:
            book.import_lines(iter(lines))
    finally:
        book.close()
    assert stopped.value.line == BAD_LINE_NUMBER
    assert stopped.value.imported == 0 and stopped.value.skipped == 1
    reason = stopped.value.reason
    assert reason and "\n" not in reason
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in reason), repr(reason)
    assert sqlite_dump(path) == before, "a refused import changed the ledger"


def test_boundary_values_are_accepted(tmp_path: Path) -> None:
    """The other side of the limits: 128-character handles, a 300-character message with
    newline and tab, a line of exactly 64 KiB, a time with an offset; a second import skips
    everything, and export then import gives the same bytes."""
    events = [
        {
            **SENT,
            "sender": "s" * 128,
            "recipient": "r" * 128,
            "invitation": "i" * 128,
            "id": "e" * 128,
            "message": ("x" * 148 + "\n\t") * 2,
        },
        {
            **SENT,
            "id": "h-2",
            "invitation": "hi-2",
            "at": "2026-01-03T13:00:00+01:00",
            "recipient_email": "ivo@example.com",
        },
    ]
    padded = line(id="h-4", invitation="hi-4", recipient="zed")
    padded += b" " * (64 * 1024 - len(padded))
    data = jsonl(events) + padded + b"\n"
    book = Ledger(str(tmp_path / "ledger.db"))
    copy = Ledger(str(tmp_path / "copy.db"))
    try:
        assert book.import_lines(iter(data.splitlines(keepends=True))).imported == 3
        again = book.import_lines(iter(data.splitlines(keepends=True)))
        assert (again.imported, again.skipped) == (0, 3)
        out = io.BytesIO()
        assert book.export(out) == 3
        copy.import_lines(iter(out.getvalue().splitlines(keepends=True)))
        out2 = io.BytesIO()
        copy.export(out2)
        assert out2.getvalue() == out.getvalue()
    finally:
        book.close()
        copy.close()


@pytest.mark.parametrize(
    ("sent_at", "reported_at"),
    [
        ("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z"),
    ],
    ids=["end-of-calendar", "start-of-calendar"],
)
def test_report_at_the_edge_of_the_calendar(tmp_path: Path, sent_at: str, reported_at: str) -> None:
    """Valid UTC times at either end of the calendar: a report there is stored, or refused
    with its line number (ImportStopped); the ledger stays usable (a later query and send
    work, the views equal a rebuild); and nothing but ImportStopped escapes the import."""
    path = tmp_path / "ledger.db"
    lines = [
        jsonl(
            [
                {
                    "id": "f-1",
                    "type": "invitation_sent",
                    "at": sent_at,
                    "invitation": "fi-1",
                    "sender": "fay",
                    "recipient": "gus",
                }
            ]
        ),
        jsonl(
            [
                {
                    "id": "f-2",
                    "type": "invitation_marked_unknown",
                    "at": reported_at,
                    "invitation": "fi-1",
                }
            ]
        ),
    ]
    book = Ledger(str(path))
    escaped: BaseException | None = None
    try:
        book.import_lines(iter(lines))
    except ImportStopped as stopped:
        # Times outside the supported years are refused at the first line that has one.
        assert stopped.line in (1, 2)
        assert "out of range" in stopped.reason
    except Exception as error:  # noqa: BLE001 - reported below, after the usability checks
        escaped = error
    finally:
        book.close()
    book = Ledger(str(path))
    try:
        try:
            book.record(
                {
                    "type": "invitation_sent",
                    "invitation": "later",
                    "sender": "uma",
                    "recipient": "vic",
                    "at": datetime(2026, 1, 5, tzinfo=UTC),
                }
            )
            book.ensure_current()
            with rebuild.scratch() as space:
                rebuild.feed(book.store, space)
                assert rebuild.fingerprints(space) == rebuild.fingerprints(book.store)
        except Exception as error:
            stored = len(stored_ids(path))
            raise AssertionError(
                f"after that import ({stored} events stored) the ledger is unusable: "
                f"{type(error).__name__}: {error}"
            ) from error
    finally:
        book.close()
    assert escaped is None, f"import raised {type(escaped).__name__}: {escaped} (not ImportStopped)"


# Fuzzing the parser -------------------------------------------------------------------

FIELDS = [
    "id",
    "type",
    "at",
    "invitation",
    "sender",
    "recipient",
    "message",
    "recipient_email",
    "appeal",
    "member",
    "statement",
    "agent",
    "note",
    "policy",
    "extra",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def times(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
    )
    offset = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    text = moment.replace(tzinfo=timezone(timedelta(minutes=offset))).isoformat()
    return draw(st.sampled_from([text, text.replace("+00:00", "Z"), moment.isoformat()]))


handles = st.text(min_size=0, max_size=130) | st.sampled_from(["hana", "ivo", "h" * 128, "h" * 129])
values = {
    "id": handles,
    "invitation": handles,
    "sender": handles,
    "recipient": handles,
    "appeal": handles,
    "member": handles,
    "agent": handles,
    "type": st.sampled_from([*ev.EVENT_TYPES, "other"]) | json_values,
    "at": times() | json_values,
    "message": st.text(max_size=310) | json_values,
    "statement": st.text(max_size=50),
    "note": st.text(max_size=50),
    "recipient_email": st.emails() | st.text(max_size=20),
    "policy": st.dictionaries(
        st.sampled_from(
            [
                "version",
                "window_days",
                "warn_at",
                "restrict_at",
                "restrict_days",
                "recidive_days",
                "suspend_days",
                "max_suspend_days",
                "appeal_overdue_hours",
                "x",
            ]
        ),
        st.integers(-(2**70), 2**70) | json_values,
        max_size=5,
    )
    | json_values,
    "extra": json_values,
}


@st.composite
def near_events(draw: st.DrawFn) -> bytes:
    """An event-shaped object: a real type with some fields present, some random."""
    chosen = draw(st.lists(st.sampled_from(FIELDS), unique=True, min_size=1, max_size=8))
    data = {
        "type": draw(st.sampled_from(ev.EVENT_TYPES)),
        "id": "x-1",
        "at": "2026-01-01T00:00:00Z",
    }
    for field in chosen:
        data[field] = draw(values[field])
    return json.dumps(data).encode()


def _parse_or_bad_input(data: bytes | str) -> None:
    try:
        event = ev.parse(data)
    except BadInput as error:
        assert str(error), "BadInput without a reason"
        assert "\n" not in str(error)
        return
    # Whatever is accepted has a canonical form that is accepted again, unchanged.
    canonical = ev.encode(event)
    assert ev.parse(canonical) == event
    assert ev.encode(ev.parse(canonical)) == canonical
    assert event.at.utcoffset() == timedelta(0)


FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(st.binary(max_size=400))
def test_parse_random_bytes(data: bytes) -> None:
    _parse_or_bad_input(data)


@FUZZ
@given(st.text(max_size=200) | json_values.map(json.dumps))
def test_parse_random_json_text(data: str) -> None:
    _parse_or_bad_input(data)


@FUZZ
@given(near_events())
def test_parse_near_events(data: bytes) -> None:
    _parse_or_bad_input(data)


def test_parse_extreme_offsets_explicitly() -> None:
    """Two inputs the fuzzer found, kept as explicit examples."""
    for at in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"):
        _parse_or_bad_input(line(at=at))
