"""A real ledger on each backend: a SQLite file in tmp_path, and a fresh PostgreSQL database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.simulation import simulate


@pytest.fixture
def ledger_file(ledger_url: str) -> str:
    return ledger_url


@pytest.fixture
def book(ledger_file: str) -> Iterator[Ledger]:
    """An empty ledger, closed after the test: every rule is proved on both backends."""
    ledger = Ledger(ledger_file)
    yield ledger
    ledger.close()


@pytest.fixture
def second_book(tmp_path: Path) -> Iterator[Ledger]:
    """Another empty ledger in its own file, e.g. to import an export into."""
    ledger = Ledger(str(tmp_path / "copy.db"))
    yield ledger
    ledger.close()


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated year in the import format: spammers, appeals and policy changes."""
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    with path.open("w") as out:
        for event in simulate(300, 3000, seed=5, policy_changes=True):
            out.write(json.dumps(event) + "\n")
    return path
