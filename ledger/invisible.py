"""Characters that print nothing, or blank space, though Unicode does not class them as
format characters (Cf) or whitespace: in a handle they would make two handles that look
the same. Kept apart from the event models so that the command line, which checks
handles without loading pydantic, refuses the same characters."""

from __future__ import annotations

import re

# As the inside of a regex character class, for pydantic's Rust engine and Python's `re`.
INVISIBLE_IN_HANDLES = (
    "\u115f\u1160\u3164\uffa0"  # the Hangul fillers (letters that print as blank space)
    "\u2800"  # the braille blank
    "\u034f"  # the combining grapheme joiner
    "\u17b4\u17b5"  # the Khmer inherent vowels, which print nothing
    "\u180b-\u180d\u180f"  # the Mongolian free variation selectors
    "\ufe00-\ufe0f\U000e0100-\U000e01ef"  # the variation selectors
)
_INVISIBLE = re.compile(f"[{INVISIBLE_IN_HANDLES}]")


def first_invisible(text: str) -> str | None:
    """The first character of `text` that INVISIBLE_IN_HANDLES names, or None."""
    found = _INVISIBLE.search(text)
    return found.group() if found else None
