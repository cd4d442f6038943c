"""The facts of the ledger: one pydantic model per event type, the JSONL format, time.

Validation happens here, once, at the edge: handles and ids, free text without
control characters, times with a zone (stored in UTC), no field given twice.
`encode` gives the canonical JSON of an event: the stored form, the export form,
and what idempotent import compares.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from ledger.errors import BadInput, UnreadableLog
from ledger.invisible import INVISIBLE_IN_HANDLES, first_invisible
from ledger.moments import TIME_FORM, format_time, in_utc, is_time_text, parse_moment
from ledger.policy_input import PolicyChange
from ledger.schema import TOPIC_PREFIX

__all__ = ["format_time"]  # re-exported: part of the event format

# No whitespace, no C0/C1 control characters, no invisible format characters (Unicode
# category Cf: zero-width space, byte order mark, bidirectional overrides...) and none of
# the other characters that print nothing or blank space (`ledger.invisible`): a handle
# is safe to print anywhere, and none of those characters can tell two handles apart.
# These patterns run in pydantic's Rust regex engine (`\p{Cf}` is its syntax; Python's
# `re` has no `\p`). Handles are compared as written: a letter composed and the same
# letter decomposed are two handles (normalizing would cost a Python call per handle on
# every import).
_HANDLE_PATTERN = rf"^[^\s\x00-\x1f\x7f-\x9f\p{{Cf}}{INVISIBLE_IN_HANDLES}]+$"
Handle = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_HANDLE_PATTERN)]
# Free text keeps newline and tab, nothing else below 0x20 and no C1 controls: no
# terminal escape sequence can ever be stored. Nor the bidirectional embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069): one of them can show an
# operator a note in another order than it was written, and the rest of the line
# after it too. The other format characters stay: zero-width joiners belong to emoji
# and to scripts such as Persian, and the direction marks (U+200E, U+200F) reorder nothing.
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_TEXT_PATTERN = rf"^[^\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_CONTROLS}]*$"
Message = Annotated[str, StringConstraints(max_length=300, pattern=_TEXT_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=4000, pattern=_TEXT_PATTERN)]


def _said(value: str) -> str:
    """An appeal's statement says something: support has nothing to review otherwise."""
    if not _printed(value):
        raise ValueError("an appeal's statement may not be empty")
    return value


def _printed(text: str) -> bool:
    """Does `text` hold a character that prints (not whitespace, Cf or invisible)?"""
    import unicodedata  # only an appeal's statement is read this closely

    return any(
        not char.isspace() and unicodedata.category(char) != "Cf" and not first_invisible(char)
        for char in text
    )


Statement = Annotated[Text, AfterValidator(_said)]


def _email(value: str) -> str:
    """`value` if email-validator finds it a valid address (no DNS lookup), else ValueError.

    Most of that check's time (30 us an address) goes on the domain, and an import's
    addresses share few domains. An address whose part before the `@` is plain ASCII
    words joined by dots (which the validator always takes), at a domain of ASCII
    letters, digits, hyphens and dots that it has taken before, and no longer than it
    allows, is valid without asking it again (`tests/unit/test_email_domains.py`
    holds the two to one verdict).
    """
    local, _, domain = value.partition("@")
    plain = _PLAIN_LOCAL.fullmatch(local) is not None
    if plain and domain in _VALID_DOMAINS and len(value) <= _ADDRESS_MAX:
        return value
    from email_validator import EmailNotValidError, validate_email  # only sends carry an email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address: {error}") from None
    # With a plain local part and a plain domain the address has one `@`, so the
    # validator judged this domain; and its normalizations keep an ASCII one's length.
    if plain and _PLAIN_DOMAIN.fullmatch(domain) and len(_VALID_DOMAINS) < _DOMAINS_KEPT:
        _VALID_DOMAINS.add(domain)
    return value


# Part of email-validator's dot-atom: none of the characters that quoting, a comment
# or a display name could involve.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ADDRESS_MAX = 254  # the validator's limit on a whole address
_DOMAINS_KEPT = 10_000
_VALID_DOMAINS: set[str] = set()


# A line's time is read by pydantic, which reads more spellings than the command line
# (a space for the `T`, `+0100`, a count of seconds...): `parse` refuses those.
UtcTime = Annotated[AwareDatetime, AfterValidator(in_utc)]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]


class _Event(BaseModel):
    # defer_build: a query command that never parses an event does not pay for the schema.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

    id: Handle
    type: str
    at: UtcTime


class InvitationSent(_Event):
    type: Literal["invitation_sent"] = "invitation_sent"
    invitation: Handle
    sender: Handle
    recipient: Handle
    message: Message | None = None
    recipient_email: Email | None = None


class InvitationAccepted(_Event):
    type: Literal["invitation_accepted"] = "invitation_accepted"
    invitation: Handle


class InvitationIgnored(_Event):
    type: Literal["invitation_ignored"] = "invitation_ignored"
    invitation: Handle


class InvitationMarkedUnknown(_Event):
    type: Literal["invitation_marked_unknown"] = "invitation_marked_unknown"
    invitation: Handle


class InvitationWithdrawn(_Event):
    type: Literal["invitation_withdrawn"] = "invitation_withdrawn"
    invitation: Handle


class AppealFiled(_Event):
    type: Literal["appeal_filed"] = "appeal_filed"
    appeal: Handle
    member: Handle
    statement: Statement


class AppealGranted(_Event):
    type: Literal["appeal_granted"] = "appeal_granted"
    appeal: Handle
    agent: Handle
    note: Text | None = None


class AppealDenied(_Event):
    type: Literal["appeal_denied"] = "appeal_denied"
    appeal: Handle
    agent: Handle
    note: Text | None = None


class PolicyChanged(_Event):
    type: Literal["policy_changed"] = "policy_changed"
    policy: PolicyChange


InvitationResponse: TypeAlias = (
    InvitationAccepted | InvitationIgnored | InvitationMarkedUnknown | InvitationWithdrawn
)
Event: TypeAlias = Annotated[
    InvitationSent
    | InvitationAccepted
    | InvitationIgnored
    | InvitationMarkedUnknown
    | InvitationWithdrawn
    | AppealFiled
    | AppealGranted
    | AppealDenied
    | PolicyChanged,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[str, ...] = (
    "invitation_sent",
    "invitation_accepted",
    "invitation_ignored",
    "invitation_marked_unknown",
    "invitation_withdrawn",
    "appeal_filed",
    "appeal_granted",
    "appeal_denied",
    "policy_changed",
)
_MODELS: dict[str, type[_Event]] = {
    model.model_fields["type"].default: model
    for model in (
        InvitationSent,
        InvitationAccepted,
        InvitationIgnored,
        InvitationMarkedUnknown,
        InvitationWithdrawn,
        AppealFiled,
        AppealGranted,
        AppealDenied,
        PolicyChanged,
    )
}
MAX_LINE_BYTES = 64 * 1024
# A UTF-8 byte order mark: some editors start a file with it. It is skipped there.
UTF8_BOM = b"\xef\xbb\xbf"

_adapters: list[TypeAdapter[Event]] = []


def _adapter() -> TypeAdapter[Event]:
    if not _adapters:
        _adapters.append(TypeAdapter(Event))
    return _adapters[0]


def parse(line: bytes | str) -> Event:
    """One JSONL line to an event, or BadInput with one readable reason."""
    return parse_and_encode(line)[0]


def parse_and_encode(line: bytes | str) -> tuple[Event, bytes]:
    """One JSONL line to an event and its canonical JSON (`encode`), or BadInput.

    A line that is its event's canonical JSON, as `export` writes it, is read at the
    cost of that comparison. Any other line is read a second time, by Python's JSON
    reader, for what pydantic lets pass: a key given twice (the last value would win
    unseen: `"sender":"alice",...,"sender":"mallory"`), a time in a spelling that the
    command line refuses.
    """
    if len(line) > MAX_LINE_BYTES:
        raise BadInput(f"line is longer than {MAX_LINE_BYTES} bytes")
    try:
        event = _adapter().validate_json(line)
    except ValidationError as error:
        raise BadInput(_not_utf8(line) or _joined(line) or describe(error)) from None
    canonical = encode(event)
    if canonical != line:
        _check_as_written(line)
    return event, canonical


def _check_as_written(line: bytes | str) -> None:
    """BadInput for a valid line that names a key twice or spells its time unlike TIME_FORM."""
    try:
        data = loads_once_each(line)
    except RepeatedKey as error:
        raise BadInput(str(error)) from None
    except ValueError:  # pydantic read the line: Python's reader is stricter only in corners
        return
    at = data.get("at") if isinstance(data, dict) else None
    if isinstance(at, str) and not is_time_text(at):
        raise BadInput(f"field 'at': {_time_problem(at)}")


class RepeatedKey(ValueError):
    """A JSON text names a key of one object twice; the message names it."""


def loads_once_each(text: bytes | str) -> Any:
    """JSON (an event line, a policy file) whose objects name each key once, else
    RepeatedKey naming the first repeat ('policy.version' when nested): with a key
    given twice the last value would win, unseen."""
    try:
        return json.loads(text, object_pairs_hook=_without_repeats)
    except _Repeat:
        raise RepeatedKey(f"field '{_repeated_key(text)}' is given twice") from None


class _Repeat(Exception):
    """Raised inside Python's JSON reader at an object that names a key twice."""


def _without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        raise _Repeat
    return data


class _Object(list[tuple[str, Any]]):
    """A JSON object as its key-value pairs, in order, a repeated key kept."""


def _repeated_key(line: bytes | str) -> str:
    """The first key that an object of the line names twice: 'policy.version' when nested."""
    return _first_repeat(json.loads(line, object_pairs_hook=_Object), "") or "?"


def _first_repeat(pairs: _Object, prefix: str) -> str | None:
    seen: set[str] = set()
    for key, value in pairs:
        if key in seen:
            return prefix + key
        seen.add(key)
        if isinstance(value, _Object) and (inner := _first_repeat(value, f"{prefix}{key}.")):
            return inner
    return None


def _not_utf8(line: bytes | str) -> str | None:
    """Why a line that failed to parse is not UTF-8 text, if it is not."""
    if isinstance(line, str):
        return None
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 text (byte {error.start + 1} of the line){_looks_like(line)}"
    return None


def _joined(line: bytes | str) -> str | None:
    """Why a line that starts with a byte order mark is refused: only a file's first line
    may (the import skips it there), so a file was likely joined to another."""
    if line.startswith(UTF8_BOM) if isinstance(line, bytes) else line.startswith("\ufeff"):
        return (
            "starts with a byte order mark (U+FEFF), which only a file's first line may have: "
            "were two files joined? remove it"
        )
    return None


def _looks_like(line: bytes) -> str:
    """A hint for a file that is not UTF-8 JSONL but something common, from its start."""
    if line.startswith(b"\x1f\x8b"):
        return ": a gzip file? decompress it first (gunzip -c FILE | invledger import -)"
    if line.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ": UTF-16 text? convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8 FILE)"
    return ""


def from_fields(data: dict[str, object]) -> Event:
    """An event from Python values (the CLI's write commands)."""
    try:
        return _adapter().validate_python(data, strict=False)
    except ValidationError as error:
        raise BadInput(describe(error)) from None


def describe(error: ValidationError) -> str:
    """The first problem of a validation error as one line a person can act on."""
    first = error.errors(include_url=False)[0]
    kind = first["type"]
    where = ".".join(str(part) for part in first["loc"] if not _is_union_tag(part))
    if kind == "json_invalid":
        # A line is one line of JSON: the parser's "line 1" says nothing.
        reason = (
            first["msg"].removeprefix("Invalid JSON: ").replace(" at line 1 column ", " at column ")
        )
        return f"not valid JSON ({reason})"
    if kind == "union_tag_invalid":
        given = first["input"]["type"]
        # A string as it reads in Python quotes; any other value as JSON writes it (null).
        shown = repr(given) if isinstance(given, str) else json.dumps(given, ensure_ascii=False)
        return f"unknown event type {shown}"[:200]
    if kind in ("union_tag_not_found", "dict_type", "model_type") and not where:
        return "not a JSON object with a 'type' field"
    if kind == "missing":
        return f"missing field '{where}'"
    if kind == "extra_forbidden":
        return f"unknown field '{where}'"
    if where == "at":
        return f"field 'at': {_time_problem(first['input'])}"
    if kind == "string_pattern_mismatch":
        return f"field '{where}' {_unprintable(where.rsplit('.', 1)[-1], first['input'])}"
    message = first["msg"].removeprefix("Value error, ")
    return f"field '{where}': {message}" if where else message


def _time_problem(value: object) -> str:
    """Why a line's `at` was refused, in the words the command line uses for `--at`."""
    if not isinstance(value, str):
        return f"not a time of the form {TIME_FORM}"
    try:
        parse_moment(value)
    except ValueError as error:
        return str(error)
    return "not a valid time"  # not reached: pydantic refuses no time that parse_moment reads


def _unprintable(field: str, value: object) -> str:
    """What a handle or a text holds that it may not: the end of a refusal's sentence."""
    import unicodedata  # only a refusal looks up a character's category

    text = value if isinstance(value, str) else ""
    if field in _FREE_TEXT:
        for char in text:
            if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
                return f"contains a bidirectional control character (U+{ord(char):04X})"
        return "contains control characters"
    for char in text:
        if unicodedata.category(char) == "Cf":
            return f"contains an invisible format character (U+{ord(char):04X})"
        if first_invisible(char):
            return f"contains a character that prints nothing or blank (U+{ord(char):04X})"
    return "contains whitespace or control characters"


_FREE_TEXT = ("message", "statement", "note")


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in EVENT_TYPES


def encode(event: _Event) -> bytes:
    """The canonical JSON of an event: field order fixed, no nulls, UTC times."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=True)


def stored_bytes(state: bytes | bytearray | memoryview | str) -> bytes:
    """A stored event's state as bytes: the library writes bytes, while another tool
    may have written text (`sqlite3`'s `INSERT ... VALUES ('{...}')` stores TEXT)."""
    return state.encode("utf-8", "surrogateescape") if isinstance(state, str) else bytes(state)


def decode(state: bytes) -> Event:
    """A stored event back to its model (stored events were validated when appended)."""
    try:
        return _adapter().validate_json(state)
    except ValidationError:
        return _as_stored(state)


class _Unlike(Exception):
    """A stored row unlike any event invledger writes (its reason)."""


def _as_stored(state: bytes) -> Event:
    """A stored event that today's input rules refuse, read as it was stored.

    It was valid when appended, before a rule was tightened (a format character in a
    handle, a bidirectional control in a text); the log is never rewritten, so the
    event is read as it is rather than making the ledger unreadable. Only its shape is
    checked here (each field there and of its type): a row without it is not one of
    invledger's events but another tool's, and UnreadableLog says so.
    """
    try:
        data = json.loads(state)
        if not isinstance(data, dict):
            raise _Unlike("not a JSON object")
        kind = data.get("type")
        model = _MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise _Unlike(f"no event type {kind!r}" if kind is not None else "no 'type'")
        if not isinstance(data.get("at"), str):
            raise _Unlike("no time 'at'")
        data["at"] = datetime.fromisoformat(data["at"])
        if data["at"].utcoffset() is None:
            raise _Unlike("a time without a zone")
        if "policy" in data:
            try:
                data["policy"] = PolicyChange.model_validate(data["policy"])
            except ValidationError as error:
                # Its bounds keep the rules' arithmetic in range: a change past them is
                # not read, even one stored before a bound was set.
                raise _Unlike(f"a policy out of today's bounds: {describe(error)}") from None
        for name, field in model.model_fields.items():
            value = data.get(name)
            if value is None and field.is_required():
                raise _Unlike(f"no {name!r}")
            if value is not None and name not in _NOT_TEXT and not isinstance(value, str):
                raise _Unlike(f"{name!r} is not text")
        return cast("Event", model.model_construct(**data))
    except _Unlike as error:
        reason = str(error)
    except json.JSONDecodeError:
        reason = "not JSON"
    except RecursionError:
        reason = "JSON nested too deeply"
    except (ValueError, TypeError) as error:  # a time fromisoformat cannot read, a policy
        reason = str(error).splitlines()[0] if type(error) is ValueError else type(error).__name__
    raise not_ours(state, reason)


def not_ours(state: bytes, reason: str) -> UnreadableLog:
    """The error for a stored event that invledger did not write, `reason` saying why."""
    shown = stored_bytes(state)[:80].decode("utf-8", "replace")
    return UnreadableLog(
        f"the log holds a stored event that is not one of invledger's ({reason}, reading "
        f"{shown!r}): another tool wrote it into stored_events; remove that row to use the "
        "ledger again, or give invledger a ledger of its own"
    )


_NOT_TEXT = ("at", "policy")


def topic(event_type: str) -> str:
    return TOPIC_PREFIX + event_type
