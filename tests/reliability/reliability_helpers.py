"""Helpers for the reliability tests: the real `invledger` process, racing processes, dumps.

Everything here runs the real CLI (`python -m cli`) against real SQLite files and
real PostgreSQL databases; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONTROL_BYTES = {bytes([c]) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)} | {b"\x7f"}


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "INVLEDGER_DB"}
    env.update(extra or {})
    return env


def cli(
    db: Path | str,
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run `invledger --db DB ARGS...` as a real process; output stays bytes."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "--db", str(db), *args],
        check=False,
        input=stdin,
        capture_output=True,
        env=cli_env(env),
        cwd=cwd,
        timeout=timeout,
    )


def popen_cli(
    db: Path | str, *args: str, env: dict[str, str] | None = None, cwd: Path | str | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(env),
        cwd=cwd,
    )


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def error_lines(proc: subprocess.CompletedProcess[bytes] | Any) -> list[str]:
    return [line for line in text(proc.stderr).splitlines() if line.startswith("Error:")]


def assert_clean_failure(proc: Any, code: int, what: str = "") -> None:
    """Exit `code`, exactly one `Error:` line on stderr, no traceback, no raw control bytes."""
    err = text(proc.stderr)
    context = f"{what}\nexit {proc.returncode}\nstdout: {text(proc.stdout)[:300]!r}\nstderr (end): {err[-700:]!r}"
    assert proc.returncode == code, context
    assert "Traceback" not in err and "Traceback" not in text(proc.stdout), context
    assert len(error_lines(proc)) == 1, context
    raw = proc.stderr
    assert not any(c in raw for c in CONTROL_BYTES), f"control bytes reach the terminal: {context}"
    assert "\x9b" not in err, f"a C1 CSI reaches the terminal: {context}"


# Many real processes at once, forked from one loaded interpreter ------------------------

# A parent process loads every invledger module once, then forks one child per job. Each
# child is a real, separate process: it redirects its stdin/stdout/stderr to files, waits
# until the parent releases all children at once (EOF on a shared pipe), then runs the
# real CLI entry point `cli.main.main()` with the job's arguments and exits with the code
# the CLI gives; an exception that escapes the CLI is printed as Python prints it
# ("Traceback ...", exit 1). The children open their own database connections after the
# fork. Forking saves each job the ~0.3 s CPU of importing pydantic, eventsourcing and
# psycopg, which is what lets dozens of processes run inside the time budget, and makes
# racers start within a millisecond of each other.
_ZYGOTE = r"""
import json, os, sys, traceback
import click
import cli.main, cli.bulk, ledger.application, ledger.store, ledger.postgres
import projections.queries, projections.rebuild, projections.statement
jobs = json.load(open(sys.argv[1]))
go_read, go_write = os.pipe()
children = []
for job in jobs:
    pid = os.fork()
    if pid == 0:
        os.close(go_write)
        stdin = os.open(job["stdin"] or os.devnull, os.O_RDONLY)
        out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(stdin, 0); os.dup2(out, 1); os.dup2(err, 2)
        os.environ.update(job["env"])
        os.read(go_read, 1)
        sys.argv = ["invledger", *job["args"]]
        code = 0
        try:
            cli.main.main()
        except SystemExit as end:
            if end.code is None:
                code = 0
            elif isinstance(end.code, int):
                code = end.code
            else:
                print(end.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        try:
            sys.stdout.flush()
        except Exception:
            pass
        try:
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(code)
    children.append(pid)
os.close(go_read)
os.close(go_write)  # every child sees EOF at the same moment: go
codes = []
for pid in children:
    _, status = os.waitpid(pid, 0)
    codes.append(os.waitstatus_to_exitcode(status))
json.dump(codes, sys.stdout)
"""


def run_together(
    jobs: Sequence[tuple[str, Sequence[str]] | tuple[str, Sequence[str], Path | None]],
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> list[subprocess.CompletedProcess[bytes]]:
    """Run `invledger --db DB ARGS` for each job (db, args[, stdin file]) as real processes
    released at the same moment; returns one finished process per job, in order."""
    workdir.mkdir(parents=True, exist_ok=True)
    specs = []
    for n, job in enumerate(jobs):
        db, args = job[0], job[1]
        stdin = job[2] if len(job) > 2 else None  # type: ignore[misc]
        specs.append(
            {
                "args": ["--db", str(db), *args],
                "stdin": str(stdin) if stdin else None,
                "out": str(workdir / f"{n}.out"),
                "err": str(workdir / f"{n}.err"),
                "env": env or {},
            }
        )
    (workdir / "jobs.json").write_text(json.dumps(specs))
    parent = subprocess.run(
        [sys.executable, "-c", _ZYGOTE, str(workdir / "jobs.json")],
        capture_output=True,
        env=cli_env(),
        timeout=timeout,
        check=False,
    )
    assert parent.returncode == 0, parent.stderr.decode()[-3000:]
    codes = json.loads(parent.stdout)
    return [
        subprocess.CompletedProcess(
            spec["args"], code, Path(spec["out"]).read_bytes(), Path(spec["err"]).read_bytes()
        )
        for spec, code in zip(specs, codes, strict=True)
    ]


def race(
    db: str, commands: Sequence[Sequence[str]], workdir: Path, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[bytes]]:
    """One real process per command against one ledger, all released at once."""
    return run_together([(db, command) for command in commands], workdir, env=env)


# Looking at a SQLite ledger without the product ---------------------------------------


def sqlite_dump(path: Path | str) -> list[str]:
    """Every row of every table, as SQL text: what a command must not change."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def stored_ids(path: Path | str) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [
            row[0] for row in conn.execute("SELECT originator_id FROM stored_events ORDER BY rowid")
        ]
    finally:
        conn.close()


def jsonl(events: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)
