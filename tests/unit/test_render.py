"""Tables line up on a terminal whatever script the members' handles are written in."""

from __future__ import annotations

from cli.render import table, width


def test_a_wide_character_takes_two_columns_and_a_combining_mark_none() -> None:
    assert width("alice") == 5
    assert width("山田") == 4
    assert width("e\u0301") == 1  # e and a combining acute accent: one column, é
    assert width("") == 0
    assert width("👍") == 2
    assert width("👍\U0001f3fd") == 2  # a thumbs up with a skin tone: one emoji
    assert width("\u1100\u1161\u11a8") == 2  # 각 written in jamo: one syllable


def test_a_column_after_wide_handles_starts_at_one_column_on_every_line() -> None:
    # given members whose handles are Latin, Japanese and decomposed accented letters
    rows = [["alice", "suspended"], ["山田太郎", "warned"], ["jose\u0301", "email-required"]]

    # when they are laid out as a table
    lines = table(["member", "standing"], rows).splitlines()

    # then each handle is padded to the 8 columns 山田太郎 takes, whatever its length
    assert lines == [
        "member    standing",
        "--------  --------------",
        "alice     suspended",
        "山田太郎  warned",
        "jose\u0301      email-required",
    ]
