"""Moments: how invledger reads, stores and prints times. Standard library only.

Stored as integer microseconds since the epoch (UTC): exact, and ordered like
the moments they name. Printed as ISO 8601 in UTC with `Z`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Times outside these years are refused: the rules add windows and suspensions of
# years to a time, which must stay a representable date.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "time is out of range (years 1900 to 2999 in UTC)"
# The one spelling of a time that invledger reads, on the command line and in an event
# line alike: ISO 8601's extended format as RFC 3339 profiles it (`T` or `t`, `Z` or `z`),
# the seconds optional, and a zone. ISO's other spellings (week dates, ordinal dates, the
# basic format without separators) are refused. Digits past the microsecond are read only
# when they are zeros: dropping others would move the time without a word.
# [0-9], not \d: Python's \d takes any Unicode digit.
_DATE_AND_TIME = (
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6}0*)?)?"
)
_ZONE = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
TIME_FORM = "YYYY-MM-DDTHH:MM[:SS[.ffffff]] with a zone (Z or ±HH:MM)"
_TIME = re.compile(_DATE_AND_TIME + _ZONE)
_ZONELESS = re.compile(_DATE_AND_TIME)
_LONG_FRACTION = re.compile(r":[0-9]{2}\.[0-9]{6}([0-9]+)")
_US = timedelta(microseconds=1)
_ZERO = timedelta(0)
_EPOCH_DAY = EPOCH.toordinal()
_FIXED_ZONES = (timezone,)
# The zone object of the latest time read in UTC (pydantic gives every such time one
# and the same): a time in it needs no offset looked up. Those met are kept (16 at
# most), so that no other object can take the identity of one of them.
_utc_zones: list[object] = [UTC]


def to_us(moment: datetime) -> int:
    """A zoned time as integer microseconds since the epoch."""
    if moment.tzinfo is _utc_zones[-1]:
        # From its fields, in a third of the time of subtracting EPOCH: an event's time
        # is in pydantic's UTC zone, another object, whose offset that would look up.
        days = moment.toordinal() - _EPOCH_DAY
        seconds = days * 86_400 + moment.hour * 3_600 + moment.minute * 60 + moment.second
        return seconds * 1_000_000 + moment.microsecond
    return (moment - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with `Z`, fractional seconds only when they are not zero, then
    all six digits: spelt as the event lines spell it (`export`, `events --json`), so
    an answer's time matches its event's time as text."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def parse_moment(text: str) -> datetime:
    """A time as a person or a file writes it (TIME_FORM), in UTC, in the supported years.

    Raises ValueError with a reason a person can act on. The time of an event line is
    held to this function too (`ledger.events.parse`): one spelling on every path.
    """
    if not _TIME.fullmatch(text):
        raise ValueError(_misspelt(text))
    try:
        # Python 3.11 reads `Z` but not `z`; digits past the sixth are zeros by now.
        moment = datetime.fromisoformat(text[:-1] + "Z" if text[-1] == "z" else text)
    except ValueError as error:  # a day the month does not have
        raise ValueError(f"{text!r} is not a valid date ({error})") from None
    return in_utc(moment)


def is_time_text(text: str) -> bool:
    """Whether a text is spelt as parse_moment reads times (its date may still not exist)."""
    return _TIME.fullmatch(text) is not None


def _misspelt(text: str) -> str:
    """Why a text is not a time invledger reads."""
    if _ZONELESS.fullmatch(text):
        return f"{text!r} has no time zone"
    extra = _LONG_FRACTION.search(text)
    if extra and _TIME.fullmatch(text[: extra.start(1)] + text[extra.end(1) :]):
        return (
            f"{text!r} has more than 6 fractional digits (times are kept to the microsecond; "
            "digits past it must be zeros)"
        )
    return f"{text!r} is not a time of the form {TIME_FORM}"


def in_utc(moment: datetime) -> datetime:
    """A zoned time in UTC, within the supported years, else ValueError."""
    # A time already in UTC (the common case) is kept: converting costs on every import line.
    zone = moment.tzinfo
    if zone is not _utc_zones[-1]:
        if moment.utcoffset() != _ZERO:
            try:
                moment = moment.astimezone(UTC)
            except OverflowError:
                raise ValueError(OUT_OF_RANGE) from None
        elif len(_utc_zones) < 16 and (
            type(zone) in _FIXED_ZONES or type(zone).__module__ == "pydantic_core._pydantic_core"
        ):
            _utc_zones.append(zone)  # a zone of one fixed offset, and that is zero
    # In UTC, EARLIEST <= moment < LATEST is a test of the year (comparing aware
    # datetimes costs ten times more, on every import line).
    if not EARLIEST.year <= moment.year < LATEST.year:
        raise ValueError(OUT_OF_RANGE)
    return moment
