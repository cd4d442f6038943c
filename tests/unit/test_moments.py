"""Times as microseconds: the shortcut for times in a remembered UTC zone gives what
subtracting the epoch gives, and no zone whose offset varies is ever remembered."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from ledger import events as ev
from ledger import moments
from ledger.moments import EPOCH, in_utc, to_us


def _by_subtraction(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@pytest.fixture(autouse=True)
def _fresh_zones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moments, "_utc_zones", [UTC])


def test_event_times_in_pydantics_zone_take_the_shortcut_and_give_the_same_microseconds() -> None:
    rng = random.Random(3)
    # Given event lines at random times of the supported years
    times = [
        EPOCH
        + timedelta(microseconds=rng.randrange(-2_208_988_800, 32_503_680_000) * 10**6)
        + timedelta(microseconds=rng.randrange(10**6))
        for _ in range(2000)
    ]
    times += [datetime(1900, 1, 1, tzinfo=UTC), datetime(2999, 12, 31, 23, 59, 59, 999999, UTC)]
    events = [
        ev.parse(
            f'{{"id":"e-{i}","type":"invitation_accepted","at":"{t.isoformat()}",'
            f'"invitation":"i"}}'.encode()
        )
        for i, t in enumerate(times)
    ]
    # When their microseconds are taken, then they are the subtraction's, and exact
    assert moments._utc_zones[-1] is events[0].at.tzinfo
    assert [to_us(e.at) for e in events] == [_by_subtraction(t) for t in times]
    assert [to_us(e.at) for e in events] == [_by_subtraction(e.at) for e in events]


class _London(tzinfo):
    """UTC in winter, an hour ahead from April to September (no tz database needed)."""

    def utcoffset(self, moment: datetime | None) -> timedelta:
        summer = moment is not None and 4 <= moment.month <= 9
        return timedelta(hours=1) if summer else timedelta(0)

    def dst(self, moment: datetime | None) -> timedelta:
        return self.utcoffset(moment)


def test_a_zone_whose_offset_varies_is_not_remembered_even_when_it_is_zero() -> None:
    london = _London()
    winter = datetime(2025, 1, 15, 12, 0, tzinfo=london)  # offset 0
    summer = datetime(2025, 7, 15, 12, 0, tzinfo=london)  # offset +1 h
    in_utc(winter)
    assert london not in moments._utc_zones
    assert to_us(summer) == _by_subtraction(summer)
    assert to_us(summer) == to_us(datetime(2025, 7, 15, 11, 0, tzinfo=UTC))


def test_times_at_other_offsets_are_turned_to_utc_and_counted_from_the_epoch() -> None:
    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2025, 3, 1, 2, 30, tzinfo=plus_two)
    turned = in_utc(moment)
    assert turned == moment and turned.utcoffset() == timedelta(0)
    assert plus_two not in moments._utc_zones
    assert to_us(moment) == to_us(turned) == _by_subtraction(moment)


def test_the_zones_remembered_stay_few() -> None:
    for hours in range(40):
        in_utc(datetime(2025, 1, 1, tzinfo=timezone(timedelta(0), f"zone {hours}")))
    assert len(moments._utc_zones) <= 16
