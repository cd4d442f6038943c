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

    # the last line given: the import stops at it, so the rest is not read
    assert lines[0] == b"first\n" and len(lines) == 2
    assert file.tell() <= len(b"first\n") + LIMIT
    try:
        parse_and_encode(lines[1].rstrip(b"\r\n"))
    except BadInput as error:
        assert str(error) == f"line is longer than {MAX_LINE_BYTES} bytes"
    else:
        raise AssertionError("a line too long was not refused")
    assert file.longest <= LIMIT


def test_an_endless_line_is_refused_at_once() -> None:
    class Endless(io.RawIOBase):
        """`/dev/zero` of 'y's (ending after 200 lines' worth, should it be read on)."""

        handed = 0

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            if self.handed > 200 * LIMIT:
                return 0
            buffer[:] = b"y" * len(buffer)
            self.handed += len(buffer)
            return len(buffer)

        def readable(self) -> bool:
            return True

    source = Endless()
    lines = _bounded_lines(io.BufferedReader(source))  # type: ignore[type-var]

    assert len(next(lines)) > MAX_LINE_BYTES
    assert next(lines, None) is None
    assert source.handed < 2 * LIMIT  # refused on its first piece


def test_blank_lines_before_the_first_event_are_counted_not_held() -> None:
    from cli.bulk import _Leading

    lines = iter([b"\xef\xbb\xbf\n", *([b" \t\r\n"] * 100_000), b'{"id": 1}\n', b"next\n"])

    leading = _Leading(lines)

    assert leading.blanks == 100_000
    given = list(leading)
    assert given == [b"\xef\xbb\xbf\n", *([b"\n"] * 100_000), b'{"id": 1}\n'] == list(leading)
    assert next(lines) == b"next\n"  # read no further than the first event


def test_a_line_too_long_of_blanks_is_a_blank_line() -> None:
    data = b" " * (3 * LIMIT) + b"\n" + b"next"

    assert list(_bounded_lines(io.BytesIO(data))) == [b"\n", b"next"]


def test_a_line_too_long_at_the_end_of_a_file_without_a_newline() -> None:
    lines = list(_bounded_lines(io.BytesIO(b"ok\n" + b"z" * (2 * LIMIT))))

    assert len(lines) == 2 and len(lines[1]) > MAX_LINE_BYTES and lines[1].strip()
