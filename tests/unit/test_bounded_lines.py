"""The import reads a file's lines without holding one longer than a line may be."""

from __future__ import annotations

import io

from cli.bulk import _bounded_lines
from ledger.events import MAX_LINE_BYTES, BadInput, parse_and_encode

LIMIT = MAX_LINE_BYTES + 3


class Reads(io.BytesIO):
    """A file that remembers the longest piece it handed out."""

    longest = 0

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        piece = super().readline(size)
        self.longest = max(self.longest, len(piece))
        return piece


def test_lines_of_any_allowed_length_pass_as_they_are() -> None:
    longest = b"x" * MAX_LINE_BYTES
    data = b"a\n" + longest + b"\r\n" + longest + b"\n" + b"\n" + b"last, with no newline"

    assert list(_bounded_lines(io.BytesIO(data))) == data.splitlines(keepends=True)


def test_a_line_too_long_stands_as_one_line_the_parser_refuses_and_is_never_held() -> None:
    data = b"first\n" + b"y" * (20 * LIMIT + 5) + b"\n" + b"third\n"
    file = Reads(data)

    lines = list(_bounded_lines(file))

    assert [lines[0], lines[2]] == [b"first\n", b"third\n"] and len(lines) == 3
    try:
        parse_and_encode(lines[1].rstrip(b"\r\n"))
    except BadInput as error:
        assert str(error) == f"line is longer than {MAX_LINE_BYTES} bytes"
    else:
        raise AssertionError("a line too long was not refused")
    assert file.longest <= LIMIT


def test_a_line_too_long_of_blanks_is_a_blank_line() -> None:
    data = b" " * (3 * LIMIT) + b"\n" + b"next"

    assert list(_bounded_lines(io.BytesIO(data))) == [b"\n", b"next"]


def test_a_line_too_long_at_the_end_of_a_file_without_a_newline() -> None:
    lines = list(_bounded_lines(io.BytesIO(b"ok\n" + b"z" * (2 * LIMIT))))

    assert len(lines) == 2 and len(lines[1]) > MAX_LINE_BYTES and lines[1].strip()
