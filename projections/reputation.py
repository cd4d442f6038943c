"""Reputation of a member as a sender: counts of outcomes and a 0-100 score.

score = floor(100 * (accepted + 1) / (accepted + ignored + 3 * unknown + 2) + 0.5)

(the fraction rounded to the nearest whole number, a half up, as most readers of the
formula round it: 12.5 is 13). A new member starts at 50. An acceptance moves the
score up, an ignore down, an IDK report three times as far down as an ignore;
withdrawn and pending invitations are neutral. The fraction grows with `accepted` and shrinks with
`unknown`, so more IDK reports never raise the score and more acceptances never
lower it.
"""

from __future__ import annotations

from dataclasses import dataclass

SCORE_FORMULA = "floor(100 * (accepted + 1) / (accepted + ignored + 3 * unknown + 2) + 0.5)"


@dataclass(slots=True)
class Reputation:
    member: str
    sent: int = 0
    accepted: int = 0
    ignored: int = 0
    unknown: int = 0
    withdrawn: int = 0

    @property
    def pending(self) -> int:
        return self.sent - self.accepted - self.ignored - self.unknown - self.withdrawn

    @property
    def acceptance_rate(self) -> float | None:
        responded = self.accepted + self.ignored + self.unknown
        return round(self.accepted / responded, 4) if responded else None

    @property
    def score(self) -> int:
        return score(self.accepted, self.ignored, self.unknown)

    def as_row(self) -> tuple[str, int, int, int, int, int]:
        return (self.member, self.sent, self.accepted, self.ignored, self.unknown, self.withdrawn)


def score(accepted: int, ignored: int, unknown: int) -> int:
    """SCORE_FORMULA in whole numbers: exact for any counts, a half rounded up."""
    weight = accepted + ignored + 3 * unknown + 2
    return (200 * (accepted + 1) + weight) // (2 * weight)
