"""A real ledger on a real SQLite file in each test's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import Ledger


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def book(ledger_file: Path) -> Iterator[Ledger]:
    """An empty ledger, closed after the test."""
    ledger = Ledger(str(ledger_file))
    yield ledger
    ledger.close()


@pytest.fixture
def second_book(tmp_path: Path) -> Iterator[Ledger]:
    """Another empty ledger in its own file, e.g. to import an export into."""
    ledger = Ledger(str(tmp_path / "copy.db"))
    yield ledger
    ledger.close()
