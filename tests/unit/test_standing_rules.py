"""The standing rules, as given / when / then stories about one sender, alice."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from ledger.policy import DEFAULT_POLICY, MAX_WINDOW_DAYS, Policy
from projections.standing import (
    Episode,
    MemberStanding,
    Report,
    StandingView,
    advance,
    appealed,
    check_appeal,
    is_restriction,
    lifts_nothing,
    new_standing,
    on_appeal_filed,
    on_appeal_resolved,
    on_report,
    view,
)

START = datetime(2026, 1, 1, 12, tzinfo=UTC)


def day(n: float) -> datetime:
    """Day N of SPEC.md's worked example: 2026-01-01 + N days, noon UTC."""
    return START + timedelta(days=n)


class Alice:
    """A history of alice as a sender: reports and appeals in log order, positions growing."""

    def __init__(self, policy: Policy = DEFAULT_POLICY) -> None:
        self.policy = policy
        self.state = new_standing("alice")
        self.position = 0
        self.reported = 0

    def _next_position(self) -> int:
        self.position += 10  # positions may have gaps; only their order matters
        return self.position

    def idk(self, at: datetime) -> Report:
        self.reported += 1
        n = self.reported
        report = Report(
            event_id=f"idk-{n}",
            position=self._next_position(),
            at=at,
            invitation=f"inv-{n}",
            recipient=f"recipient-{n}",
        )
        on_report(self.state, report, self.policy)
        return report

    def idk_daily(self, first: int, last: int) -> list[Report]:
        return [self.idk(day(n)) for n in range(first, last + 1)]

    def levels_while_reported_daily(self, first: int, last: int) -> dict[int, str]:
        """The level right after each day's report (a view never looks back past the clock)."""
        levels: dict[int, str] = {}
        for n in range(first, last + 1):
            self.idk(day(n))
            levels[n] = self.at(day(n)).level
        return levels

    def appeal(self, at: datetime, appeal: str = "appeal-1") -> None:
        on_appeal_filed(
            self.state, appeal, at, self._next_position(), "I know them all", self.policy
        )

    def grant(self, at: datetime, appeal: str = "appeal-1") -> None:
        on_appeal_resolved(
            self.state, appeal, True, "agent-ana", "fair", at, self._next_position(), self.policy
        )

    def deny(self, at: datetime, appeal: str = "appeal-1") -> None:
        on_appeal_resolved(
            self.state, appeal, False, "agent-ana", None, at, self._next_position(), self.policy
        )

    def at(self, t: datetime) -> StandingView:
        return view(self.state, t, self.policy)

    @property
    def episodes(self) -> list[Episode]:
        return self.state.episodes


def ids(reports: tuple[Report, ...] | list[Report]) -> list[str]:
    return [report.event_id for report in reports]


# --- the worked example of SPEC.md ------------------------------------------------------


def alice_restricted_on_day_7() -> tuple[Alice, list[Report]]:
    alice = Alice()
    return alice, alice.idk_daily(1, 7)


def alice_pardoned_on_day_11() -> tuple[Alice, list[Report]]:
    alice, first = alice_restricted_on_day_7()
    alice.appeal(day(10))
    alice.grant(day(11))
    return alice, first


def alice_suspended_on_day_26() -> tuple[Alice, list[Report]]:
    alice, _ = alice_pardoned_on_day_11()
    return alice, alice.idk_daily(20, 26)


def test_worked_example_five_reports_warn_alice_on_day_5() -> None:
    # given seven recipients who do not know alice
    alice = Alice()
    # when one reports her each day from day 1 to day 5
    levels = alice.levels_while_reported_daily(1, 5)
    # then she is warned on day 5, and the warning names exactly those five reports
    assert levels == {1: "good", 2: "good", 3: "good", 4: "good", 5: "warned"}
    seen = alice.at(day(5))
    assert seen.level == "warned"
    assert seen.reports_counted == 5
    assert seen.episode is not None
    assert seen.episode.began_at == day(5)
    assert ids(seen.episode.causes) == ["idk-1", "idk-2", "idk-3", "idk-4", "idk-5"]


def test_worked_example_seven_reports_require_recipient_email_until_day_37() -> None:
    # given reports against alice on days 1 to 7
    alice, reports = alice_restricted_on_day_7()
    # when we look on day 7
    seen = alice.at(day(7))
    # then she must give a recipient email until day 37, because of all seven reports
    assert seen.level == "email_required"
    assert seen.until == day(37)
    assert seen.next_change == day(37)  # the seven reports are behind the clean slate
    warning, restriction = alice.episodes
    assert restriction.level == "email_required"
    assert restriction.began_at == day(7)
    assert restriction.began_position == reports[-1].position
    assert ids(restriction.causes) == ids(reports)
    assert restriction.rule == (
        "7 'I don't know this person' reports within 30 days reached restrict_at=7 "
        "(policy version 1): recipient email required for 30 days."
    )
    # and the warning of day 5 ended by escalation at that moment
    assert (warning.level, warning.ended_at, warning.ended_by) == ("warned", day(7), "escalation")
    # and the clean slate moved to the restricting report
    assert alice.state.clean_slate == reports[-1].position
    assert alice.at(day(7)).reports_counted == 0


def test_worked_example_a_granted_appeal_on_day_11_restores_good_standing() -> None:
    # given alice restricted on day 7
    alice, _ = alice_restricted_on_day_7()
    # when she appeals on day 10 and support grants it on day 11
    alice.appeal(day(10))
    assert alice.at(day(10)).open_appeal is not None
    alice.grant(day(11))
    # then she is good again, the restriction lifted by the appeal, the slate clean
    seen = alice.at(day(11))
    assert seen.level == "good"
    assert seen.episode is None
    assert seen.open_appeal is None
    restriction = alice.episodes[-1]
    assert (restriction.ended_at, restriction.ended_by) == (day(11), "appeal")
    assert alice.state.clean_slate == alice.position  # the grant's position
    assert alice.state.appeals[0].outcome == "granted"
    assert alice.state.appeals[0].resolved_at == day(11)


def test_worked_example_a_repeat_offence_on_day_26_suspends_alice_until_day_33() -> None:
    # given alice pardoned on day 11
    alice, _ = alice_pardoned_on_day_11()
    # when seven new recipients report her on days 20 to 26
    levels = alice.levels_while_reported_daily(20, 26)
    # then she is warned on day 24 (and not before), and suspended on day 26 until day 33
    assert [levels[n] for n in range(20, 27)] == ["good"] * 4 + ["warned"] * 2 + ["suspended"]
    seen = alice.at(day(26))
    assert (seen.level, seen.until) == ("suspended", day(33))
    suspension = alice.episodes[-1]
    assert ids(suspension.causes) == [f"idk-{n}" for n in range(8, 15)]  # days 20 to 26
    assert "repeat offence" in suspension.rule
    assert "1 earlier restriction that began within recidive_days=180" in suspension.rule
    assert "suspended for 7 days" in suspension.rule
    warning = alice.episodes[-2]
    assert (warning.level, warning.began_at) == ("warned", day(24))
    assert (warning.ended_at, warning.ended_by) == (day(26), "escalation")


def test_worked_example_the_suspension_expires_into_good_standing_on_day_33() -> None:
    # given alice suspended on day 26
    alice, _ = alice_suspended_on_day_26()
    # when day 33 comes
    assert alice.at(day(33) - timedelta(seconds=1)).level == "suspended"
    advance(alice.state, day(33), alice.policy)
    # then the suspension has expired and she is good
    assert alice.at(day(33)).level == "good"
    suspension = alice.episodes[-1]
    assert (suspension.ended_at, suspension.ended_by) == (day(33), "expiry")


def test_worked_example_a_third_offence_on_day_46_suspends_for_14_days() -> None:
    # given alice's suspension of day 26 expired on day 33
    alice, _ = alice_suspended_on_day_26()
    # when seven more recipients report her on days 40 to 46
    reports = alice.idk_daily(40, 46)
    # then two earlier restrictions in the recidive window double the suspension
    seen = alice.at(day(46))
    assert (seen.level, seen.until) == ("suspended", day(60))
    assert ids(alice.episodes[-1].causes) == ids(reports)
    assert "2 earlier restrictions" in alice.episodes[-1].rule
    levels = [(e.level, e.began_at, e.ended_by) for e in alice.episodes]
    assert levels == [
        ("warned", day(5), "escalation"),
        ("email_required", day(7), "appeal"),
        ("warned", day(24), "escalation"),
        ("suspended", day(26), "expiry"),
        ("warned", day(44), "escalation"),
        ("suspended", day(46), None),
    ]


# --- thresholds and the window ----------------------------------------------------------


def test_exactly_warn_at_reports_warn_and_one_fewer_does_not() -> None:
    # given four reports against alice
    alice = Alice()
    alice.idk_daily(1, 4)
    assert alice.at(day(4)).level == "good"
    # when the fifth arrives
    alice.idk(day(5))
    # then she is warned
    assert alice.at(day(5)).level == "warned"


def test_exactly_restrict_at_reports_restrict_and_one_fewer_only_warns() -> None:
    # given six reports against alice
    alice = Alice()
    alice.idk_daily(1, 6)
    assert alice.at(day(6)).level == "warned"
    # when the seventh arrives
    alice.idk(day(7))
    # then she is restricted
    assert alice.at(day(7)).level == "email_required"


def test_a_report_exactly_window_days_old_does_not_count() -> None:
    # given a report on day 0 and four more on days 27 to 29 and day 30 at noon
    alice = Alice()
    alice.idk(day(0))
    alice.idk_daily(27, 30)
    # then on day 30 the day-0 report is exactly 30 days old and no longer counts
    seen = alice.at(day(30))
    assert (seen.level, seen.reports_counted) == ("good", 4)


def test_a_report_one_second_short_of_window_days_old_still_counts() -> None:
    # given a report on day 0 and four more, the last a second before day 30 noon
    alice = Alice()
    alice.idk(day(0))
    alice.idk_daily(27, 29)
    alice.idk(day(30) - timedelta(seconds=1))
    # then all five count and alice is warned
    seen = alice.at(day(30) - timedelta(seconds=1))
    assert (seen.level, seen.reports_counted) == ("warned", 5)


def test_a_warning_ends_by_window_the_moment_its_oldest_needed_report_leaves() -> None:
    # given alice warned by reports on days 1 to 5
    alice = Alice()
    alice.idk_daily(1, 5)
    assert alice.at(day(5)).next_change == day(31)
    # when time passes to day 40
    advance(alice.state, day(40), alice.policy)
    # then the warning ended on day 31 at noon, when the day-1 report left the window
    warning = alice.episodes[-1]
    assert (warning.ended_at, warning.ended_by) == (day(31), "window")
    assert alice.at(day(40)).level == "good"
    assert alice.at(day(40)).reports_counted == 0


def test_view_sees_a_warning_end_by_window_exactly_at_the_exit() -> None:
    # given alice warned by reports on days 1 to 5
    alice = Alice()
    alice.idk_daily(1, 5)
    # then she is warned one second before day 31 noon, and good at day 31 noon
    assert alice.at(day(31) - timedelta(seconds=1)).level == "warned"
    assert alice.at(day(31)).level == "good"
    assert alice.at(day(31)).reports_counted == 4


def test_a_later_report_extends_the_warning_and_keeps_its_causes() -> None:
    # given alice warned by reports on days 1 to 5
    alice = Alice()
    first_five = alice.idk_daily(1, 5)
    # when a sixth report arrives on day 10
    alice.idk(day(10))
    advance(alice.state, day(60), alice.policy)
    # then one warning lasts until the day-2 report leaves the window, on day 32
    (warning,) = alice.episodes
    assert (warning.ended_at, warning.ended_by) == (day(32), "window")
    assert ids(warning.causes) == ids(first_five)


def test_a_report_at_the_very_moment_one_leaves_the_window_keeps_the_warning_open() -> None:
    # given alice warned by reports on days 1 to 5
    alice = Alice()
    first_five = alice.idk_daily(1, 5)
    # when a report arrives on day 31 at noon, the very moment the day-1 report leaves
    alice.idk(day(31))
    advance(alice.state, day(60), alice.policy)
    # then the count never fell below five: one warning, with its first causes, lasts
    # until the day-2 report leaves on day 32
    (warning,) = alice.episodes
    assert warning.began_at == day(5)
    assert (warning.ended_at, warning.ended_by) == (day(32), "window")
    assert ids(warning.causes) == ids(first_five)


def test_a_report_a_moment_after_the_warning_left_the_window_opens_a_new_one() -> None:
    # given alice warned by reports on days 1 to 5
    alice = Alice()
    alice.idk_daily(1, 5)
    # when a report arrives one second after the day-1 report left the window
    report = alice.idk(day(31) + timedelta(seconds=1))
    # then the first warning ended then, and a new one began with the new count
    first, second = alice.episodes
    assert (first.ended_at, first.ended_by) == (day(31), "window")
    assert second.began_at == day(31) + timedelta(seconds=1)
    assert ids(second.causes) == ["idk-2", "idk-3", "idk-4", "idk-5", report.event_id]


# --- restrictions: escalation, suspension, expiry ---------------------------------------


def test_reports_while_email_required_escalate_to_a_suspension() -> None:
    # given alice must give recipient emails since day 7
    alice, _ = alice_restricted_on_day_7()
    # when seven more recipients report her on days 8 to 14
    levels = alice.levels_while_reported_daily(8, 14)
    # then no warning opens meanwhile, and on day 14 the email restriction escalates
    assert [levels[n] for n in range(8, 15)] == ["email_required"] * 6 + ["suspended"]
    email, suspension = alice.episodes[-2:]
    assert (email.ended_at, email.ended_by) == (day(14), "escalation")
    assert (suspension.level, suspension.began_at, suspension.until) == (
        "suspended",
        day(14),
        day(21),  # k = 1: the email restriction itself is the earlier offence
    )
    assert ids(suspension.causes) == [f"idk-{n}" for n in range(8, 15)]
    assert suspension.rule.startswith("While recipient email was required")
    assert [e.level for e in alice.episodes] == ["warned", "email_required", "suspended"]
    assert alice.state.clean_slate == alice.position  # the day-14 report


def test_an_open_appeal_follows_the_restriction_into_its_escalation() -> None:
    # given alice restricted on day 7 and appealing on day 9
    alice, _ = alice_restricted_on_day_7()
    alice.appeal(day(9))
    # when the restriction escalates on day 14 and the appeal is granted on day 15
    alice.idk_daily(8, 14)
    alice.grant(day(15))
    # then the suspension is lifted by the appeal
    suspension = alice.episodes[-1]
    assert (suspension.ended_at, suspension.ended_by) == (day(15), "appeal")
    assert alice.at(day(15)).level == "good"


def test_an_escalation_suspension_counts_as_an_earlier_offence() -> None:
    # given alice restricted on day 7 and escalated to a suspension on day 14 until day 21
    alice, _ = alice_restricted_on_day_7()
    alice.idk_daily(8, 14)
    # when seven more recipients report her on days 22 to 28
    alice.idk_daily(22, 28)
    # then both earlier restrictions count: the suspension lasts 14 days
    seen = alice.at(day(28))
    assert (seen.level, seen.until) == ("suspended", day(42))
    assert "2 earlier restrictions" in alice.episodes[-1].rule


def alice_suspended_on_day_16() -> Alice:
    alice = Alice()
    alice.idk_daily(1, 7)  # email_required on day 7
    alice.appeal(day(8))
    alice.grant(day(9))
    alice.idk_daily(10, 16)  # repeat offence: suspended until day 23
    return alice


def test_reports_during_a_suspension_count_but_impose_nothing() -> None:
    # given alice suspended from day 16 until day 23
    alice = alice_suspended_on_day_16()
    episodes_before = len(alice.episodes)
    # when seven recipients report her on days 17 to 22
    alice.idk_daily(17, 22)
    # then she stays suspended with the same end, no warning, and the reports count
    seen = alice.at(day(22))
    assert (seen.level, seen.until, seen.reports_counted) == ("suspended", day(23), 6)
    assert len(alice.episodes) == episodes_before


def test_a_warning_opens_at_the_moment_a_suspension_expires() -> None:
    # given alice suspended until day 23, reported five times during the suspension
    alice = alice_suspended_on_day_16()
    during = alice.idk_daily(17, 21)
    last_position = alice.position
    # when the suspension expires on day 23
    advance(alice.state, day(23), alice.policy)
    # then a warning begins at the expiry, caused by the five reports counted then
    suspension, warning = alice.episodes[-2:]
    assert (suspension.ended_at, suspension.ended_by) == (day(23), "expiry")
    assert (warning.level, warning.began_at) == ("warned", day(23))
    assert warning.began_position == last_position
    assert ids(warning.causes) == ids(during)
    assert "counted when the suspension expired" in warning.rule


def test_a_warning_at_expiry_with_the_restriction_limit_reached_says_the_next_report_restricts() -> (
    None
):
    # given alice reported seven times during a suspension that ends on day 23
    alice = alice_suspended_on_day_16()
    for n in range(17, 24):
        alice.idk(day(n) - timedelta(hours=1))  # the last an hour before the end
    # when it expires (nothing is imposed at an expiry)
    advance(alice.state, day(23), alice.policy)
    # then she is warned, and the rule says the next report imposes a restriction
    warning = alice.episodes[-1]
    assert (warning.level, len(warning.causes)) == ("warned", 7)
    assert "restrict_at=7" in warning.rule
    assert "the next report while they count imposes a restriction" in warning.rule
    # while fewer than restrict_at counted say nothing of it
    fewer = alice_suspended_on_day_16()
    fewer.idk_daily(17, 21)
    advance(fewer.state, day(23), fewer.policy)
    assert "restrict_at" not in fewer.episodes[-1].rule


def test_the_first_report_after_a_suspension_is_judged_normally() -> None:
    # given alice reported six times during a suspension that ended on day 23
    alice = alice_suspended_on_day_16()
    during = alice.idk_daily(17, 22)
    # when a seventh report arrives on day 24
    after = alice.idk(day(24))
    # then a third restriction begins: suspended 14 days, caused by all seven
    seen = alice.at(day(24))
    assert (seen.level, seen.until) == ("suspended", day(38))
    assert ids(alice.episodes[-1].causes) == ids([*during, after])
    assert alice.episodes[-2].level == "warned"  # opened at the expiry on day 23
    assert (alice.episodes[-2].began_at, alice.episodes[-2].ended_by) == (day(23), "escalation")


def test_a_warning_opens_when_an_email_restriction_expires_with_reports_pending() -> None:
    # given alice must give recipient emails from day 7 to day 37
    alice, _ = alice_restricted_on_day_7()
    # when five recipients report her on days 30 to 34 (not enough to escalate)
    alice.idk_daily(30, 34)
    assert alice.at(day(36)).level == "email_required"
    # then on day 37 the restriction expires into a warning, which ends on day 60
    assert alice.at(day(37)).level == "warned"
    advance(alice.state, day(70), alice.policy)
    restriction, warning = alice.episodes[-2:]
    assert (restriction.ended_at, restriction.ended_by) == (day(37), "expiry")
    assert (warning.began_at, warning.ended_at, warning.ended_by) == (day(37), day(60), "window")


def test_suspensions_double_up_to_max_suspend_days() -> None:
    # given a strict policy: one report restricts, suspensions 7 days capped at 20
    strict = Policy(
        version=3, warn_at=1, restrict_at=1, restrict_days=1, suspend_days=7, max_suspend_days=20
    )
    alice = Alice(strict)
    # when alice is reported after each restriction ends
    alice.idk(day(0))  # email_required until day 1
    alice.idk(day(2))  # k=1: 7 days, until day 9
    alice.idk(day(10))  # k=2: 14 days, until day 24
    alice.idk(day(25))  # k=3: 28 days, capped at 20
    # then the fourth restriction is a 20-day suspension that says it was capped
    lengths = [(e.level, e.until - e.began_at) for e in alice.episodes if e.until]
    assert lengths == [
        ("email_required", timedelta(days=1)),
        ("suspended", timedelta(days=7)),
        ("suspended", timedelta(days=14)),
        ("suspended", timedelta(days=20)),
    ]
    assert "capped at max_suspend_days=20" in alice.episodes[-1].rule
    assert "policy version 3" in alice.episodes[-1].rule


def test_a_restriction_older_than_recidive_days_is_not_a_repeat_offence() -> None:
    # given alice restricted on day 7, which expired on day 37
    alice, _ = alice_restricted_on_day_7()
    # when she is reported seven times from day 187 to day 193 (day 7 + 180 = day 187)
    alice.idk_daily(187, 193)
    # then the day-7 restriction is too old: this is a first offence again
    seen = alice.at(day(193))
    assert (seen.level, seen.until) == ("email_required", day(223))


def test_a_shorter_window_does_not_by_itself_end_an_open_warning() -> None:
    # given alice warned by reports on days 1 to 5, then a policy with a 10-day window
    alice = Alice()
    alice.idk_daily(1, 5)
    alice.policy = Policy(version=2, window_days=10)
    # when she is looked at on day 20, and later, with no report in between
    seen = alice.at(day(20))
    # then she is still warned: the change takes effect at the next judgement
    assert seen.level == "warned"
    # and the warning leaves the window as judged (30 days after day 1), whatever the
    # moment asked
    for asked in (day(40), day(90)):
        later = advance(copy.deepcopy(alice.state), asked, alice.policy)
        (warning,) = later.episodes
        assert (warning.ended_at, warning.ended_by) == (day(31), "window")
        assert alice.at(asked).level == "good"


def test_a_report_under_a_shorter_window_ends_the_warning_it_no_longer_reaches() -> None:
    # given alice warned by reports on days 1 to 5, then a policy with a 10-day window
    alice = Alice()
    alice.idk_daily(1, 5)
    alice.policy = Policy(version=2, window_days=10)
    # when a recipient reports her on day 20 (one report within the new window)
    alice.idk(day(20))
    # then that judgement ends the warning, at day 20
    (warning,) = alice.episodes
    assert (warning.ended_at, warning.ended_by) == (day(20), "window")
    assert alice.at(day(20)).level == "good"


def test_a_higher_warn_at_is_judged_at_the_next_report() -> None:
    # given alice warned by five reports on days 1 to 5, then warn_at raised to 6
    alice = Alice()
    alice.idk_daily(1, 5)
    alice.policy = Policy(version=2, warn_at=6)
    # when she is looked at on day 8: still warned, as judged
    assert alice.at(day(8)).level == "warned"
    # when a sixth report arrives on day 9
    alice.idk(day(9))
    # then six reach the new warn_at: one warning, needing all six, until day 1's leaves
    advance(alice.state, day(90), alice.policy)
    (warning,) = alice.episodes
    assert (warning.ended_at, warning.ended_by) == (day(31), "window")


def test_a_policy_with_other_thresholds_is_applied_and_named() -> None:
    # given a policy version 2: window 10 days, warn at 2, restrict at 3 for 5 days
    brisk = Policy(version=2, window_days=10, warn_at=2, restrict_at=3, restrict_days=5)
    alice = Alice(brisk)
    # when alice is reported on days 1, 2 and 3
    alice.idk_daily(1, 2)
    assert alice.at(day(2)).level == "warned"
    alice.idk(day(3))
    # then she must give recipient emails for 5 days, by rule version 2
    seen = alice.at(day(3))
    assert (seen.level, seen.until) == ("email_required", day(8))
    assert seen.episode is not None
    assert seen.episode.policy_version == 2
    assert seen.episode.rule == (
        "3 'I don't know this person' reports within 10 days reached restrict_at=3 "
        "(policy version 2): recipient email required for 5 days."
    )


# --- appeals ----------------------------------------------------------------------------


def test_granting_an_appeal_for_an_expired_restriction_changes_nothing() -> None:
    # given alice appealed her day-7 restriction on day 10, unanswered when it expired
    alice, _ = alice_restricted_on_day_7()
    alice.appeal(day(10))
    alice.idk(day(36))
    slate = alice.state.clean_slate
    # when support grants the appeal on day 40
    alice.grant(day(40))
    # then the restriction still ended by expiry, and the slate did not move
    restriction = alice.episodes[-1]
    assert (restriction.ended_at, restriction.ended_by) == (day(37), "expiry")
    assert alice.state.clean_slate == slate
    assert alice.at(day(40)).reports_counted == 1
    assert alice.state.appeals[0].outcome == "granted"


def test_an_appeal_is_refused_without_an_active_restriction() -> None:
    # given alice only warned
    alice = Alice()
    alice.idk_daily(1, 5)
    # then she may not appeal
    reason = check_appeal(alice.state, day(6), alice.policy)
    assert reason is not None and "no active restriction" in reason


def test_an_appeal_is_refused_once_the_restriction_has_expired() -> None:
    # given alice restricted from day 7 to day 37
    alice, _ = alice_restricted_on_day_7()
    # then she may appeal on day 36 but not on day 37
    assert check_appeal(alice.state, day(36), alice.policy) is None
    assert check_appeal(alice.state, day(37), alice.policy) is not None


def test_a_grant_lifts_nothing_once_the_appealed_restriction_has_expired() -> None:
    # given alice restricted from day 7 to day 37 and appealing on day 30
    alice, _ = alice_restricted_on_day_7()
    alice.appeal(day(30))
    # then a grant on day 36 would lift the restriction, and one on day 37 would not
    assert lifts_nothing(alice.state, "appeal-1", day(36), alice.policy) is None
    ended = lifts_nothing(alice.state, "appeal-1", day(37), alice.policy)
    assert ended is alice.episodes[-1] and ended.until == day(37)
    # nor would one for an appeal never filed
    assert lifts_nothing(alice.state, "appeal-9", day(36), alice.policy) is None


def test_a_grant_lifts_the_suspension_an_open_appeal_followed_into() -> None:
    # given alice email-required on day 7, appealing on day 8, suspended by day 14
    alice, _ = alice_restricted_on_day_7()
    alice.appeal(day(8))
    alice.idk_daily(8, 14)
    # then a grant while the suspension applies lifts it
    assert alice.at(day(15)).level == "suspended"
    assert lifts_nothing(alice.state, "appeal-1", day(15), alice.policy) is None


def test_an_appeal_dated_before_the_restriction_began_is_refused() -> None:
    # given alice restricted from day 7 (her reports logged first)
    alice, _ = alice_restricted_on_day_7()
    # when an appeal dated day 5 comes next in the log
    reason = check_appeal(alice.state, day(5), alice.policy)
    # then it is refused: on day 5 nothing was restricted yet
    assert reason is not None and "began at 2026-01-08T12:00:00Z" in reason
    # while one dated within the restriction, even before a later report, may be filed
    alice.idk(day(20))
    assert check_appeal(alice.state, day(12), alice.policy) is None


def test_a_second_appeal_is_refused_while_one_is_open() -> None:
    # given alice restricted and appealing on day 10
    alice, _ = alice_restricted_on_day_7()
    alice.appeal(day(10))
    # then a second appeal is refused, naming the open one
    reason = check_appeal(alice.state, day(12), alice.policy)
    assert reason is not None and "open appeal (appeal-1)" in reason


def test_after_a_denied_appeal_the_member_stays_restricted_and_may_appeal_again() -> None:
    # given alice's appeal of day 10 denied on day 11
    alice, _ = alice_restricted_on_day_7()
    alice.appeal(day(10))
    alice.deny(day(11))
    # then she is still restricted, and no appeal is open
    seen = alice.at(day(11))
    assert (seen.level, seen.open_appeal) == ("email_required", None)
    assert alice.state.appeals[0].outcome == "denied"
    assert check_appeal(alice.state, day(12), alice.policy) is None


# --- the state itself -------------------------------------------------------------------


def test_view_does_not_change_the_state() -> None:
    # given alice suspended on day 26 in the worked example
    alice, _ = alice_suspended_on_day_26()
    before = json.dumps(alice.state.to_json(), sort_keys=True)
    # when we look far ahead, past the suspension's expiry
    seen = alice.at(day(400))
    # then the view shows the expiry, and the state is exactly as it was
    assert seen.level == "good"
    assert json.dumps(alice.state.to_json(), sort_keys=True) == before
    assert alice.state.episodes[-1].ended_at is None


def test_standing_survives_a_json_round_trip() -> None:
    # given alice's full worked-example history with an open appeal
    alice, _ = alice_suspended_on_day_26()
    alice.appeal(day(27), "appeal-2")
    # when her standing is written as JSON and read back
    text = json.dumps(alice.state.to_json())
    restored = MemberStanding.from_json(json.loads(text))
    # then it is equal, and it goes on the same way
    assert restored == alice.state
    assert restored.to_json() == alice.state.to_json()
    assert view(restored, day(30), DEFAULT_POLICY) == alice.at(day(30))


def test_reports_older_than_the_longest_window_are_forgotten() -> None:
    # given a report on day 0
    alice = Alice()
    alice.idk(day(0))
    # when alice is next reported more than MAX_WINDOW_DAYS later
    alice.idk(day(MAX_WINDOW_DAYS + 1))
    # then only the recent report is remembered
    assert ids(alice.state.reports) == ["idk-2"]


def test_an_event_earlier_than_the_clock_changes_nothing_already_decided() -> None:
    # given alice restricted on day 7 and judged on day 8
    alice, _ = alice_restricted_on_day_7()
    advance(alice.state, day(8), alice.policy)
    episodes = [e.to_json() for e in alice.episodes]
    # when time is asked to go back to day 2
    advance(alice.state, day(2), alice.policy)
    # then nothing changes
    assert [e.to_json() for e in alice.episodes] == episodes
    assert alice.state.clock == day(8)


def test_a_late_timed_report_counts_at_its_own_time_and_takes_effect_now() -> None:
    # given four reports on days 1 to 4, and alice judged as late as day 10
    alice = Alice()
    alice.idk_daily(1, 4)
    advance(alice.state, day(10), alice.policy)
    # when a report timed day 5 arrives only now
    alice.idk(day(5))
    # then it counts with the other four at day 5, and the warning begins at day 10
    (warning,) = alice.episodes
    assert warning.began_at == day(10)
    assert ids(warning.causes) == ["idk-1", "idk-2", "idk-3", "idk-4", "idk-5"]


def test_only_email_and_suspension_are_restrictions() -> None:
    assert [is_restriction(level) for level in ("good", "warned")] == [False, False]
    assert [is_restriction(level) for level in ("email_required", "suspended")] == [True, True]


def test_reports_logged_newest_first_are_each_judged_in_their_own_window() -> None:
    # Given seven reports of days 1-7 logged in reverse: each is judged at its own time,
    # when its window holds only itself and the reports dated before it already logged
    alice, in_order = Alice(), Alice()
    for n in range(7, 0, -1):
        alice.idk(day(n))
    in_order.idk_daily(1, 7)

    # When asked the next day
    reversed_view, ordered_view = alice.at(day(8)), in_order.at(day(8))

    # Then all seven count, yet none reached restrict_at when judged (SPEC: log order);
    # in time order the seventh imposed the restriction and took the seven as its causes
    assert (reversed_view.level, reversed_view.reports_counted) == ("good", 7)
    assert (ordered_view.level, ordered_view.reports_counted) == ("email_required", 0)
    assert ordered_view.episode is not None and len(ordered_view.episode.causes) == 7


def test_an_appeal_an_escalation_carried_stands_against_the_suspension() -> None:
    # given alice restricted on day 7 and appealing on day 8
    alice = Alice()
    alice.idk_daily(1, 7)
    alice.appeal(day(8))
    (record,) = alice.state.appeals
    against, escalated_from = appealed(alice.state, record)
    assert (against.level if against else None, escalated_from) == ("email_required", None)

    # when seven more reports on days 9-15 escalate to a suspension
    alice.idk_daily(9, 15)

    # then the open appeal stands against the suspension, filed against the email restriction
    against, escalated_from = appealed(alice.state, record)
    assert against is not None and escalated_from is not None
    assert (against.level, against.began_at) == ("suspended", day(15))
    assert (escalated_from.level, escalated_from.began_at) == ("email_required", day(7))
