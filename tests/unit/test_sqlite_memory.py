"""SQLite's memory statistics are off once invledger's storage is imported (so its
reading threads do not wait on each other), and left alone where that is not safe.

Each case runs in a fresh Python process: the setting belongs to the process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the statistics are switched off on Linux only"
)

# What SQLite counts as in use, printed after the case's code has run.
MEMORY_USED = """
import ctypes, _sqlite3
used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
used.restype = ctypes.c_int64
print(used())
"""


def run(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + MEMORY_USED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_importing_the_store_switches_the_statistics_off() -> None:
    # Given a fresh process that imports the store, when it opens a connection
    # and extracts JSON, then SQLite counts no memory in use: it no longer counts.
    out = run(
        "import sqlite3, ledger.store\n"
        "conn = sqlite3.connect(':memory:')\n"
        "print(conn.execute(\"SELECT json_extract('{\\\"a\\\": 7}', '$.a')\").fetchone()[0])\n"
    )
    assert out == ["7", "0"]


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


def test_asking_again_finds_them_off_without_stopping_sqlite() -> None:
    # Given the statistics off and a connection open, when asked again, then
    # the answer is that they are off, and the open connection still works.
    out = run(
        "import sqlite3, ledger.store\n"
        "from ledger import sqlite_memory\n"
        "conn = sqlite3.connect(':memory:')\n"
        "conn.execute('CREATE TABLE t (x)')\n"
        "print(sqlite_memory.statistics_off())\n"
        "print(conn.execute('SELECT count(*) FROM t').fetchone()[0])\n"
    )
    assert out == ["True", "0", "0"]
