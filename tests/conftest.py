"""Fixtures shared by every test folder: a ledger on each backend.

`ledger_url` runs a test on a SQLite file and on a fresh PostgreSQL database
(created for the test and dropped after). Without a reachable server the
PostgreSQL half skips with the reason, unless INVLEDGER_REQUIRE_POSTGRES=1
(set by .ci/run), where it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("INVLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
_unreachable: list[str] = []


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    if _unreachable:
        return _unreachable[0] or None
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        _unreachable.append("")
    except Exception as error:  # noqa: BLE001 - any failure means: no server for the tests
        _unreachable.append(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}".strip())
    return _unreachable[0] or None


@contextmanager
def _fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped after (or the skip, or the failure)."""
    reason = postgres_unavailable()
    if reason:
        if os.environ.get("INVLEDGER_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    name = f"invledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test."""
    with _fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.db")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """The same test on a SQLite file and on a PostgreSQL database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_ledger_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`ledger_url` for a module's shared ledger (written once, then only read)."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("ledger") / "ledger.db")
        return
    with _fresh_postgres_database() as url:
        yield url
