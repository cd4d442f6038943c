"""The reputation score: SCORE_FORMULA exactly, a half rounded up, and its promises."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from projections.reputation import SCORE_FORMULA, score


def formula(accepted: int, ignored: int, unknown: int) -> Fraction:
    return Fraction(100 * (accepted + 1), accepted + ignored + 3 * unknown + 2)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((0, 0, 0), 50),  # a new member
        ((0, 6, 0), 13),  # 12.5: a half goes up
        ((1, 2, 1), 25),  # 200 / 8 exactly
        ((0, 0, 1), 20),  # 100 / 5
        ((2, 1, 0), 60),  # 300 / 5
        ((0, 1, 0), 33),  # 33.33...
        ((1, 0, 0), 67),  # 66.66...
    ],
)
def test_the_score_is_the_formula_rounded_half_up(
    counts: tuple[int, int, int], expected: int
) -> None:
    assert score(*counts) == expected


def test_the_score_matches_the_formula_it_shows_for_every_small_count() -> None:
    for accepted in range(40):
        for ignored in range(40):
            for unknown in range(40):
                exact = formula(accepted, ignored, unknown)
                assert score(accepted, ignored, unknown) == math.floor(exact + Fraction(1, 2))
    assert SCORE_FORMULA.startswith("floor(") and SCORE_FORMULA.endswith("+ 0.5)")


def test_more_reports_never_raise_it_and_more_acceptances_never_lower_it() -> None:
    for accepted in range(30):
        for ignored in range(30):
            for unknown in range(30):
                now = score(accepted, ignored, unknown)
                assert score(accepted, ignored, unknown + 1) <= now
                assert score(accepted + 1, ignored, unknown) >= now
                assert 0 <= now <= 100
