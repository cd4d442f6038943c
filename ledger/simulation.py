"""A realistic synthetic history: ordinary members, spam campaigns, responses and appeals.

`simulate` streams events in the JSONL import format of SPEC.md, in non-decreasing `at`
order, reproducible from a seed (one `random.Random(seed)`, ids from counters).

Every event passes the invitation rules of SPEC.md, by construction rather than by
bookkeeping: member i only ever invites members i + d (mod n) with 1 <= d <= (n - 1) // 2,
and each sender walks its own permutation of those offsets. So an unordered pair is
invited at most once in the whole history, in one direction, and no pair can be blocked,
connected or pending when it is invited. Appeals are filed only when the pure standing
rules (`projections.standing`) allow them at that moment.

Memory: O(members) for the per-member counters, handles and standing states, plus the
heap of scheduled responses and appeals, whose size is bounded by what is open at once
(hours to days of traffic), not by `invitations`. Standing states keep only the reports
inside MAX_WINDOW_DAYS and each member's episodes.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import accumulate

from ledger.policy import DEFAULT_POLICY, Policy
from ledger.policy_input import PolicyChange
from projections import standing

Event = dict[str, object]

_HOUR = 3600
_DAY = 86400
_SWEEP_DAYS = 7  # how often dormant standing states are forgotten

SPAMMER_SHARE = 0.03  # of members
SPAM_SEND_SHARE = 0.12  # of invitations, drawn from a running spam campaign when there is one

# Outcome of an invitation: (response, probability); None stays pending.
_ORDINARY_OUTCOMES = (
    ("invitation_accepted", 0.70),
    ("invitation_ignored", 0.12),
    ("invitation_marked_unknown", 0.03),
    ("invitation_withdrawn", 0.05),
    (None, 0.10),
)
_SPAM_OUTCOMES = (
    ("invitation_accepted", 0.10),
    ("invitation_ignored", 0.37),
    ("invitation_marked_unknown", 0.36),
    ("invitation_withdrawn", 0.02),
    (None, 0.15),
)
# Share of ignored invitations whose recipient later goes one step further (IDK).
_LATER_IDK = {False: 0.10, True: 0.25}
# Response delay in hours: (median, sigma) of a log-normal.
_DELAY_HOURS = {
    "invitation_accepted": (10.0, 1.0),
    "invitation_ignored": (48.0, 0.8),
    "invitation_marked_unknown": (4.0, 1.2),
    "invitation_withdrawn": (240.0, 0.5),
    "later_idk": (72.0, 1.0),
}

_ORDINARY_MESSAGES = (
    "Hi {r}, we met at the product meetup last week. Let's stay in touch!",
    "Hello {r}, I enjoyed your talk on data pipelines and would like to connect.",
    "Hi {r}, we worked together at the agency a few years ago. Great to find you here.",
    "{r}, a colleague recommended I reach out. Would be glad to connect.",
    "Bonjour {r}, ravi de vous avoir rencontré au salon. Restons en contact.",
)
_SPAM_MESSAGES = (
    "Hi {r}! Exclusive opportunity: earn 5000 EUR a week from home. Reply now!",
    "Dear {r}, I have a business proposal that will change your life. Connect to learn more.",
    "Congratulations {r}, you were selected for our crypto investors club!",
)
_STATEMENTS = (
    "These were people from a conference I attended; I did not spam anyone.",
    "My account was used by someone else for a few days. I have changed my password.",
    "I am a recruiter and contacted candidates in good faith. Please review.",
    "I did not know this would count against me. I will only invite people I know.",
)
_NOTES = {
    True: ("Invitations were plausibly legitimate; restriction lifted.", None),
    False: ("Reports are consistent with unsolicited bulk invitations.", None),
}

# With policy_changes: stricter thresholds after a third of the history, a longer window
# after two thirds.
_POLICY_CHANGES = (
    {"version": 2, "warn_at": 4, "restrict_at": 6},
    {"version": 3, "window_days": 45},
)

_RESPONSE, _LATER_IDK_KIND, _APPEAL_FILE, _APPEAL_RESOLVE, _POLICY = range(5)


def simulate(
    members: int,
    invitations: int,
    seed: int,
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    days: int = 365,
    policy_changes: bool = False,
) -> Iterator[Event]:
    """Yield a synthetic history of `invitations` invitations among `members` members.

    About 3% of members are spammers who run one or two campaigns of one to four weeks;
    their invitations are mostly ignored or marked unknown, so they get warned, restricted,
    escalated to suspension and appeal. Sends are spread over `days` days from `start`;
    responses and appeals that would fall after that are left out (pending, open).
    Times are whole seconds (any fraction of `start` is dropped).

    >>> events = list(simulate(members=50, invitations=200, seed=7))
    >>> events[0]["type"], events[0]["id"]
    ('invitation_sent', 'e-000000001')
    """
    if members < 3:
        raise ValueError("simulate needs at least 3 members")
    if invitations < 0 or days < 1:
        raise ValueError("invitations must be >= 0 and days >= 1")
    if start.tzinfo is None:
        raise ValueError("start must carry a time zone")
    offsets = (members - 1) // 2
    if invitations > members * offsets:
        raise ValueError(
            f"{members} members allow at most {members * offsets} distinct invitations"
        )
    return _Simulation(members, invitations, seed, start, days, policy_changes).run()


def _format_at(ts: int) -> str:
    """Seconds since the epoch as ISO 8601 UTC with `Z`, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class _Simulation:
    def __init__(
        self,
        members: int,
        invitations: int,
        seed: int,
        start: datetime,
        days: int,
        policy_changes: bool,
    ) -> None:
        self.rng = rng = random.Random(seed)
        self.n = members
        self.invitations = invitations
        self.start_ts = int(start.timestamp())
        self.end_ts = self.start_ts + days * _DAY
        self.policy: Policy = DEFAULT_POLICY
        width = max(5, len(str(members - 1)))
        self.handles = [f"m{i:0{width}d}" for i in range(members)]

        # Each sender walks offsets d = (step*k + shift) % offsets + 1, k = 0, 1, ...:
        # a permutation of 1..offsets because gcd(step, offsets) == 1.
        self.offsets = (members - 1) // 2
        self.step = array("q", (self._coprime_step() for _ in range(members)))
        self.shift = array("q", (rng.randrange(self.offsets) for _ in range(members)))
        self.sent = array("q", bytes(8 * members))

        spammers = sorted(rng.sample(range(members), max(1, round(members * SPAMMER_SHARE))))
        self.spammers = set(spammers)
        self.ordinary = [i for i in range(members) if i not in self.spammers]
        self.cum_activity = list(accumulate(rng.lognormvariate(0.0, 1.0) for _ in self.ordinary))
        self.campaigns = self._campaigns(spammers, days)
        self.active: list[tuple[int, int]] = []  # (campaign end, spammer), pruned lazily

        self.heap: list[tuple[int, int, int, tuple[object, ...]]] = []
        self.seq = 0
        self.events = 0
        self.appeals = 0
        self.standings: dict[int, standing.MemberStanding] = {}
        self.appealing: set[int] = set()  # members with an appeal scheduled or open
        self.next_sweep = self.start_ts
        policies = (DEFAULT_POLICY.as_dict(), *(_POLICY_CHANGES if policy_changes else ()))
        self.longest_window = max(int(p.get("window_days", 0)) for p in policies) * _DAY
        self.longest_recidive = max(int(p.get("recidive_days", 0)) for p in policies) * _DAY
        if policy_changes:
            span = self.end_ts - self.start_ts
            for third, change in enumerate(_POLICY_CHANGES, start=1):
                self._schedule(self.start_ts + third * span // 3, _POLICY, (change,))

    def _coprime_step(self) -> int:
        while True:
            step = self.rng.randrange(1, self.offsets + 1)
            if math.gcd(step, self.offsets) == 1:
                return step

    def _campaigns(self, spammers: list[int], days: int) -> list[tuple[int, int, int]]:
        """(start, end, spammer) of each spam campaign, by start; a fifth run to the end."""
        rng, span = self.rng, days * _DAY
        campaigns = []
        for spammer in spammers:
            for _ in range(1 + (rng.random() < 0.35)):
                length = min(span, int(rng.uniform(7, 28) * _DAY))
                begin = span - length if rng.random() < 0.2 else rng.randrange(span - length + 1)
                campaigns.append((self.start_ts + begin, self.start_ts + begin + length, spammer))
        campaigns.sort(reverse=True)  # popped from the end, earliest first
        return campaigns

    def run(self) -> Iterator[Event]:
        span = self.end_ts - self.start_ts
        rng = self.rng
        heap = self.heap
        for number in range(1, self.invitations + 1):
            ts = self.start_ts + int(span * (number - 1 + rng.random()) / self.invitations)
            if heap and heap[0][0] <= ts:
                yield from self._due(ts)
            if ts >= self.next_sweep:
                self._forget_dormant(ts)
                self.next_sweep = ts + _SWEEP_DAYS * _DAY
            yield self._send(number, ts)
        yield from self._due(self.end_ts)

    def _due(self, ts: int) -> Iterator[Event]:
        while self.heap and self.heap[0][0] <= ts:
            at, _, kind, payload = heapq.heappop(self.heap)
            event = self._scheduled(at, kind, payload)
            if event is not None:
                yield event

    def _schedule(self, ts: int, kind: int, payload: tuple[object, ...]) -> bool:
        if ts > self.end_ts:
            return False
        self.seq += 1
        heapq.heappush(self.heap, (ts, self.seq, kind, payload))
        return True

    def _event(self, type_: str, ts: int) -> Event:
        self.events += 1
        return {"id": f"e-{self.events:09d}", "type": type_, "at": _format_at(ts)}

    # -- invitations ---------------------------------------------------------------

    def _send(self, number: int, ts: int) -> Event:
        rng = self.rng
        sender, spam, restriction = self._sender(ts)
        k = self.sent[sender]
        self.sent[sender] = k + 1
        offset = (self.step[sender] * k + self.shift[sender]) % self.offsets + 1
        recipient = (sender + offset) % self.n
        invitation = f"inv-{number:07d}"
        event = self._event("invitation_sent", ts)
        event["invitation"] = invitation
        event["sender"] = self.handles[sender]
        event["recipient"] = self.handles[recipient]
        if rng.random() < (0.8 if spam else 0.3):
            template = rng.choice(_SPAM_MESSAGES if spam else _ORDINARY_MESSAGES)
            event["message"] = template.format(r=self.handles[recipient])
        if restriction == "email_required" or rng.random() < 0.03:
            event["recipient_email"] = f"{self.handles[recipient]}@example.com"

        response = _draw(rng, _SPAM_OUTCOMES if spam else _ORDINARY_OUTCOMES)
        if response is not None:
            delay = _delay(rng, response)
            self._schedule(ts + delay, _RESPONSE, (response, invitation, sender, recipient, spam))
        return event

    def _sender(self, ts: int) -> tuple[int, bool, str | None]:
        """Who sends at `ts`: a spammer in campaign (not suspended) or an ordinary member."""
        rng = self.rng
        while self.campaigns and self.campaigns[-1][0] <= ts:
            _, end, campaigner = self.campaigns.pop()
            self.active.append((end, campaigner))
        if self.active and rng.random() < SPAM_SEND_SHARE:
            spammer = self._campaigner(ts)
            if spammer is not None and self.sent[spammer] < self.offsets:
                restriction = self._restriction(spammer, ts)
                if restriction != "suspended":  # the platform refuses their sends
                    return spammer, True, restriction
        for _ in range(64):
            drawn = bisect_right(self.cum_activity, rng.random() * self.cum_activity[-1])
            member = self.ordinary[min(drawn, len(self.ordinary) - 1)]
            if self.sent[member] < self.offsets:
                restriction = self._restriction(member, ts)
                if restriction != "suspended":
                    return member, False, restriction
        first = rng.randrange(self.n)  # nearly every pair used: take the next with room
        for i in range(self.n):
            member = (first + i) % self.n
            if self.sent[member] < self.offsets:
                return member, member in self.spammers, self._restriction(member, ts)
        raise AssertionError("no member can send; simulate() checks capacity first")

    def _campaigner(self, ts: int) -> int | None:
        active, rng = self.active, self.rng
        while active:
            i = rng.randrange(len(active))
            end, spammer = active[i]
            if end >= ts:
                return spammer
            active[i] = active[-1]
            active.pop()
        return None

    def _scheduled(self, ts: int, kind: int, payload: tuple[object, ...]) -> Event | None:
        if kind == _RESPONSE:
            response, invitation, sender, recipient, spam = payload
            assert isinstance(response, str) and isinstance(sender, int)
            assert isinstance(invitation, str) and isinstance(recipient, int)
            event = self._event(response, ts)
            event["invitation"] = invitation
            if response == "invitation_marked_unknown":
                self._report(event, ts, invitation, sender, recipient)
            elif response == "invitation_ignored" and self.rng.random() < _LATER_IDK[bool(spam)]:
                later = ts + _delay(self.rng, "later_idk")
                self._schedule(later, _LATER_IDK_KIND, (invitation, sender, recipient))
            return event
        if kind == _LATER_IDK_KIND:
            invitation, sender, recipient = payload
            assert isinstance(invitation, str) and isinstance(sender, int)
            assert isinstance(recipient, int)
            event = self._event("invitation_marked_unknown", ts)
            event["invitation"] = invitation
            self._report(event, ts, invitation, sender, recipient)
            return event
        if kind == _APPEAL_FILE:
            (member,) = payload
            assert isinstance(member, int)
            return self._file_appeal(member, ts)
        if kind == _APPEAL_RESOLVE:
            member, appeal, granted = payload
            assert isinstance(member, int) and isinstance(appeal, str)
            return self._resolve_appeal(member, appeal, bool(granted), ts)
        (change,) = payload
        assert isinstance(change, dict)
        self.policy = PolicyChange.model_validate(change).applied_to(self.policy)
        event = self._event("policy_changed", ts)
        event["policy"] = dict(change)
        return event

    # -- standing and appeals --------------------------------------------------------

    def _restriction(self, member: int, ts: int) -> str | None:
        """The member's active restriction at `ts`, read off the standing episodes."""
        state = self.standings.get(member)
        if state is None:
            return None
        # Only the latest restriction can be active; it may have expired unseen (no event
        # about this member since), so `until` is compared too.
        for episode in reversed(state.episodes):
            if standing.is_restriction(episode.level):
                until = episode.until
                active = episode.ended_at is None and until is not None and until.timestamp() > ts
                return episode.level if active else None
        return None

    def _forget_dormant(self, ts: int) -> None:
        """Drop the standing states that can no longer change any decision: this is what
        keeps memory bounded by recent activity rather than by the length of the history.

        A state is dormant when none of its reports can count again, no restriction of it
        can be an earlier offence again (under any policy this history will use), nothing
        of it is still active and no appeal of it is open or scheduled; a new report then
        starts a fresh state that decides exactly what the old one would have.
        """
        dormant = [
            member
            for member, state in self.standings.items()
            if member not in self.appealing and self._dormant(state, ts)
        ]
        for member in dormant:
            del self.standings[member]

    def _dormant(self, state: standing.MemberStanding, ts: int) -> bool:
        if state.reports and state.reports[-1].at.timestamp() + self.longest_window > ts:
            return False
        if any(appeal.outcome is None for appeal in state.appeals):
            return False
        for episode in state.episodes:
            if standing.is_restriction(episode.level):
                if episode.began_at.timestamp() + self.longest_recidive > ts:
                    return False
                if episode.ended_at is None and (
                    episode.until is None or episode.until.timestamp() > ts
                ):
                    return False
        return True

    def _report(self, event: Event, ts: int, invitation: str, sender: int, recipient: int) -> None:
        state = self.standings.get(sender)
        if state is None:
            state = self.standings[sender] = standing.new_standing(self.handles[sender])
        restrictions = _restrictions(state)
        report = standing.Report(
            event_id=str(event["id"]),
            position=self.events,
            at=_datetime(ts),
            invitation=invitation,
            recipient=self.handles[recipient],
        )
        state = self.standings[sender] = standing.on_report(state, report, self.policy)
        if (
            _restrictions(state) > restrictions
            and sender not in self.appealing
            and self.rng.random() < 0.5
        ):
            filed = ts + self.rng.randrange(2 * _HOUR, 72 * _HOUR)
            if self._schedule(filed, _APPEAL_FILE, (sender,)):
                self.appealing.add(sender)

    def _file_appeal(self, member: int, ts: int) -> Event | None:
        state = self.standings[member]
        if standing.check_appeal(state, _datetime(ts), self.policy) is not None:
            self.appealing.discard(member)  # the restriction ended meanwhile
            return None
        self.appeals += 1
        appeal = f"apl-{self.appeals:04d}"
        statement = self.rng.choice(_STATEMENTS)
        event = self._event("appeal_filed", ts)
        event.update(appeal=appeal, member=self.handles[member], statement=statement)
        self.standings[member] = standing.on_appeal_filed(
            state, appeal, _datetime(ts), self.events, statement, self.policy
        )
        granted = self.rng.random() < 0.35
        resolved = ts + self.rng.randrange(24 * _HOUR, 48 * _HOUR)
        self._schedule(resolved, _APPEAL_RESOLVE, (member, appeal, granted))
        # Past the end of the history the appeal stays open: the support queue's backlog.
        return event

    def _resolve_appeal(self, member: int, appeal: str, granted: bool, ts: int) -> Event:
        agent = f"agent-{self.rng.randint(1, 5)}"
        note = self.rng.choice(_NOTES[granted])
        event = self._event("appeal_granted" if granted else "appeal_denied", ts)
        event.update(appeal=appeal, agent=agent)
        if note is not None:
            event["note"] = note
        self.standings[member] = standing.on_appeal_resolved(
            self.standings[member],
            appeal,
            granted,
            agent,
            note,
            _datetime(ts),
            self.events,
            self.policy,
        )
        self.appealing.discard(member)
        return event


def _draw(rng: random.Random, outcomes: tuple[tuple[str | None, float], ...]) -> str | None:
    x = rng.random()
    for outcome, p in outcomes:
        x -= p
        if x < 0:
            return outcome
    return outcomes[-1][0]


def _delay(rng: random.Random, response: str) -> int:
    """Seconds from a send (or an ignore) to the response: minutes to weeks."""
    median, sigma = _DELAY_HOURS[response]
    hours = rng.lognormvariate(math.log(median), sigma)
    return int(min(max(hours, 0.1), 60 * 24) * _HOUR)


def _restrictions(state: standing.MemberStanding) -> int:
    return sum(1 for episode in state.episodes if standing.is_restriction(episode.level))


def _datetime(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
