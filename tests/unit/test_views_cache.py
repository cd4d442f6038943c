"""The views' cache: which keys a batch still has to look up."""

from __future__ import annotations

from projections.views import missing


def test_keys_already_looked_up_are_not_asked_for_again() -> None:
    # None marks a key looked up and found absent: asking again would find nothing new.
    cache: dict[str, object | None] = {"inv-1": object(), "inv-2": None}

    wanted = missing({"inv-1", "inv-2", "inv-3"}, cache)

    assert wanted == {"inv-3"}


def test_pairs_are_looked_up_per_direction() -> None:
    cache: dict[tuple[str, str], object | None] = {("ann", "bob"): None}

    wanted = missing([("ann", "bob"), ("bob", "ann"), ("bob", "ann")], cache)

    assert wanted == {("bob", "ann")}
