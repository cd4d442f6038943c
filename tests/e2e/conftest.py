"""The real `invledger` process, on a SQLite file and on a PostgreSQL database (`ledger_url`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]

START = datetime(2026, 1, 1, 12, tzinfo=UTC)


def day(n: float, hours: float = 0) -> str:
    """Day N of SPEC.md's worked example (2026-01-01 + N days, noon UTC) as ISO 8601."""
    moment = START + timedelta(days=n, hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def invoke(
    db: Path | str, *args: str, stdin: str | bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[Any]:
    env = {k: v for k, v in os.environ.items() if k != "INVLEDGER_DB"}
    return subprocess.run(
        [sys.executable, "-m", "cli", "--db", str(db), *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=not isinstance(stdin, bytes),
        env=env,
        cwd=cwd,
        timeout=60,
    )


@pytest.fixture
def invledger_on() -> Callable[..., subprocess.CompletedProcess[Any]]:
    """`invledger_on(db, ARGS..., stdin=...)`: the real process on any ledger file."""
    return invoke


@pytest.fixture
def db(ledger_url: str) -> str:
    """This test's ledger: every end-to-end scenario runs on both backends."""
    return ledger_url


@pytest.fixture
def invledger(db: Path, tmp_path: Path) -> Run:
    """Run `invledger --db <this test's file> ARGS...`; returns the finished process (text)."""

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return invoke(db, *args, stdin=stdin, cwd=tmp_path)

    return run


def worked_example_events() -> list[dict[str, Any]]:
    """SPEC.md's worked example as JSONL events with memorable ids.

    alice's invitation to stranger-NN is sent at 09:00 of day N and reported at noon.
    A bystander pair (bram invites cato, accepted) shows that filters leave others out.
    """
    events: list[dict[str, Any]] = [
        {
            "id": "sent-bram-cato",
            "type": "invitation_sent",
            "at": day(0),
            "invitation": "inv-bram-cato",
            "sender": "bram",
            "recipient": "cato",
        },
        {
            "id": "acc-bram-cato",
            "type": "invitation_accepted",
            "at": day(0, 1),
            "invitation": "inv-bram-cato",
        },
    ]

    def reports(days: range) -> None:
        for n in days:
            invitation = f"inv-alice-{n:02d}"
            events.append(
                {
                    "id": f"sent-{n:02d}",
                    "type": "invitation_sent",
                    "at": day(n, -3),
                    "invitation": invitation,
                    "sender": "alice",
                    "recipient": f"stranger-{n:02d}",
                }
            )
            events.append(
                {
                    "id": f"idk-{n:02d}",
                    "type": "invitation_marked_unknown",
                    "at": day(n),
                    "invitation": invitation,
                }
            )

    reports(range(1, 8))
    events.append(
        {
            "id": "filed-ap-alice",
            "type": "appeal_filed",
            "at": day(10),
            "appeal": "ap-alice",
            "member": "alice",
            "statement": "They were my classmates",
        }
    )
    events.append(
        {
            "id": "granted-ap-alice",
            "type": "appeal_granted",
            "at": day(11),
            "appeal": "ap-alice",
            "agent": "agent-grete",
            "note": "classmates confirmed",
        }
    )
    reports(range(20, 27))
    reports(range(40, 47))
    return events


@pytest.fixture(scope="module")
def worked_example_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "worked-example.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in worked_example_events()))
    return path


@pytest.fixture(scope="module")
def worked_db(worked_example_file: Path, module_ledger_url: str) -> str:
    """A ledger holding the whole worked example, imported once by the real process, on
    each backend. Tests that use it only read."""
    done = invoke(module_ledger_url, "import", str(worked_example_file))
    assert done.returncode == 0, done.stderr
    return module_ledger_url


@pytest.fixture
def ask(worked_db: str) -> Run:
    """Run a read-only command against the worked example ledger."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return invoke(worked_db, *args)

    return run
