"""A stateful model test: random command sequences against a real ledger and a reference.

Hypothesis drives `ledger.application.Ledger` on a real SQLite file in a temporary
folder with random commands among five members: sends (with or without email, with a
reused invitation id, to oneself), accept / ignore / idk / withdraw of known and unknown
invitations (some dated before their send), appeals, grants and denials (some of unknown
or resolved appeals, or dated before the filing), events with an id already used, input
that is not valid, and time moving forward by random hours.

The oracle is the small model below: plain dicts for invitation status, blocks,
connections and pending invitations, and `reference_standing`, a slow, direct reading
of SPEC.md "How standing evolves" that replays a member's reports and appeals from
scratch for every question. With five members a sender can collect at most four IDK
reports (each one blocks the pair), so each example starts with a `policy_changed` to
one of a few small policies under which every level, escalation, repeat-offence
doubling, the cap, expiry, window exit and appeals all happen within a few steps.

After every step: the ledger allowed exactly what the model allowed (with the rule
SPEC.md names), a refused step left the export byte-identical and an allowed one added
exactly its event; every member's standing, until, counted reports, open appeal,
reputation and blocks equal the model's now and 30 hours ahead, a random past moment
agrees too, and `check` agrees with the send-time rules. At teardown the incremental
views' fingerprints equal a full rebuild in a scratch store, and an in-place rebuild.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger import events as ev
from ledger.application import Appended, Ledger
from ledger.errors import BadInput, RuleViolation, UnknownId
from projections import bulk, queries, rebuild
from projections.views import Views

MEMBERS = ("ana", "ben", "cy", "dee", "eli")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
RESTRICTIONS = ("email_required", "suspended")

# Small policies (version 2, in force from T0). Field names and meaning as in SPEC.md.
POLICIES = (
    # every report restricts: email, escalation, then a repeat offence capped at 3 days
    {
        "version": 2,
        "window_days": 2,
        "warn_at": 1,
        "restrict_at": 1,
        "restrict_days": 1,
        "recidive_days": 8,
        "suspend_days": 2,
        "max_suspend_days": 3,
    },
    # every report restricts, suspensions double 1, 2, 4 days (cap 8)
    {
        "version": 2,
        "window_days": 1,
        "warn_at": 1,
        "restrict_at": 1,
        "restrict_days": 1,
        "recidive_days": 10,
        "suspend_days": 1,
        "max_suspend_days": 8,
    },
    # warn at one report, restrict at two
    {
        "version": 2,
        "window_days": 2,
        "warn_at": 1,
        "restrict_at": 2,
        "restrict_days": 2,
        "recidive_days": 4,
        "suspend_days": 1,
        "max_suspend_days": 2,
    },
    # warn at two, restrict at three, a longer window
    {
        "version": 2,
        "window_days": 4,
        "warn_at": 2,
        "restrict_at": 3,
        "restrict_days": 1,
        "recidive_days": 10,
        "suspend_days": 2,
        "max_suspend_days": 3,
    },
)
DEFAULTS = {
    "window_days": 30,
    "warn_at": 5,
    "restrict_at": 7,
    "restrict_days": 30,
    "recidive_days": 180,
    "suspend_days": 7,
    "max_suspend_days": 90,
}


@dataclass(frozen=True)
class P:
    window_days: int
    warn_at: int
    restrict_at: int
    restrict_days: int
    recidive_days: int
    suspend_days: int
    max_suspend_days: int


# The reference: SPEC.md "How standing evolves", replayed from scratch --------------------


@dataclass
class Restriction:
    level: str
    began: datetime
    until: datetime
    ended: datetime | None = None


@dataclass(frozen=True)
class Seen:
    level: str
    until: datetime | None
    counted: int
    open_appeal: str | None


def reference_standing(
    inputs: list[tuple[str, int, datetime, str | None]], p: P, t: datetime
) -> Seen:
    """The standing at t of one member, from their inputs in log order.

    inputs: ("report", seq, at, None) for an IDK report against the member,
    ("filed" | "granted" | "denied", seq, at, appeal) for their appeals. Only inputs
    with at <= t are used.
    """
    window = timedelta(days=p.window_days)
    reports: list[tuple[int, datetime]] = []
    slate = 0
    restrictions: list[Restriction] = []
    warning_since: datetime | None = None
    appeals: dict[str, list[Any]] = {}  # appeal -> [index of its restriction, outcome]

    def counted(moment: datetime) -> list[tuple[int, datetime]]:
        """Reports after the clean slate with `at` in (moment - window, moment]."""
        return [r for r in reports if r[0] > slate and moment - window < r[1] <= moment]

    def active() -> Restriction | None:
        return restrictions[-1] if restrictions and restrictions[-1].ended is None else None

    def warning_ends() -> datetime | None:
        """The first moment after the warning began when fewer than warn_at are counted."""
        assert warning_since is not None
        for moment in sorted(r[1] + window for r in reports if r[0] > slate):
            if moment > warning_since and len(counted(moment)) < p.warn_at:
                return moment
        return None

    def advance(to: datetime) -> None:
        nonlocal warning_since
        while True:
            current = active()
            if current is not None:
                if current.until > to:
                    return
                current.ended = current.until  # expiry; a warning is judged at that moment
                if len(counted(current.until)) >= p.warn_at:
                    warning_since = current.until
                continue
            if warning_since is not None:
                ends = warning_ends()
                if ends is None or ends > to:
                    return
                warning_since = None
                continue
            return

    def impose(at: datetime, seq: int, escalating: Restriction | None) -> None:
        nonlocal slate, warning_since
        earlier = sum(
            1 for r in restrictions if at - timedelta(days=p.recidive_days) < r.began <= at
        )
        if escalating is not None:
            escalating.ended = at
        warning_since = None
        if escalating is None and earlier == 0:
            restrictions.append(
                Restriction("email_required", at, at + timedelta(days=p.restrict_days))
            )
        else:
            days = min(p.suspend_days * 2 ** (max(earlier, 1) - 1), p.max_suspend_days)
            restrictions.append(Restriction("suspended", at, at + timedelta(days=days)))
            for appeal in appeals.values():  # an open appeal follows its restriction
                if (
                    appeal[1] is None
                    and escalating is not None
                    and appeal[0] == len(restrictions) - 2
                ):
                    appeal[0] = len(restrictions) - 1
        slate = seq

    for kind, seq, at, appeal_id in inputs:
        if at > t:
            break
        advance(at)
        if kind == "report":
            reports.append((seq, at))
            count = len(counted(at))
            current = active()
            if current is None:
                if count >= p.restrict_at:
                    impose(at, seq, None)
                elif count >= p.warn_at and warning_since is None:
                    warning_since = at
            elif current.level == "email_required" and count >= p.restrict_at:
                impose(at, seq, current)
        elif kind == "filed":
            assert active() is not None, (
                "the model files appeals only against an active restriction"
            )
            appeals[appeal_id] = [len(restrictions) - 1, None]  # type: ignore[index]
        else:
            record = appeals[appeal_id]  # type: ignore[index]
            record[1] = kind
            target = restrictions[record[0]]
            if kind == "granted" and target.ended is None:
                target.ended = at
                slate = seq
    advance(t)
    current = active()
    level = current.level if current else ("warned" if warning_since is not None else "good")
    open_appeal = next((a for a, (_, outcome) in appeals.items() if outcome is None), None)
    return Seen(level, current.until if current else None, len(counted(t)), open_appeal)


# The model of the whole ledger ----------------------------------------------------------


@dataclass
class Invitation:
    sender: str
    recipient: str
    status: str
    sent_at: datetime


@dataclass
class Model:
    policy: P
    seq: int = 0
    invitations: dict[str, Invitation] = field(default_factory=dict)
    blocks: dict[tuple[str, str], str] = field(default_factory=dict)  # (sender, recipient) -> event
    connected: set[frozenset[str]] = field(default_factory=set)
    appeals: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: dict[str, list[tuple[str, int, datetime, str | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    reputation: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def standing(self, member: str, t: datetime) -> Seen:
        return reference_standing(self.inputs[member], self.policy, t)

    def pending_between(self, a: str, b: str) -> bool:
        return any(
            i.status == "pending" and {i.sender, i.recipient} == {a, b}
            for i in self.invitations.values()
        )

    def send_time_rules(self, sender: str, recipient: str, email: bool, t: datetime) -> list[str]:
        """The send-time rules that refuse, in SPEC.md's order."""
        refused = []
        level = self.standing(sender, t).level
        if level == "suspended":
            refused.append("suspended")
        if (sender, recipient) in self.blocks:
            refused.append("blocked")
        if frozenset((sender, recipient)) in self.connected:
            refused.append("connected")
        if self.pending_between(sender, recipient):
            refused.append("pending")
        if level == "email_required" and not email:
            refused.append("email-required")
        return refused


def outcome(call: Any) -> tuple[tuple[str, str | None], Appended | None]:
    try:
        appended = call()
    except RuleViolation as error:
        return ("refused", error.rule), None
    except UnknownId:
        return ("unknown", None), None
    except BadInput:
        return ("bad", None), None
    return ("ok", None), appended


# The actions of one step, with their arguments. One rule draws the action from this
# weighted list: Hypothesis' swarm testing disables whole rules in some examples, and with
# one rule every example exercises sends, reports, time and appeals together.
ACTIONS = (
    ("send",) * 4
    + ("respond",) * 2
    + ("tick",) * 2
    + ("appeal_or_resolve",) * 2
    + ("invalid", "look", "spam")
)
ACTION_ARGS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "tick": {"hours": st.sampled_from([0, 1, 2, 5, 11, 23, 30, 47, 97])},
    # ana sends half the invitations: one member collects enough reports for repeat offences
    "send": {
        "sender": st.sampled_from(("ana",) * 4 + MEMBERS),
        "other": st.integers(1, 4),
        "itself": st.integers(0, 19),
        "email": st.booleans(),
        "reuse": st.integers(0, 9),
        "report": st.integers(0, 1),
    },
    "respond": {
        "verb": st.sampled_from(["accepted", "ignored", "unknown", "withdrawn"]),
        "pick": st.integers(0, 7),
        "before": st.integers(0, 9),
    },
    "appeal_or_resolve": {
        "file": st.integers(0, 2),
        "granted": st.booleans(),
        "pick": st.integers(0, 7),
        "before": st.integers(0, 9),
        "reuse": st.integers(0, 9),
    },
    "invalid": {
        "kind": st.sampled_from(
            [
                "reuse-event-id",
                "handle-space",
                "message-esc",
                "email",
                "statement-c1",
                "agent-space",
                "id-tab",
            ]
        )
    },
    "spam": {"other": st.integers(1, 4)},
    "look": {
        "member": st.sampled_from(MEMBERS),
        "recipient": st.sampled_from(MEMBERS),
        "email": st.booleans(),
        "back": st.integers(0, 10_000),
    },
}
NEEDS_DATA = {"send", "respond", "appeal_or_resolve", "invalid", "spam"}


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="invledger-model-"))
        self.book = Ledger(str(self.folder / "ledger.db"))
        self.model = Model(P(**DEFAULTS))
        self.clock = T0
        self.counter = 0
        self.used_ids: list[str] = []
        self.log = b""
        self.trace: list[str] = []

    # helpers -------------------------------------------------------------------------

    def new_id(self) -> str:
        self.counter += 1
        return f"e{self.counter}"

    def exported(self) -> bytes:
        out = io.BytesIO()
        self.book.export(out)
        return out.getvalue()

    def attempt(
        self,
        fields: dict[str, Any],
        expected: tuple[str, set[str | None]],
        command_rules: bool = False,
    ) -> Appended | None:
        """Run one command; compare allowed/refused and the log with the model's expectation."""
        views_before = rebuild.fingerprints(self.book.store)
        got, appended = outcome(lambda: self.book.record(fields, command_rules=command_rules))
        self.trace.append(f"{fields} -> {got}")
        event(f"{fields['type']}: {got[0]} {got[1] or ''}".strip())
        kind, rules = expected
        assert got[0] == kind and got[1] in rules, (
            f"ledger said {got}, model expected {kind} {sorted(map(str, rules))}\n"
            + "\n".join(self.trace[-15:])
        )
        after = self.exported()
        if appended is None:
            assert after == self.log, "a refused command changed the log"
            assert rebuild.fingerprints(self.book.store) == views_before, (
                "a refused command changed a view"
            )
        else:
            assert after == self.log + ev.encode(appended.event) + b"\n", (
                "an allowed command did not add exactly its event"
            )
            self.model.seq += 1
            self.used_ids.append(appended.event.id)
        self.log = after
        return appended

    # rules ---------------------------------------------------------------------------

    @initialize(policy=st.sampled_from(POLICIES))
    def start(self, policy: dict[str, int]) -> None:
        self.attempt(
            {"type": "policy_changed", "id": "policy", "at": T0, "policy": policy}, ("ok", {None})
        )
        self.model.policy = P(**{**DEFAULTS, **{k: v for k, v in policy.items() if k != "version"}})

    @rule(action=st.sampled_from(ACTIONS), data=st.data())
    def step(self, action: str, data: st.DataObject) -> None:
        kwargs = data.draw(st.fixed_dictionaries(ACTION_ARGS[action]), label=action)
        if action in NEEDS_DATA:
            kwargs["data"] = data
        getattr(self, action)(**kwargs)

    def tick(self, hours: int) -> None:
        self.clock += timedelta(hours=hours)
        self.trace.append(f"tick {hours}h -> {self.clock}")

    def send(
        self,
        sender: str,
        other: int,
        itself: int,
        email: bool,
        reuse: int,
        report: int,
        data: st.DataObject,
    ) -> None:
        """A send (sometimes to oneself or with a used invitation id); in half the cases the
        recipient marks it "I don't know this person" at once, so reports pile up."""
        recipient = (
            sender if itself == 0 else MEMBERS[(MEMBERS.index(sender) + other) % len(MEMBERS)]
        )
        sent = self._send(sender, recipient, email, reuse, data)
        if sent is not None and report:
            self._respond("unknown", sent.event.invitation, 1)  # type: ignore[union-attr]

    def spam(self, other: int, data: st.DataObject) -> None:
        """ana invites someone (giving the email) who reports her at once: repeat offences."""
        self.send("ana", other, 1, True, 1, 1, data)

    def _send(
        self, sender: str, recipient: str, email: bool, reuse: int, data: st.DataObject
    ) -> Appended | None:
        m = self.model
        invitation = f"i{self.counter + 1}"
        if reuse == 0 and m.invitations:
            invitation = data.draw(
                st.sampled_from(sorted(m.invitations)), label="reused invitation id"
            )
        refused = m.send_time_rules(sender, recipient, email, self.clock)
        invitation_rules = []
        if invitation in m.invitations:
            invitation_rules.append("invitation-id-used")
        if sender == recipient:
            invitation_rules.append("self-invitation")
        if refused and invitation_rules:  # SPEC.md does not order these two kinds of rule
            expected: tuple[str, set[str | None]] = ("refused", {refused[0], *invitation_rules})
        elif refused:
            first = set(refused[:1])
            if first & {"connected", "pending"}:  # one rule: "connected, or ... pending"
                first |= {"connected", "pending"} & set(refused)
            expected = ("refused", first)
        elif invitation_rules:
            expected = ("refused", set(invitation_rules))
        else:
            expected = ("ok", {None})
        level = m.standing(sender, self.clock).level
        fields = {
            "type": "invitation_sent",
            "id": self.new_id(),
            "at": self.clock,
            "invitation": invitation,
            "sender": sender,
            "recipient": recipient,
            "message": "hello\n\tthere",
            "recipient_email": f"{recipient}@example.com" if email else None,
        }
        appended = self.attempt(fields, expected, command_rules=True)
        if appended is not None:
            assert (appended.warning is not None) == (level == "warned"), (appended.warning, level)
            m.invitations[invitation] = Invitation(sender, recipient, "pending", self.clock)
            m.reputation[sender]["sent"] += 1
        return appended

    def respond(self, verb: str, pick: int, before: int, data: st.DataObject) -> None:
        m = self.model
        answerable = ("pending", "ignored") if verb == "unknown" else ("pending",)
        open_ones = sorted(i for i, inv in m.invitations.items() if inv.status in answerable)
        known = open_ones if pick > 2 and open_ones else sorted(m.invitations)
        invitation = "no-such-invitation"
        if pick and known:
            invitation = data.draw(st.sampled_from(known), label="invitation")
        self._respond(verb, invitation, before)

    def _respond(self, verb: str, invitation: str, before: int) -> None:
        m = self.model
        at = self.clock
        found = m.invitations.get(invitation)
        if before == 0 and found is not None:
            at = found.sent_at - timedelta(hours=1)
        event_type = {
            "accepted": "invitation_accepted",
            "ignored": "invitation_ignored",
            "unknown": "invitation_marked_unknown",
            "withdrawn": "invitation_withdrawn",
        }[verb]
        if found is None:
            expected: tuple[str, set[str | None]] = ("unknown", {None})
        elif not (found.status == "pending" or (found.status == "ignored" and verb == "unknown")):
            expected = ("refused", {"invitation-state"})
        elif at < found.sent_at:
            expected = ("refused", {"response-before-send"})
        else:
            expected = ("ok", {None})
        event_id = self.new_id()
        appended = self.attempt(
            {"type": event_type, "id": event_id, "at": at, "invitation": invitation}, expected
        )
        if appended is None:
            return
        assert found is not None
        counts = m.reputation[found.sender]
        if found.status == "ignored":
            counts["ignored"] -= 1
        counts[verb] += 1
        found.status = verb
        if verb == "accepted":
            m.connected.add(frozenset((found.sender, found.recipient)))
        if verb in ("ignored", "unknown"):
            m.blocks.setdefault((found.sender, found.recipient), event_id)
        if verb == "unknown":
            m.inputs[found.sender].append(("report", m.seq, at, None))

    def appeal_or_resolve(
        self, file: int, granted: bool, pick: int, before: int, reuse: int, data: st.DataObject
    ) -> None:
        """File an appeal (mostly for a restricted member), grant or deny one, or file one and
        have it resolved at once (before the short restrictions of these policies expire)."""
        if file:
            restricted = [
                x for x in MEMBERS if self.model.standing(x, self.clock).level in RESTRICTIONS
            ]
            pool = restricted if pick and restricted else list(MEMBERS)
            filed = self._appeal(data.draw(st.sampled_from(pool), label="appellant"), reuse, data)
            if filed is not None and file == 2:
                self._resolve(granted, 7, 1, data, appeal=filed)
        else:
            self._resolve(granted, pick, before, data)

    def _appeal(self, member: str, reuse: int, data: st.DataObject) -> str | None:
        m = self.model
        appeal = f"a{self.counter + 1}"
        if reuse == 0 and m.appeals:
            appeal = data.draw(st.sampled_from(sorted(m.appeals)), label="reused appeal id")
        seen = m.standing(member, self.clock)
        if appeal in m.appeals:
            expected: tuple[str, set[str | None]] = ("refused", {"appeal-id-used"})
        elif seen.level not in RESTRICTIONS or seen.open_appeal is not None:
            expected = ("refused", {"appeal-not-allowed"})
        else:
            expected = ("ok", {None})
        fields = {
            "type": "appeal_filed",
            "id": self.new_id(),
            "at": self.clock,
            "appeal": appeal,
            "member": member,
            "statement": "I know\tthem",
        }
        if self.attempt(fields, expected) is None:
            return None
        m.appeals[appeal] = {"member": member, "filed_at": self.clock, "outcome": None}
        m.inputs[member].append(("filed", m.seq, self.clock, appeal))
        return appeal

    def _resolve(
        self, granted: bool, pick: int, before: int, data: st.DataObject, appeal: str | None = None
    ) -> None:
        m = self.model
        if appeal is None:
            appeal = "no-such-appeal"
            open_ones = sorted(a for a, r in m.appeals.items() if r["outcome"] is None)
            known = open_ones if pick > 2 and open_ones else sorted(m.appeals)
            if pick and known:
                appeal = data.draw(st.sampled_from(known), label="appeal")
        record = m.appeals.get(appeal)
        at = self.clock
        if before == 0 and record is not None:
            at = record["filed_at"] - timedelta(hours=1)
        if record is None:
            expected: tuple[str, set[str | None]] = ("unknown", {None})
        elif record["outcome"] is not None:
            expected = ("refused", {"appeal-resolved"})
        elif at < record["filed_at"]:
            expected = ("refused", {"resolution-before-filing"})
        else:
            expected = ("ok", {None})
        fields = {
            "type": "appeal_granted" if granted else "appeal_denied",
            "id": self.new_id(),
            "at": at,
            "appeal": appeal,
            "agent": "agent-kim",
            "note": "checked",
        }
        if self.attempt(fields, expected) is not None:
            assert record is not None
            record["outcome"] = "granted" if granted else "denied"
            m.inputs[record["member"]].append((record["outcome"], m.seq, at, appeal))

    def invalid(self, kind: str, data: st.DataObject) -> None:
        """A step that must be refused: a used event id, or input that is not valid."""
        if kind == "reuse-event-id":
            self._reuse_event_id(data)
        else:
            self._bad_input(kind)

    def _reuse_event_id(self, data: st.DataObject) -> None:
        """An otherwise valid response whose event id is already stored."""
        pending = sorted(i for i, inv in self.model.invitations.items() if inv.status == "pending")
        if not pending or not self.used_ids:
            return
        invitation = data.draw(st.sampled_from(pending), label="pending invitation")
        event_id = data.draw(st.sampled_from(self.used_ids), label="used event id")
        fields = {
            "type": "invitation_accepted",
            "id": event_id,
            "at": self.clock,
            "invitation": invitation,
        }
        self.attempt(fields, ("refused", {"event-id-used"}))

    def _bad_input(self, kind: str) -> None:
        fields: dict[str, Any] = {
            "type": "invitation_sent",
            "id": self.new_id(),
            "at": self.clock,
            "invitation": f"bad{self.counter}",
            "sender": "ana",
            "recipient": "ben",
        }
        if kind == "handle-space":
            fields["sender"] = "an a"
        elif kind == "message-esc":
            fields["message"] = "\x1b[31mred"
        elif kind == "email":
            fields["recipient_email"] = "ben-at-example"
        elif kind == "statement-c1":
            fields = {
                "type": "appeal_filed",
                "id": self.new_id(),
                "at": self.clock,
                "appeal": "bad",
                "member": "ana",
                "statement": "\u009b2J",
            }
        elif kind == "agent-space":
            fields = {
                "type": "appeal_denied",
                "id": self.new_id(),
                "at": self.clock,
                "appeal": "bad",
                "agent": "kim lee",
            }
        else:
            fields["id"] = "e\t1"
        self.attempt(fields, ("bad", {None}), command_rules=fields["type"] == "invitation_sent")

    # after every step ------------------------------------------------------------------

    @invariant()
    def after_step(self) -> None:
        m = self.model
        with self.book.store.read() as tx:
            for member in MEMBERS:
                for moment in (self.clock, self.clock + timedelta(hours=30)):
                    got = queries.status(tx, member, moment)
                    want = m.standing(member, moment)
                    where = f"{member} at {moment}\n" + "\n".join(self.trace[-20:])
                    event(f"standing seen: {want.level}")
                    assert got.standing == want.level, (
                        f"standing {got.standing} != {want.level}: {where}"
                    )
                    assert got.until == want.until, f"until {got.until} != {want.until}: {where}"
                    assert got.reports_counted == want.counted, (
                        f"counted {got.reports_counted} != {want.counted}: {where}"
                    )
                    assert (
                        got.open_appeal.appeal if got.open_appeal else None
                    ) == want.open_appeal, where
                    assert got.can_send == (want.level != "suspended")
                    assert got.requires_email == (want.level == "email_required")
                rep = got.reputation
                counts = m.reputation[member]
                assert (rep.sent, rep.accepted, rep.ignored, rep.unknown, rep.withdrawn) == (
                    counts["sent"],
                    counts["accepted"],
                    counts["ignored"],
                    counts["unknown"],
                    counts["withdrawn"],
                ), (member, rep, counts)
                blocks = queries.blocks(tx, member, self.clock)
                assert {(b.member, b.event_id) for b in blocks.blocked_by} == {
                    (r, e) for (s, r), e in m.blocks.items() if s == member
                }, (member, blocks)

    def look(self, member: str, recipient: str, email: bool, back: int) -> None:
        """Compare a past moment, and `check` for one pair."""
        span = (self.clock - T0).total_seconds()
        past = T0 + timedelta(seconds=round(span * back / 10_000))
        with self.book.store.read() as tx:
            got = queries.status(tx, member, past)
            want = self.model.standing(member, past)
            where = f"{member} at past moment {past}\n" + "\n".join(self.trace[-20:])
            assert (got.standing, got.until, got.reports_counted) == (
                want.level,
                want.until,
                want.counted,
            ), f"{(got.standing, got.until, got.reports_counted)} != {want}: {where}"
            if member != recipient:
                answer = queries.check(
                    tx, member, recipient, f"{recipient}@example.com" if email else None, self.clock
                )
                refused = self.model.send_time_rules(member, recipient, email, self.clock)
                assert answer.allowed == (not refused), (answer, refused, where)
                if refused:
                    acceptable = {refused[0]} | (
                        {"connected", "pending"} & set(refused)
                        if refused[0] in ("connected", "pending")
                        else set()
                    )
                    assert answer.rule in acceptable, (answer, refused)

    def teardown(self) -> None:
        try:
            if self.model.seq:
                self.after_step()
                incremental = rebuild.fingerprints(self.book.store)
                with rebuild.scratch() as space:
                    rebuild.feed(self.book.store, space)
                    assert rebuild.fingerprints(space) == incremental, (
                        "incremental views differ from a rebuild"
                    )
                rebuilt = rebuild.rebuild(self.book.store)
                assert rebuilt.fingerprints == incremental, (
                    "an in-place rebuild differs from the incremental views"
                )
                for size in (1, 3):  # the SQL path merging range into range
                    rebuild.clear(self.book.store)
                    end = rebuild.last_position(self.book.store)
                    done = False
                    while not done:
                        with self.book.store.write() as tx:
                            views = Views(tx)
                            bulk.apply_range(tx, views, min(end, views.position + size))
                            done = views.position >= end
                    assert rebuild.fingerprints(self.book.store) == incremental, (
                        f"the SQL path in ranges of {size} differs from the incremental views"
                    )
        finally:
            self.book.close()
            shutil.rmtree(self.folder, ignore_errors=True)


# No shrinking by default: a failure then costs seconds, not minutes, and its message
# carries the last steps. INVLEDGER_MODEL_SHRINK=1 shrinks to a minimal example.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
if os.environ.get("INVLEDGER_MODEL_SHRINK") == "1":
    _PHASES.append(Phase.shrink)

LedgerMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("INVLEDGER_MODEL_EXAMPLES", "30")),
    phases=_PHASES,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
TestLedgerModel = LedgerMachine.TestCase
