"""Moments: how invledger reads, stores and prints times. Standard library only.

Stored as integer microseconds since the epoch (UTC): exact, and ordered like
the moments they name. Printed as ISO 8601 in UTC with `Z`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Times outside these years are refused: the rules add windows and suspensions of
# years to a time, which must stay a representable date.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "time is out of range (years 1900 to 2999 in UTC)"
_US = timedelta(microseconds=1)
_ZERO = timedelta(0)


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with `Z`, fractional seconds only when they are not zero."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_moment(text: str) -> datetime:
    """A time given on the command line: ISO 8601 with a zone, in the supported years.

    Raises ValueError with a reason a person can act on.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone")
    return in_utc(moment)


def in_utc(moment: datetime) -> datetime:
    """A zoned time in UTC, within the supported years, else ValueError."""
    # A time already in UTC (the common case) is kept: converting costs on every import line.
    if moment.utcoffset() != _ZERO:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise ValueError(OUT_OF_RANGE) from None
    # In UTC, EARLIEST <= moment < LATEST is a test of the year (comparing aware
    # datetimes costs ten times more, on every import line).
    if not EARLIEST.year <= moment.year < LATEST.year:
        raise ValueError(OUT_OF_RANGE)
    return moment
