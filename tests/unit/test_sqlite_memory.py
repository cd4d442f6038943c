"""SQLite's memory statistics are off once invledger's storage is imported (so its
reading threads do not wait on each other), and left alone where that is not safe.

The cases with the real library each run in a fresh Python process: the setting
belongs to the process. The order of the calls, and the calls not made, are checked
on a stand-in for the library that records them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger import sqlite_memory

ROOT = Path(__file__).resolve().parents[2]

reachable = pytest.mark.skipif(
    sqlite_memory.library() is None,
    reason="SQLite's library cannot be reached here (not Linux, or its functions not exported)",
)

# What SQLite counts as in use, printed after the case's code has run.
MEMORY_USED = """
from ledger import sqlite_memory as _m
print(_m.library().sqlite3_memory_used())
"""


def run(code: str, **environment: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + MEMORY_USED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**_environment(), **environment},
    )
    return done.stdout.split()


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != sqlite_memory.KEEP_VARIABLE}


OPEN_AND_EXTRACT = (
    "conn = sqlite3.connect(':memory:')\n"
    "print(conn.execute(\"SELECT json_extract('{\\\"a\\\": 7}', '$.a')\").fetchone()[0])\n"
)


@reachable
def test_importing_the_store_switches_the_statistics_off() -> None:
    # Given a fresh process that imports the store, when it opens a connection
    # and extracts JSON, then SQLite counts no memory in use: it no longer counts.
    assert run("import sqlite3, ledger.store\n" + OPEN_AND_EXTRACT) == ["7", "0"]


@reachable
def test_asked_to_keep_them_it_leaves_them_on() -> None:
    out = run(
        "import sqlite3, ledger.store\n" + OPEN_AND_EXTRACT, INVLEDGER_SQLITE_STATISTICS="keep"
    )
    assert out[0] == "7"
    assert int(out[1]) > 0


@reachable
def test_a_connection_opened_before_leaves_them_on_and_working() -> None:
    # Given a connection already open, when the switch is tried, then it refuses
    # (stopping SQLite under an open connection is not allowed) and the
    # connection still works, its memory still counted.
    out = run(
        "import sqlite3\n"
        "conn = sqlite3.connect(':memory:')\n"
        "from ledger import sqlite_memory\n"
        "print(sqlite_memory.statistics_off())\n"
        "print(conn.execute('SELECT 40 + 2').fetchone()[0])\n"
    )
    assert out[:2] == ["False", "42"]
    assert int(out[2]) > 0


@reachable
def test_another_thread_running_leaves_them_on() -> None:
    # Given a second thread alive (it could enter SQLite while it restarts), when
    # the store is imported, then the statistics stay on.
    out = run(
        "import sqlite3, threading\n"
        "stop = threading.Event()\n"
        "threading.Thread(target=stop.wait).start()\n"
        "import ledger.store\n" + OPEN_AND_EXTRACT + "stop.set()\n"
    )
    assert out[0] == "7"
    assert int(out[1]) > 0


class Recorder:
    """Stands for the library: memory in use before the probe, whether it counts,
    what shutdown answers; it records the calls that change SQLite's state."""

    def __init__(self, in_use: int = 0, counting: bool = True, shutdown: int = 0) -> None:
        self.in_use, self.counting, self.shutdown_answer = in_use, counting, shutdown
        self.probe = 0
        self.calls: list[tuple[Any, ...]] = []

    def sqlite3_memory_used(self) -> int:
        return self.in_use + (self.probe if self.counting else 0)

    def sqlite3_malloc(self, size: int) -> int:
        self.probe = size
        return 0x1000

    def sqlite3_free(self, pointer: int) -> None:
        self.probe = 0

    def sqlite3_shutdown(self) -> int:
        self.calls.append(("shutdown",))
        return self.shutdown_answer

    def sqlite3_config(self, option: int, value: Any) -> int:
        self.calls.append(("config", option, value.value))
        return 0

    def sqlite3_initialize(self) -> int:
        self.calls.append(("initialize",))
        return 0


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(stand_in: Recorder) -> Recorder:
        monkeypatch.setattr(sqlite_memory, "library", lambda: stand_in)
        monkeypatch.setattr(sqlite_memory.threading, "active_count", lambda: 1)
        monkeypatch.delenv(sqlite_memory.KEEP_VARIABLE, raising=False)
        return stand_in

    return install


def test_it_stops_sqlite_sets_the_option_and_starts_it_again(recorder: Any) -> None:
    library = recorder(Recorder())
    assert sqlite_memory.statistics_off() is True
    assert library.calls == [("shutdown",), ("config", 9, 0), ("initialize",)]


def test_memory_in_use_means_sqlite_is_not_stopped(recorder: Any) -> None:
    library = recorder(Recorder(in_use=13_512))
    assert sqlite_memory.statistics_off() is False
    assert library.calls == []


def test_statistics_already_off_need_no_restart(recorder: Any) -> None:
    library = recorder(Recorder(counting=False))
    assert sqlite_memory.statistics_off() is True
    assert library.calls == []


def test_a_refused_shutdown_changes_nothing(recorder: Any) -> None:
    library = recorder(Recorder(shutdown=5))
    assert sqlite_memory.statistics_off() is False
    assert library.calls == [("shutdown",)]
