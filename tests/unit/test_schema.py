"""Which missing table a storage error names, and whether `replay` can bring it back."""

import pytest

from ledger.schema import missing_view_table


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ("no such table: inv_pairs", "inv_pairs"),
        ("no such table: main.inv_standing", "inv_standing"),
        ('relation "inv_reputation" does not exist LINE 1: SELECT * FROM ...', "inv_reputation"),
        ('relation "inv_tracking" does not exist', "inv_tracking"),
    ],
)
def test_a_missing_view_table_is_named(text: str, table: str) -> None:
    assert missing_view_table(text) == table


@pytest.mark.parametrize(
    "text",
    [
        "no such table: stored_events",  # the log: replay cannot bring it back
        'relation "inv_meta" does not exist',
        "no such table: inv_pairs_old",
        "database is locked",
    ],
)
def test_no_other_error_is_taken_for_a_missing_view_table(text: str) -> None:
    assert missing_view_table(text) is None
