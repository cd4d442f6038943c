"""The facts of the ledger: one pydantic model per event type, the JSONL format, time.

Validation happens here, once, at the edge: handles and ids, free text without
control characters, times with a zone (stored in UTC). `encode` gives the
canonical JSON of an event: the stored form, the export form, and what
idempotent import compares.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

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

from ledger.errors import BadInput
from ledger.moments import format_time, in_utc
from ledger.policy_input import PolicyChange

__all__ = ["format_time"]  # re-exported: part of the event format

# No whitespace, no C0/C1 control characters: a handle is safe to print anywhere.
Handle = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f\x7f-\x9f]+$")
]
# Free text keeps newline and tab, nothing else below 0x20 and no C1 controls:
# no terminal escape sequence can ever be stored.
_TEXT_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
Message = Annotated[str, StringConstraints(max_length=300, pattern=_TEXT_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=4000, pattern=_TEXT_PATTERN)]


def _email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email  # only sends carry an email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address: {error}") from None
    return value


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
    statement: Text


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
TOPIC_PREFIX = "invledger:"
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
    if len(line) > MAX_LINE_BYTES:
        raise BadInput(f"line is longer than {MAX_LINE_BYTES} bytes")
    try:
        return _adapter().validate_json(line)
    except ValidationError as error:
        raise BadInput(_not_utf8(line) or describe(error)) from None


def _not_utf8(line: bytes | str) -> str | None:
    """Why a line that failed to parse is not UTF-8 text, if it is not."""
    if isinstance(line, str):
        return None
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 text (byte {error.start + 1} of the line)"
    return None


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
        return f"not valid JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
    if kind == "union_tag_invalid":
        return f"unknown event type {first['input']['type']!r}"[:200]
    if kind in ("union_tag_not_found", "dict_type", "model_type") and not where:
        return "not a JSON object with a 'type' field"
    if kind == "missing":
        return f"missing field '{where}'"
    if kind == "extra_forbidden":
        return f"unknown field '{where}'"
    if kind == "string_pattern_mismatch":
        if where.rsplit(".", 1)[-1] in ("message", "statement", "note"):
            return f"field '{where}' contains control characters"
        return f"field '{where}' contains whitespace or control characters"
    message = first["msg"].removeprefix("Value error, ")
    return f"field '{where}': {message}" if where else message


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in EVENT_TYPES


def encode(event: _Event) -> bytes:
    """The canonical JSON of an event: field order fixed, no nulls, UTC times."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=True)


def decode(state: bytes) -> Event:
    """A stored event back to its model (stored events were validated when appended)."""
    return _adapter().validate_json(state)


def topic(event_type: str) -> str:
    return TOPIC_PREFIX + event_type
