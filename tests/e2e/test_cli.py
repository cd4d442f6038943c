"""The real `invledger` process: output, exit codes and JSON documents of SPEC.md."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from cli.main import cli

START = datetime(2026, 1, 1, 12, tzinfo=UTC)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$")


def day(n: float, hours: float = 0) -> str:
    return (START + timedelta(days=n, hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The process's stderr must be exactly one `Error: ...` line, with no traceback."""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# Recording facts -------------------------------------------------------------------


def test_send_prints_the_new_invitation_id(invledger: Any) -> None:
    done = invledger("send", "maya", "noor", "--at", "2026-01-01T12:00:00Z")

    assert done.returncode == 0, done.stderr
    assert UUID.match(done.stdout.strip())
    assert done.stderr == ""


def test_send_with_an_invitation_id_prints_that_id_and_stores_it(invledger: Any) -> None:
    sent = invledger(
        "send",
        "maya",
        "noor",
        "--invitation",
        "inv-maya-noor",
        "--message",
        "Hi from the choir",
        "--at",
        "2026-01-01T12:00:00+01:00",
    )
    exported = invledger("export")

    assert sent.stdout == "inv-maya-noor\n"
    (line,) = exported.stdout.splitlines()
    event = json.loads(line)
    assert (
        event["invitation"],
        event["sender"],
        event["recipient"],
        event["message"],
        event["at"],
    ) == (
        "inv-maya-noor",
        "maya",
        "noor",
        "Hi from the choir",
        "2026-01-01T11:00:00Z",
    )


def test_a_refused_send_exits_1_with_one_error_line_and_no_traceback(invledger: Any) -> None:
    invledger("send", "maya", "noor", "--at", "2026-01-01T12:00:00Z")

    done = invledger("send", "maya", "noor", "--at", "2026-01-02T12:00:00Z")

    assert done.returncode == 1
    assert "pending" in one_error_line(done)
    assert done.stdout == ""


def test_a_response_to_an_unknown_invitation_exits_1(invledger: Any) -> None:
    assert invledger("send", "ola", "pim", "--at", "2026-01-01T12:00:00Z").returncode == 0
    done = invledger("accept", "inv-never-sent", "--at", "2026-01-02T12:00:00Z")

    assert done.returncode == 1
    assert "inv-never-sent" in one_error_line(done)


def test_a_time_without_a_zone_is_bad_input_and_exits_2(invledger: Any) -> None:
    done = invledger("send", "maya", "noor", "--at", "2026-01-01T12:00:00")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--at" in done.stderr
    assert "timezone" in done.stderr or "zone" in done.stderr


def test_a_bad_email_is_bad_input_exits_2_and_stores_nothing(invledger: Any, db: Path) -> None:
    done = invledger(
        "send", "maya", "noor", "--email", "noor-at-example", "--at", "2026-01-01T12:00:00Z"
    )

    assert done.returncode == 2
    assert "recipient_email" in one_error_line(done)
    assert invledger("export").stdout == ""


def test_a_warned_sender_sends_and_sees_the_warning_on_stderr(
    invledger: Any, tmp_path: Path
) -> None:
    five_reports = tmp_path / "five.jsonl"
    five_reports.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"s{n}",
                    "type": "invitation_sent",
                    "at": day(n, -1),
                    "invitation": f"i{n}",
                    "sender": "pablo",
                    "recipient": f"guest-{n}",
                }
            )
            + "\n"
            + json.dumps(
                {
                    "id": f"u{n}",
                    "type": "invitation_marked_unknown",
                    "at": day(n),
                    "invitation": f"i{n}",
                }
            )
            + "\n"
            for n in range(1, 6)
        )
    )
    invledger("import", str(five_reports))

    done = invledger("send", "pablo", "quentin", "--invitation", "inv-pq", "--at", day(6))

    assert done.returncode == 0
    assert done.stdout == "inv-pq\n"
    assert done.stderr == (
        "warning: pablo has 5 'I don't know this person' reports in the last 30 days; "
        "at 7, pablo will have to give the recipient's email for 30 days\n"
    )


def test_a_ledger_in_a_missing_folder_is_bad_input_with_one_error_line(
    invledger_on: Any, tmp_path: Path
) -> None:
    done = invledger_on(tmp_path / "no-such-folder" / "ledger.db", "status", "maya")

    assert done.returncode == 2
    assert "no-such-folder" in one_error_line(done)


def test_an_appeal_without_a_restriction_exits_1(invledger: Any) -> None:
    assert invledger("send", "maya", "noor", "--at", "2026-01-01T09:00:00Z").returncode == 0
    done = invledger(
        "appeal", "maya", "--statement", "I did nothing", "--at", "2026-01-01T12:00:00Z"
    )

    assert done.returncode == 1
    assert "no active restriction" in one_error_line(done)


# Import and export -----------------------------------------------------------------


def test_an_import_with_a_bad_line_exits_2_naming_the_line(invledger: Any, tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(
        json.dumps(
            {
                "id": "e1",
                "type": "invitation_sent",
                "at": "2026-01-01T12:00:00Z",
                "invitation": "i1",
                "sender": "rita",
                "recipient": "sven",
            }
        )
        + "\n"
        + "\n"
        + json.dumps(
            {
                "id": "e2",
                "type": "invitation_waved",
                "at": "2026-01-01T13:00:00Z",
                "invitation": "i1",
            }
        )
        + "\n"
        + json.dumps(
            {
                "id": "e3",
                "type": "invitation_accepted",
                "at": "2026-01-01T14:00:00Z",
                "invitation": "i1",
            }
        )
        + "\n"
    )

    done = invledger("import", str(history))
    kept = invledger("export")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1
    assert "line 3" in error[0]
    assert "invitation_waved" in error[0]
    assert [json.loads(line)["id"] for line in kept.stdout.splitlines()] == ["e1"]


def test_import_from_stdin_twice_skips_everything_the_second_time(
    invledger: Any, worked_example_file: Path
) -> None:
    history = worked_example_file.read_text()

    first = invledger("import", "-", stdin=history)
    second = invledger("import", "-", stdin=history)

    assert first.returncode == second.returncode == 0
    assert "imported 46 events, skipped 0" in first.stdout
    assert "imported 0 events, skipped 46" in second.stdout


def test_export_then_import_into_an_empty_file_is_byte_identical(
    worked_db: str, tmp_path: Path, invledger_on: Any
) -> None:
    invoke = invledger_on
    original = invoke(worked_db, "export", stdin=b"")
    copy = tmp_path / "copy.db"
    imported = invoke(copy, "import", "-", stdin=original.stdout)
    again = invoke(copy, "export", stdin=b"")

    assert imported.returncode == 0
    assert again.stdout == original.stdout
    assert original.stdout.count(b"\n") == 46


def test_export_since_a_position_writes_only_later_events(ask: Any) -> None:
    done = ask("export", "--since", "44")

    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == ["sent-46", "idk-46"]


# Queries ---------------------------------------------------------------------------

STATUS_FIELDS = {
    "member",
    "as_of",
    "standing",
    "until",
    "can_send",
    "requires_email",
    "reports_counted",
    "reputation",
    "open_appeal",
}


def test_status_json_on_day_8_says_email_required_until_day_37(ask: Any) -> None:
    done = ask("status", "alice", "--json", "--at", day(8))

    out = json.loads(done.stdout)
    assert done.returncode == 0
    assert STATUS_FIELDS <= set(out)
    assert (out["member"], out["as_of"], out["standing"], out["until"]) == (
        "alice",
        "2026-01-09T12:00:00Z",
        "email_required",
        "2026-02-07T12:00:00Z",
    )
    assert (out["can_send"], out["requires_email"], out["reports_counted"], out["open_appeal"]) == (
        True,
        True,
        0,
        None,
    )
    assert {
        "sent",
        "pending",
        "accepted",
        "ignored",
        "unknown",
        "withdrawn",
        "acceptance_rate",
        "score",
    } <= set(out["reputation"])


def test_status_json_shows_the_open_appeal(ask: Any) -> None:
    out = json.loads(ask("status", "alice", "--json", "--at", day(10, 6)).stdout)

    assert out["open_appeal"]["appeal"] == "ap-alice"
    assert out["open_appeal"]["filed_at"] == "2026-01-11T12:00:00Z"
    assert out["open_appeal"]["outcome"] is None


def test_status_json_of_a_suspension(ask: Any) -> None:
    out = json.loads(ask("status", "alice", "--json", "--at", day(46)).stdout)

    assert (out["standing"], out["until"], out["can_send"]) == (
        "suspended",
        "2026-03-02T12:00:00Z",
        False,
    )


def test_status_json_prints_fractional_seconds_only_when_not_zero(ask: Any) -> None:
    out = json.loads(
        ask("status", "alice", "--json", "--at", "2026-01-09T12:00:00.250+00:00").stdout
    )

    assert out["as_of"] == "2026-01-09T12:00:00.250000Z"


def test_status_in_human_form_is_readable_text(ask: Any) -> None:
    done = ask("status", "alice", "--at", day(8))

    assert done.returncode == 0
    assert "email_required" in done.stdout
    assert "2026-02-07T12:00:00Z" in done.stdout
    assert not done.stdout.lstrip().startswith("{")


EPISODE_FIELDS = {
    "level",
    "began_at",
    "until",
    "ended_at",
    "ended_by",
    "policy_version",
    "rule",
    "causes",
}
CAUSE_FIELDS = {"event_id", "position", "type", "invitation", "recipient", "at"}
APPEAL_FIELDS = {"appeal", "filed_at", "statement", "outcome", "agent", "resolved_at"}


def test_audit_json_gives_episodes_with_exact_causes_and_appeals(ask: Any) -> None:
    done = ask("audit", "alice", "--json", "--at", day(100))

    out = json.loads(done.stdout)
    assert {"member", "as_of", "episodes", "appeals"} <= set(out)
    assert all(EPISODE_FIELDS <= set(e) for e in out["episodes"])
    assert [(e["level"], e["began_at"], e["ended_by"]) for e in out["episodes"]] == [
        ("warned", "2026-01-06T12:00:00Z", "escalation"),
        ("email_required", "2026-01-08T12:00:00Z", "appeal"),
        ("warned", "2026-01-25T12:00:00Z", "escalation"),
        ("suspended", "2026-01-27T12:00:00Z", "expiry"),
        ("warned", "2026-02-14T12:00:00Z", "escalation"),
        ("suspended", "2026-02-16T12:00:00Z", "expiry"),
    ]
    restriction = out["episodes"][1]
    assert (restriction["until"], restriction["ended_at"], restriction["policy_version"]) == (
        "2026-02-07T12:00:00Z",
        "2026-01-12T12:00:00Z",
        1,
    )
    assert all(CAUSE_FIELDS <= set(c) for c in restriction["causes"])
    assert [
        (c["event_id"], c["invitation"], c["recipient"], c["type"], c["at"])
        for c in restriction["causes"]
    ] == [
        (
            f"idk-{n:02d}",
            f"inv-alice-{n:02d}",
            f"stranger-{n:02d}",
            "invitation_marked_unknown",
            day(n),
        )
        for n in range(1, 8)
    ]
    positions = [c["position"] for c in restriction["causes"]]
    assert positions == sorted(positions) and all(isinstance(p, int) and p > 0 for p in positions)
    (appeal,) = out["appeals"]
    assert APPEAL_FIELDS <= set(appeal)
    assert (
        appeal["appeal"],
        appeal["filed_at"],
        appeal["statement"],
        appeal["outcome"],
        appeal["agent"],
        appeal["resolved_at"],
    ) == (
        "ap-alice",
        "2026-01-11T12:00:00Z",
        "They were my classmates",
        "granted",
        "agent-grete",
        "2026-01-12T12:00:00Z",
    )


def test_audit_positions_are_the_positions_in_the_log(ask: Any) -> None:
    audit = json.loads(ask("audit", "alice", "--json", "--at", day(100)).stdout)
    logged = json.loads(ask("events", "--type", "invitation_marked_unknown", "--json").stdout)

    position_of = {e["id"]: e["position"] for e in logged["events"]}
    causes = [c for e in audit["episodes"] for c in e["causes"]]
    assert causes and all(c["position"] == position_of[c["event_id"]] for c in causes)


def test_audit_statement_names_no_recipient(ask: Any) -> None:
    done = ask("audit", "alice", "--statement", "--at", day(8))

    assert done.returncode == 0
    assert "stranger-" not in done.stdout
    assert "policy version 1" in done.stdout
    assert "appeal" in done.stdout


def test_every_time_in_the_json_documents_is_utc_with_z(ask: Any) -> None:
    audit = json.loads(ask("audit", "alice", "--json", "--at", day(100)).stdout)

    def times(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [
                v
                for k, v in node.items()
                if (k == "at" or k.endswith("_at") or k in ("until", "as_of"))
                and isinstance(v, str)
            ] + [t for v in node.values() for t in times(v)]
        if isinstance(node, list):
            return [t for v in node for t in times(v)]
        return []

    found = times(audit)
    assert len(found) > 20
    assert all(UTC_TIME.match(t) for t in found), found


def test_check_exits_1_and_names_the_rule_when_refused(ask: Any) -> None:
    done = ask("check", "alice", "newcomer-nina", "--at", day(8))

    assert done.returncode == 1
    assert "email-required" in one_error_line(done)


def test_a_repeat_offender_is_warned_of_the_suspension_not_of_the_email_rule(ask: Any) -> None:
    # Day 24: warned again, with the restriction of day 7 inside the recidive window.
    done = ask("check", "alice", "newcomer-nina", "--at", day(24, 1))

    as_json = ask("check", "alice", "newcomer-nina", "--at", day(24, 1), "--json")

    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == (
        "warning: alice has 5 'I don't know this person' reports in the last 30 days; "
        "at 7, alice will be suspended for 7 days"
    )
    # the JSON holds the sentence alone: the text form's "warning:" is its label
    assert json.loads(as_json.stdout)["warning"] == done.stdout.splitlines()[-1].removeprefix(
        "warning: "
    )


def test_a_refused_send_names_the_rule_as_check_does(ask: Any) -> None:
    # Day 27: suspended since day 26 (a read-only ledger is enough: nothing is stored).
    checked = ask("check", "alice", "newcomer-nina", "--at", day(27))
    sent = ask("send", "alice", "newcomer-nina", "--at", day(27))

    assert (checked.returncode, sent.returncode) == (1, 1)
    assert one_error_line(sent) == one_error_line(checked)
    assert one_error_line(sent).startswith("Error: refused by rule 'suspended': alice is")


def test_check_with_an_invalid_email_is_bad_input_and_exits_2(ask: Any) -> None:
    done = ask("check", "alice", "newcomer-nina", "--email", "nina-at-example", "--at", day(8))

    assert done.returncode == 2
    assert "recipient_email" in one_error_line(done)


def test_status_of_a_handle_with_whitespace_is_bad_input_and_exits_2(ask: Any) -> None:
    done = ask("status", "ali ce", "--at", day(8))

    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_check_exits_0_when_allowed(ask: Any) -> None:
    done = ask("check", "alice", "newcomer-nina", "--email", "nina@example.org", "--at", day(8))

    assert done.returncode == 0
    assert done.stdout.startswith("yes")
    assert done.stderr == ""


def test_events_for_a_member_leave_out_everyone_else(ask: Any) -> None:
    done = ask("events", "--member", "alice", "--json")

    events = json.loads(done.stdout)["events"]
    ids = [e["id"] for e in events]
    assert len(events) == 44  # 21 invitations, 21 reports, the appeal and its grant
    assert "sent-bram-cato" not in ids and "acc-bram-cato" not in ids
    assert {"filed-ap-alice", "granted-ap-alice", "sent-01", "idk-46"} <= set(ids)
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)


def test_events_for_a_member_by_type_lists_the_reports_against_them(ask: Any) -> None:
    # The example in `invledger events --help`.
    done = ask("events", "--member", "alice", "--type", "invitation_marked_unknown", "--json")

    ids = [e["id"] for e in json.loads(done.stdout)["events"]]
    assert ids == [f"idk-{n:02d}" for n in [*range(1, 8), *range(20, 27), *range(40, 47)]]


def test_events_with_an_unknown_type_is_bad_usage(ask: Any) -> None:
    done = ask("events", "--type", "invitation_waved")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr


# Help ------------------------------------------------------------------------------


def every_command(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):  # click's API: lazy commands included
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += every_command(command, (*path, name))
    return found


def test_the_cli_has_the_commands_of_the_spec() -> None:
    names = {" ".join(path) for path, _ in every_command(cli)}

    assert {
        "send",
        "accept",
        "ignore",
        "idk",
        "withdraw",
        "appeal",
        "grant",
        "deny",
        "check",
        "status",
        "audit",
        "blocks",
        "restricted",
        "appeals",
        "events",
        "import",
        "export",
        "replay",
        "policy show",
        "policy set",
        "simulate",
        "demo",
    } <= names


def test_every_command_has_help_text_with_an_example() -> None:
    runner = CliRunner()
    missing: list[str] = []
    for path, command in [((), cli), *every_command(cli)]:
        shown = runner.invoke(cli, [*path, "--help"])
        name = " ".join(("invledger", *path))
        if shown.exit_code != 0 or not (command.help or "").strip():
            missing.append(f"{name}: no help")
        elif "Example" not in shown.output:
            missing.append(f"{name}: no example")
        if runner.invoke(cli, [*path, "-h"]).output != shown.output:
            missing.append(f"{name}: -h differs from --help")

    assert missing == []
