"""What a message may show of a PostgreSQL URL: never its password, and all else as it is."""

from __future__ import annotations

import pytest

from ledger.store import masked, raw_slash_in_user_part, shown_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:hunter2@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db?password=hunter2&sslmode=require",
         "postgresql://u@h/db?password=***&sslmode=require"),
        ("postgresql://u:hun@ter2@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:hun/ter2@h/db", "postgresql://u:***@h/db"),
        ("postgresql://h:5432/led@ger", "postgresql://h:5432/led@ger"),
        ("postgresql://[::1]:5432/led@ger", "postgresql://[::1]:5432/led@ger"),
        ("postgresql:///db?host=/run/postgresql", "postgresql:///db?host=/run/postgresql"),
        ("postgresql://u:@h/db", "postgresql://u:***@h/db"),
    ],
)  # fmt: skip
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_only_a_slash_before_the_at_of_a_user_part_is_taken_for_a_password_s() -> None:
    assert raw_slash_in_user_part("postgresql://u:hun/ter2@h/db")
    assert not raw_slash_in_user_part("postgresql://h:5432/led@ger")
    assert not raw_slash_in_user_part("postgresql://u:hunter2@h/led@ger")


def test_a_password_libpq_quotes_is_masked_and_nothing_else() -> None:
    url = "postgresql://server:server%ZZ@127.0.0.1:1/db"
    said = 'invalid percent-encoded token: "server%ZZ"; is the server running on 127.0.0.1?'

    assert masked(said, url) == (
        'invalid percent-encoded token: "***"; is the server running on 127.0.0.1?'
    )
    short = "postgresql://u:1@127.0.0.1:1/db"
    assert masked('connection to server at "127.0.0.1", port 1 failed', short) == (
        'connection to server at "127.0.0.1", port 1 failed'
    )
    assert masked(f"cannot use {short}", short) == "cannot use postgresql://u:***@127.0.0.1:1/db"
