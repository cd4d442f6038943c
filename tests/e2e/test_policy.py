"""`policy show` and `policy set` through the real process: versions grow, bad files refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_default_policy_is_version_1_of_the_spec(invledger: Any) -> None:
    assert invledger("import", "-", stdin="").returncode == 0  # an empty ledger
    done = invledger("policy", "show", "--json")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "version": 1,
        "window_days": 30,
        "warn_at": 5,
        "restrict_at": 7,
        "restrict_days": 30,
        "recidive_days": 180,
        "suspend_days": 7,
        "max_suspend_days": 90,
        "appeal_overdue_hours": 48,
    }


def test_a_toml_policy_change_applies_to_later_reports(invledger: Any, tmp_path: Path) -> None:
    stricter = write(tmp_path, "stricter.toml", "version = 2\nwarn_at = 2\nrestrict_at = 3\n")
    assert invledger("policy", "set", stricter, "--at", "2026-01-01T00:00:00Z").returncode == 0
    for n in (1, 2):
        invledger(
            "send",
            "hugo",
            f"stranger-{n}",
            "--invitation",
            f"inv-{n}",
            "--at",
            f"2026-01-0{n + 1}T09:00:00Z",
        )
        invledger("idk", f"inv-{n}", "--at", f"2026-01-0{n + 1}T12:00:00Z")

    status = json.loads(
        invledger("status", "hugo", "--at", "2026-01-04T00:00:00Z", "--json").stdout
    )
    shown = json.loads(invledger("policy", "show", "--json").stdout)

    assert (shown["version"], shown["warn_at"], shown["window_days"]) == (2, 2, 30)
    assert (status["standing"], status["reports_counted"], status["policy_version"]) == (
        "warned",
        2,
        2,
    )


def test_a_json_policy_whose_version_does_not_grow_is_refused_by_the_rule(
    invledger: Any, tmp_path: Path
) -> None:
    assert invledger("import", "-", stdin="").returncode == 0  # an empty ledger
    same = write(tmp_path, "same.json", json.dumps({"version": 1, "warn_at": 4}))

    done = invledger("policy", "set", same)

    assert done.returncode == 1
    assert done.stderr.strip().startswith(
        "Error: refused by rule 'policy-version': policy version 1 must be larger"
    )
    assert json.loads(invledger("policy", "show", "--json").stdout)["warn_at"] == 5


def test_a_change_dated_before_a_stored_one_is_refused_and_each_version_is_one_policy(
    invledger: Any, tmp_path: Path
) -> None:
    # given a stricter policy in force from June
    strict = write(tmp_path, "strict.json", '{"version": 2, "warn_at": 3, "restrict_at": 3}')
    assert invledger("policy", "set", strict, "--at", "2026-06-01T00:00:00Z").returncode == 0

    # when a version 3 is dated January: checked against version 2 it fits, but in force
    # from January it would mean warn_at 5 with restrict_at 4
    sooner = write(tmp_path, "sooner.json", '{"version": 3, "restrict_at": 4}')
    done = invledger("policy", "set", sooner, "--at", "2026-01-01T00:00:00Z")

    # then it is refused by the rule, and the policy in force in March is still version 1
    assert done.returncode == 1
    assert done.stderr.strip().startswith("Error: refused by rule 'policy-order': policy version 3")
    march = json.loads(invledger("policy", "show", "--at", "2026-03-01T00:00:00Z", "--json").stdout)
    assert (march["version"], march["restrict_at"]) == (1, 7)


def test_unknown_fields_and_bad_values_are_bad_input(invledger: Any, tmp_path: Path) -> None:
    assert invledger("import", "-", stdin="").returncode == 0  # an empty ledger
    cases = {
        "unknown.toml": ("version = 2\nwarn_after = 3\n", "unknown field 'warn_after'"),
        "zero.json": ('{"version": 2, "warn_at": 0}', "warn_at"),
        "together.toml": (
            "version = 2\nwarn_at = 9\n",
            "warn_at (9) may not exceed restrict_at (7)",
        ),
        "neither.txt": ("version: 2", "neither JSON nor TOML"),
        "deep.json": ('{"version": 2, "x": ' + "[" * 3000 + "]" * 3000 + "}", "nested too deeply"),
        "deep.toml": ("version = 2\nx = " + "[" * 3000 + "]" * 3000, "nested too deeply"),
        "huge.json": ('{"version": 2' + " " * 70_000 + "}", "longer than 64 KiB"),
    }
    for name, (text, reason) in cases.items():
        path = write(tmp_path, name, text)
        for done in (invledger("policy", "set", path), invledger("replay", "--policy", path)):
            assert done.returncode == 2, (name, done.stderr)
            assert reason in done.stderr, (name, done.stderr)
            assert done.stderr.startswith(f"Error: {path}: "), (name, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert json.loads(invledger("policy", "show", "--json").stdout)["version"] == 1
