"""Tables line up on a terminal whatever script the members' handles are written in."""

from __future__ import annotations

from cli.render import table, width


def test_a_wide_character_takes_two_columns_and_a_combining_mark_none() -> None:
    assert width("alice") == 5
    assert width("山田") == 4
    assert width("e\u0301") == 1  # e and a combining acute accent: one column, é
    assert width("") == 0


def test_a_column_after_wide_handles_starts_at_one_column_on_every_line() -> None:
    # given members whose handles are Latin, Japanese and decomposed accented letters
    rows = [["alice", "suspended"], ["山田太郎", "warned"], ["jose\u0301", "email-required"]]

    # when they are laid out as a table
    lines = table(["member", "standing"], rows).splitlines()

    # then the second column starts at the same terminal column on every line
    starts = {
        width(line[: line.index(value)])
        for line, value in zip(
            [lines[0], *lines[2:]], ["standing", "suspended", "warned", "email-required"]
        )
    }
    assert starts == {width("山田太郎") + 2}
    assert lines[1] == "-" * width("山田太郎") + "  " + "-" * len("email-required")
