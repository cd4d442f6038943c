"""Commands that move many events: import, export, replay, policy, simulate, demo."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import signal
import stat
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import click

from cli import render
from cli.options import (
    MOMENT,
    POSITION,
    InputFile,
    OnceEach,
    OnceEachGroup,
    at_option,
    fact_at_option,
    handle_errors,
    moment_or_now,
    stored,
)
from cli.progress import ProgressLine

# A policy names a version and at most eight fields: a file longer than this is not one.
MAX_POLICY_BYTES = 64 * 1024

# The largest simulations offered: members are held in memory (about 350 bytes each),
# invitations stream.
MAX_MEMBERS = 10_000_000
MAX_INVITATIONS = 1_000_000_000


def _finite(value: float) -> float:
    if not math.isfinite(value):  # FloatRange lets NaN through
        raise click.BadParameter(f"{value} is not a number of seconds")
    return value


def _ledger() -> Any:
    from cli.main import ledger

    return ledger()


@click.command("import", cls=OnceEach)
@click.argument("file", type=InputFile())
@handle_errors
def import_(file: IO[bytes]) -> None:
    """Append a JSONL file of events (`-` for stdin). Idempotent by event id.

    A bad line stops the import with its line number (exit 2); everything before it
    stays committed, and running the fixed file again resumes.

    \b
    Example:
        invledger simulate --members 1000 --invitations 10000 --seed 1 > history.jsonl
        invledger import history.jsonl
    """
    from cli.main import creating_ledger
    from ledger.errors import BadInput, ImportStopped, StorageError

    total = _size(file)
    bar = ProgressLine("importing", unit="lines")
    committed = [0]  # lines read when the latest batch was committed
    # SIGTERM (a service manager's stop, `kill`) ends it as Ctrl-C does: told how far it
    # got and how to resume, where the default would end it without a word.
    signal.signal(signal.SIGTERM, _as_interrupt)

    def progress(lines: int, read: int) -> None:
        committed[0] = lines
        bar.update(lines, read / total if total else None)

    try:
        # Where there is no ledger yet, the first event is tried on an empty one first:
        # if it cannot be stored, nothing can, and no ledger is created.
        lines = _bounded_lines(file)
        first = _Leading(lines)
        book = creating_ledger(lambda empty: empty.import_lines(first))
        result = book.import_lines(
            itertools.chain(first, lines), progress, read_ahead=_cannot_stall(file)
        )
    except KeyboardInterrupt:
        bar.finish()
        click.echo(
            # A batch may have committed just before its progress was told: "at least".
            f"Interrupted: at least the first {committed[0]:,} lines are stored, in whole "
            "batches; run the same import again to resume (stored events are skipped)",
            err=True,
        )
        sys.exit(130)
    except StorageError:
        bar.finish()
        if committed[0]:  # the server was lost mid-import, or the file's disk
            click.echo(
                f"at least the first {committed[0]:,} lines are stored, in whole batches; run "
                "the same import again to resume once the cause below is mended",
                err=True,
            )
        raise
    except ImportStopped as stopped:
        bar.finish()
        click.echo(
            f"imported {_events(stopped.imported)}, skipped {stopped.skipped:,} already in the "
            "ledger, before the bad line",
            err=True,
        )
        raise
    except _InputUnreadable as error:
        bar.finish()
        if committed[0]:
            click.echo(
                f"at least the first {committed[0]:,} lines are stored, in whole batches; run "
                "the same import again to resume",
                err=True,
            )
        name = getattr(file, "name", None) or "the input"
        raise BadInput(f"cannot read {name}: {error.reason}") from None
    elapsed = bar.finish()
    rate = result.imported / elapsed if elapsed > 0 else 0.0
    stored(f"the import is done ({_events(result.imported)} stored)")
    click.echo(
        f"imported {_events(result.imported)}, skipped {result.skipped:,} already in the ledger "
        f"({elapsed:.1f}s, {rate:,.0f} events/s)"
    )


def _as_interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _events(count: int) -> str:
    return f"{count:,} event" if count == 1 else f"{count:,} events"


def _bounded_lines(file: IO[bytes]) -> Iterator[bytes]:
    """The file's lines, none held longer than a line may be.

    A line longer than that stands as one line that the parser refuses for its length,
    and is the last: the import stops there, so nothing after it is read (an endless
    input, `/dev/zero`, is refused at once). One of blanks only is read on in pieces to
    its end and stands as a blank line. A file of one line of gigabytes is thus refused
    without being held in memory.
    """
    from ledger.events import MAX_LINE_BYTES

    limit = MAX_LINE_BYTES + 3  # the longest line allowed, its "\r\n", and one byte more

    def read() -> bytes:
        try:
            return file.readline(limit)
        except OSError as error:  # the file's disk, a device that cannot be read
            raise _InputUnreadable(error) from None

    while piece := read():
        if len(piece) < limit or piece.endswith(b"\n"):
            yield piece
            continue
        while not piece.strip() and not piece.endswith(b"\n"):
            piece = read()
            if not piece:
                break
        if piece.strip():
            yield b"?" * limit  # too long: the import stops at it
            return
        yield b"\n"


class _InputUnreadable(Exception):
    """Reading an import's input failed (the OSError it raised, as `reason`)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))
        self.reason = error.strerror or str(error)


class _Leading:
    """The lines of an import up to its first one that is not blank (as `import_lines`
    reads them: a byte order mark starting the file is no content), to be read twice.

    The blank lines after the first are kept as a count, not as lines: a file that
    begins with millions of them costs no more memory than one that begins with one.
    Each is given back as a bare newline, which the import skips as it skips them.
    """

    def __init__(self, file: Iterator[bytes]) -> None:
        from ledger.events import UTF8_BOM

        self.first: bytes | None = next(file, None)
        self.blanks = 0
        self.event: bytes | None = None
        if self.first is None or self.first.removeprefix(UTF8_BOM).strip():
            return
        for raw in file:
            if raw.strip():
                self.event = raw
                break
            self.blanks += 1

    def __iter__(self) -> Iterator[bytes]:
        if self.first is not None:
            yield self.first
        yield from itertools.repeat(b"\n", self.blanks)
        if self.event is not None:
            yield self.event


def _cannot_stall(file: IO[bytes]) -> bool:
    """Whether reading the file never waits on another process: a regular file does not,
    a pipe or a terminal may, for as long as its writer pauses."""
    try:
        return stat.S_ISREG(os.fstat(file.fileno()).st_mode)
    except (OSError, ValueError):
        return False


def _size(file: IO[bytes]) -> int | None:
    try:
        if file.seekable():
            return os.fstat(file.fileno()).st_size or None
    except (OSError, ValueError):
        pass
    return None


@click.command(cls=OnceEach)
@click.option("--since", type=POSITION, default=0, help="Only events after this position.")
@handle_errors
def export(since: int) -> None:
    """Write the log to stdout as JSONL, the import format.

    \b
    Example:
        invledger export > backup.jsonl
        invledger --db copy.db import backup.jsonl
    """
    from projections.rebuild import last_position

    book = _ledger()
    # Rows another tool appended are read as every command reads them first: one that is
    # not an event invledger can import stops the export, not the restore after it.
    book.ensure_current()
    bar = ProgressLine("exporting", max(last_position(book.store) - since, 0), writes_stdout=True)
    out = sys.stdout.buffer
    book.export(out, since, bar.advance)
    out.flush()
    bar.finish()


@click.command(cls=OnceEach)
@click.option(
    "--until", type=MOMENT, help="Build the views as of this moment (in a scratch space)."
)
@click.option(
    "--policy",
    "policy_file",
    type=InputFile(),
    help="What-if: apply this policy (JSON or TOML) from the start; writes nothing. "
    "With --until, compare as of that moment.",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Compare a fresh rebuild with the stored views; exit 1 on any difference.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@handle_errors
def replay(
    until: datetime | None, policy_file: IO[bytes] | None, check_only: bool, as_json: bool
) -> None:
    """Rebuild every view from the log, with a progress bar and a fingerprint of each view.

    \b
    Examples:
        invledger replay
        invledger replay --check
        invledger replay --until 2026-03-01T00:00:00Z
        invledger replay --policy stricter.toml --json
        invledger replay --policy stricter.toml --until 2026-01-01T00:00:00Z
    """
    from ledger.errors import BadInput
    from projections import rebuild

    if check_only and (until is not None or policy_file is not None):
        raise BadInput(
            "--check compares a rebuild of the whole log with the stored views: "
            "it cannot be combined with --until or --policy"
        )
    book = _ledger()
    store = book.store
    total = rebuild.last_position(store)
    if policy_file is not None:
        _what_if(book, _read_policy(policy_file, what_if=True), total, as_json, until)
        return
    if until is not None or check_only:
        book.ensure_current()
        stored: dict[str, str] = {}
        if check_only:
            # The stored views and the log through the position they reflect, in one
            # snapshot: what other writers append meanwhile is in neither.
            total, stored = rebuild.fingerprinted(store)
        with rebuild.scratch() as space:
            bar = ProgressLine("replaying", total)
            applied = rebuild.feed(store, space, until=until, progress=bar.advance, through=total)
            elapsed = bar.finish()
            fresh = rebuild.fingerprints(space)
            summary: dict[str, Any] = {
                "events": applied,
                "last_position": total,
                "until": render.when(until) if until else None,
                "seconds": round(elapsed, 3),
                "fingerprints": fresh,
            }
            if until is not None:
                from projections import queries

                with space.read() as tx:
                    summary["restricted"] = render.plain(queries.restricted(tx, until))["members"]
            if check_only:
                summary["differences"] = sorted(t for t in fresh if fresh[t] != stored[t])
        _print_replay(summary, as_json)
        if check_only and summary["differences"]:
            sys.exit(1)
        return
    bar = ProgressLine("replaying", total)
    result = rebuild.rebuild(
        store, progress=bar.advance, fingerprinting=lambda: bar.say("fingerprinting the views")
    )
    elapsed = bar.finish()
    _print_replay(
        {
            "events": result.events,
            "last_position": result.last_position,
            "seconds": round(elapsed, 3),
            "events_per_second": round(result.events / elapsed) if elapsed else None,
            "fingerprints": result.fingerprints,
        },
        as_json,
    )


def _print_replay(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    what = f"as of {summary['until']}" if summary.get("until") else "from the whole log"
    click.echo(
        f"replayed {_events(summary['events'])} {what} (the log read through position "
        f"{summary['last_position']}) in {summary['seconds']}s"
    )
    for table, digest in summary["fingerprints"].items():
        click.echo(f"  {table:<22} {digest}")
    if "restricted" in summary:
        click.echo(f"members not in good standing then: {len(summary['restricted'])}")
        for m in summary["restricted"][:20]:
            click.echo(f"  {m['member']:<20} {m['standing']:<15} until {m['until'] or '-'}")
        if len(summary["restricted"]) > 20:
            click.echo(
                f"  ... and {len(summary['restricted']) - 20} more (`replay --until ... --json` "
                "lists them all)"
            )
    if "differences" in summary:
        if summary["differences"]:
            click.echo("DIFFERENT from the stored views: " + ", ".join(summary["differences"]))
        else:
            click.echo("the stored views equal a fresh rebuild")


def _what_if(book: Any, whatif: Any, total: int, as_json: bool, until: datetime | None) -> None:
    """Who would stand differently under `whatif` from the start: now, or as of `until`."""
    from projections import rebuild
    from projections.queries import latest_time

    book.ensure_current()
    moment = until or moment_or_now(None)
    if until is None:
        with book.store.read() as tx:
            if latest_time(tx) > moment:
                # Events dated later than now (an import may hold them): the views
                # hold them, so both sides are fed up to now, as with `--until`.
                until = moment
    with rebuild.scratch() as space, rebuild.scratch() as real_space:
        bar = ProgressLine("what-if", total * (2 if until else 1))
        rebuild.feed(book.store, space, until=until, policy=whatif, progress=bar.advance)
        if until is not None:
            # The real history as of that moment too, so both sides are judged alike.
            rebuild.feed(book.store, real_space, until=until, progress=bar.advance)
        bar.finish()
        real = _standings(real_space if until else book.store, moment, None)
        other = _standings(space, moment, whatif)
    changed = []
    for member in sorted(real.keys() | other.keys()):
        a = real.get(member, ("good", None, 0))
        b = other.get(member, ("good", None, 0))
        if a != b:
            changed.append(
                {
                    "member": member,
                    "standing": a[0],
                    "what_if_standing": b[0],
                    "until": render.when(a[1]) if a[1] else None,
                    "what_if_until": render.when(b[1]) if b[1] else None,
                    "episodes": a[2],
                    "what_if_episodes": b[2],
                }
            )
    result = {"as_of": render.when(moment), "policy": whatif.as_dict(), "changed": changed}
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"what-if policy {json.dumps(whatif.as_dict())}")
    if not changed:
        click.echo("nobody would fare differently: the same standing and episodes for all")
        return
    now = sum(
        1
        for c in changed
        if (c["standing"], c["until"]) != (c["what_if_standing"], c["what_if_until"])
    )
    click.echo(
        f"{len(changed)} member{'s' if len(changed) != 1 else ''} would fare differently as of "
        f"{render.when(moment)}: "
        f"{now} in their standing then (its level or its end), {len(changed) - now} only in how "
        "many episodes they had:"
    )
    click.echo(
        render.table(
            ["member", "standing", "until", "what-if standing", "until", "episodes", "what-if"],
            [
                (
                    c["member"],
                    c["standing"],
                    c["until"],
                    c["what_if_standing"],
                    c["what_if_until"],
                    c["episodes"],
                    c["what_if_episodes"],
                )
                for c in changed
            ],
        )
    )


def _standings(
    store: Any, moment: datetime, fixed: Any
) -> dict[str, tuple[str, datetime | None, int]]:
    """Each reported member's level at `moment`, until when, and number of episodes."""
    from projections import standing as rules
    from projections.views import load_policy

    found: dict[str, tuple[str, datetime | None, int]] = {}
    with store.read() as tx:
        policy = fixed or load_policy(tx)
        for member, data in tx.all("SELECT member, state FROM inv_standing"):
            state = rules.MemberStanding.from_json(json.loads(data))
            seen = rules.view(state, moment, policy)
            found[member] = (seen.level, seen.until, seen.episodes)
    return found


def _read_policy(file: IO[bytes], what_if: bool = False) -> Any:
    """A policy file (JSON or TOML): a full policy for a what-if, a change for `policy set`."""
    from pydantic import ValidationError

    from ledger.errors import BadInput
    from ledger.events import UTF8_BOM, RepeatedKey, describe
    from ledger.policy_input import PolicyChange, whole_policy

    name = getattr(file, "name", "policy file")
    try:
        raw = file.read(MAX_POLICY_BYTES + 1)  # not an endless one whole (`/dev/zero`)
    except OSError as error:
        raise BadInput(f"cannot read {name}: {error.strerror or error}") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise BadInput(f"{name}: longer than {MAX_POLICY_BYTES // 1024} KiB, which no policy needs")
    raw = raw.removeprefix(UTF8_BOM)  # editors on some systems write one
    try:
        data = _json_or_toml(raw)
    except UnicodeDecodeError:
        raise BadInput(f"{name}: not UTF-8 text") from None
    except RepeatedKey as error:
        raise BadInput(f"{name}: {error}") from None
    except ValueError as error:
        raise BadInput(f"{name}: neither JSON nor TOML ({error})") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise BadInput(f"{name}: nested too deeply to be a policy") from None
    if not isinstance(data, dict):
        raise BadInput(f"{name}: a policy is a JSON object or a TOML table")
    if what_if and not data.keys() - {"version"}:
        # An empty or cut-short file would mean the defaults, unseen; a version is no field.
        raise BadInput(f"{name}: names no policy field (a what-if takes a full policy)")
    try:
        if what_if:
            return whole_policy(data)
        return PolicyChange.model_validate(data)
    except ValidationError as error:
        raise BadInput(f"{name}: {describe(error)}") from None
    except ValueError as error:  # fields that do not go together
        raise BadInput(f"{name}: {error}") from None
    except RecursionError:
        raise BadInput(f"{name}: nested too deeply to be a policy") from None


def _json_or_toml(raw: bytes) -> Any:
    """JSON when it starts like JSON and parses as JSON (`[1]` is also a TOML table
    header, but JSON is what its writer meant), else TOML."""
    import tomllib

    from ledger.events import RepeatedKey, loads_once_each

    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            return loads_once_each(raw)  # TOML refuses a repeated key itself
        except RepeatedKey:
            raise
        except ValueError:
            if raw.lstrip()[:1] == b"{":
                raise
    return tomllib.loads(raw.decode())


@click.group(cls=OnceEachGroup)
def policy() -> None:
    """The policy in force, and changing it (a `policy_changed` event).

    \b
    Example:
        invledger policy show
        invledger policy set stricter.toml
    """


@policy.command("show")
@at_option("The moment to look at (ISO 8601 with a zone; default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@handle_errors
def policy_show(at: datetime | None, as_json: bool) -> None:
    """The policy in force now, or at a moment (`--at`): a change dated later is not yet.

    \b
    Example:
        invledger policy show --json
        invledger policy show --at 2025-06-01T00:00:00Z
    """
    from cli.main import read_current
    from projections.history import policy_at

    current = read_current(policy_at, moment_or_now(at))  # views found current in its snapshot
    if as_json:
        click.echo(json.dumps(current.as_dict(), indent=2))
        return
    for field, value in current.as_dict().items():
        click.echo(f"{field:<22} {value}")


@policy.command("set")
@click.argument("file", type=InputFile())
@fact_at_option(
    "When it takes effect (default: now).",
    why="a policy change applies from its place in the log on, so it takes effect when it "
    "is set: run `policy set` at the moment it should",
)
@handle_errors
def policy_set(file: IO[bytes], at: datetime | None) -> None:
    """Change the policy from a JSON or TOML file: a larger `version` and the fields to change.

    The change applies from its place in the log on, so it takes effect when it is set:
    it cannot be scheduled for later. Versions take effect in the order of their numbers:
    a change dated before the latest one stored is refused. (An import records a
    history's changes as they were.)

    \b
    Example (stricter.toml):
        version = 2
        restrict_at = 5

    \b
    then:
        invledger policy set stricter.toml
    """
    from cli.main import creating_ledger
    from ledger.application import command_event
    from ledger.errors import BadInput

    change = _read_policy(file)
    event = command_event(
        {"type": "policy_changed", "policy": change.model_dump(exclude_none=True), "at": at}
    )
    try:
        book = creating_ledger(lambda empty: empty.append(event, command_rules=True))
        result = book.append(event, command_rules=True)
    except BadInput as error:
        reason = str(error)
        if not reason.startswith("policy: "):
            raise
        # Fields that do not go together with the policy in force: the file's fault.
        name = getattr(file, "name", "policy file")
        raise BadInput(f"{name}: {reason.removeprefix('policy: ')}") from None
    stored(
        f"policy version {change.version} is stored (event {event.id}, position {result.position})"
    )
    click.echo(f"policy version {change.version} in force from {render.when(result.event.at)}")


@click.command(cls=OnceEach)
@click.option(
    "--members", type=click.IntRange(3, MAX_MEMBERS), required=True, help="How many members."
)
@click.option(
    "--invitations",
    type=click.IntRange(0, MAX_INVITATIONS),
    required=True,
    help="How many invitations.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same history.")
@click.option(
    "--policy-changes",
    is_flag=True,
    help="Include policy changes in the history: stricter limits after a third of it, a longer window after two thirds.",
)
@handle_errors
def simulate(members: int, invitations: int, seed: int, policy_changes: bool) -> None:
    """Write a realistic synthetic history (ordinary members and spammers) as JSONL to stdout.

    The history spans 2025 (a fixed year, so a seed gives the same bytes on any day):
    ask `status`, `audit` or `restricted` with an --at in 2025 to see its restrictions,
    which have ended by now. Each member invites at most half the others, so
    INVITATIONS may be at most MEMBERS x floor((MEMBERS - 1) / 2).

    \b
    Example:
        invledger simulate --members 2000 --invitations 20000 --seed 7 > history.jsonl
    """
    out = sys.stdout.buffer  # UTF-8 whatever the locale: the import format's encoding
    bar = ProgressLine("simulating", invitations, unit="invitations", writes_stdout=True)
    sent = 0
    for event in _generate(members, invitations, seed, policy_changes=policy_changes):
        out.write(_line(event))
        if event["type"] == "invitation_sent":
            sent += 1
            if sent % 1000 == 0:
                bar.update(sent)
    out.flush()
    bar.finish()


def _line(event: dict[str, Any]) -> bytes:
    """An event as a line of the import format, spelt as `export` writes it (non-ASCII text
    as UTF-8, not escaped), so that an import reads it on its fast path."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _generate(members: int, invitations: int, seed: int, **options: Any) -> Any:
    """The simulated history, or BadInput for sizes it cannot honour."""
    from ledger.errors import BadInput
    from ledger.simulation import simulate as generate

    try:
        return generate(members, invitations, seed, **options)
    except ValueError as error:
        raise BadInput(str(error)) from None


# In the meta table of a ledger `demo` made: only such a ledger, and its history file,
# may a later demo replace.
DEMO_MARK = "made_by_demo"


def _may_replace(path: str, history: str) -> None:
    """Refuse to replace anything but the files of an earlier demo."""
    from ledger.errors import BadInput

    if os.path.lexists(path) and not _made_by_demo(path):
        raise BadInput(
            f"{path} exists and is not a ledger that demo made (or one an earlier invledger "
            "made, unmarked): demo replaces only its own files; give another --path, or "
            "delete it"
        )
    if os.path.lexists(history) and not os.path.lexists(path):
        raise BadInput(
            f"{history} exists and demo would overwrite it with its history; give another "
            "--path, or delete it"
        )


def _made_by_demo(path: str) -> bool:
    import sqlite3

    from ledger.store import probe_uri

    try:
        probe = sqlite3.connect(probe_uri(path), uri=True)
        try:
            found = probe.execute(
                "SELECT value FROM inv_meta WHERE key = ?", (DEMO_MARK,)
            ).fetchone()
        finally:
            probe.close()
    except sqlite3.Error:
        return False
    return found is not None


@click.command(cls=OnceEach)
@click.option(
    "--path",
    default="invledger-demo.db",
    show_default=True,
    help=(
        "The SQLite file to create, with its history beside it (PATH's name with .jsonl). "
        "Only the files of an earlier demo are replaced."
    ),
)
@click.option(
    "--members",
    type=click.IntRange(10, MAX_MEMBERS),
    default=3000,
    show_default=True,
    help="Members in the simulated network.",
)
@click.option(
    "--invitations",
    type=click.IntRange(10, MAX_INVITATIONS),
    default=30000,
    show_default=True,
    help="Invitations sent in the simulated history (each with its responses).",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="The simulation's seed: the same seed gives the same history.",
)
@handle_errors
def demo(path: str, members: int, invitations: int, seed: int) -> None:
    """The main job, end to end: simulate a history, import it, show who is restricted and why.

    \b
    Example:
        invledger demo
    """
    from ledger.application import Ledger
    from ledger.errors import BadInput
    from projections import queries
    from projections.statement import statement_of_reasons

    root = click.get_current_context().find_root()
    if root.get_parameter_source("db") == click.core.ParameterSource.COMMANDLINE:
        raise BadInput("demo makes its own ledger: give its file with --path, not --db")
    events = _generate(members, invitations, seed)
    history = os.path.splitext(path)[0] + ".jsonl"
    if os.path.abspath(history) == os.path.abspath(path):
        raise BadInput(
            f"--path {path} would also name the demo's history ({history}): "
            "give the ledger a name that does not end in .jsonl"
        )
    _may_replace(path, history)
    try:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    except OSError as error:
        raise BadInput(f"cannot replace {path}: {error.strerror}") from None
    book = Ledger(path)  # a folder that is missing or not writable stops here, in one line
    with book.store.write() as tx:
        tx.run(f"INSERT INTO inv_meta VALUES ('{DEMO_MARK}', 'yes')")
    click.secho(
        f"1. simulating {members:,} members and {invitations:,} invitations -> {history}", bold=True
    )
    try:
        if os.path.lexists(history):  # the link itself, never a file it points to
            os.remove(history)
        with open(history, "wb") as out:
            out.writelines(_line(event) for event in events)
    except OSError as error:
        raise BadInput(f"cannot write {history}: {error.strerror}") from None
    click.secho(f"2. importing into {path}", bold=True)
    bar = ProgressLine("importing", unit="lines")
    size = os.path.getsize(history)
    with open(history, "rb") as lines:
        result = book.import_lines(lines, lambda n, read: bar.update(n, read / size))
    elapsed = bar.finish()
    click.echo(f"   imported {result.imported:,} events in {elapsed:.1f}s")
    with book.store.read() as tx:
        moment = queries.latest_time(tx)
        listed = queries.restricted(tx, moment)
    click.secho(
        f"3. members not in good standing at the end of the history ({render.when(moment)})",
        bold=True,
    )
    shown = dataclasses.replace(listed, members=listed.members[:15])
    click.echo(render.restricted(shown))
    if len(listed.members) > 15:
        click.echo(
            f"   ... and {len(listed.members) - 15} more (invledger --db {path} restricted --at {render.when(moment)})"
        )
    if not listed.members:
        click.echo("nobody is restricted in this history")
        return
    # Show the offender with the longest history: repeat offences and appeals explain most.
    with book.store.read() as tx:
        audits = [queries.audit(tx, m.member, moment) for m in listed.members[:50]]
    report = max(audits, key=lambda a: (a.standing != "warned", len(a.episodes), len(a.appeals)))
    offender = report.member
    click.secho(
        f"4. why is {offender} restricted? "
        f"(invledger --db {path} audit {offender} --at {render.when(moment)})",
        bold=True,
    )
    click.echo(render.audit(report))
    click.secho(f"5. the statement of reasons {offender} receives", bold=True)
    click.echo(statement_of_reasons(report))
    click.echo(
        f"\nTry: invledger --db {path} status {offender} --at {render.when(moment)}\n"
        f"     invledger --db {path} replay --check"
    )


@click.command(cls=OnceEach)
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 3600),
    callback=lambda _ctx, _param, value: _finite(value),
    default=0.5,
    show_default=True,
    help="Seconds between looks at the log (on PostgreSQL, beside the subscription: for rows "
    "another tool inserts without a notification).",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many wake-ups: a look every --poll seconds, or (PostgreSQL) a "
    "notification (default: follow until interrupted).",
)
@handle_errors
def follow(poll: float, rounds: int | None) -> None:
    """Keep the views current as other processes append: a long-lived follower.

    Every invledger writer already updates the views in its own transaction; a
    follower also catches up events that other tools append to the log, so queries
    stay cheap. Stop it with Ctrl-C or SIGTERM (as a service manager does): it says
    "stopped" and exits 0, leaving the views as its last commit left them. Once it has
    been following, a lost connection (a server restart, say) or a write lock held too
    long is told in one line and tried again, after 1 s, then twice as long each time
    up to 30 s; it catches up what was appended meanwhile. Any other failure (a row in
    the log that is not invledger's, a view table dropped), or one before it first
    follows, ends it (exit 2).

    \b
    Example:
        invledger --db postgresql://postgres@127.0.0.1:5432/ledger follow
    """
    import time

    from cli.options import shown
    from ledger.errors import StorageUnavailable

    book = _ledger()
    total = [0]
    woken = [0]
    following = [False]  # it has been caught up and following at least once
    pause = [1.0]  # before the next try, after a lost connection

    def applied(count: int) -> None:
        if count:
            total[0] += count
            click.echo(f"applied {_events(count)} ({total[0]:,} since start)")

    def ready() -> None:
        again = " again" if following[0] else ""
        click.echo(f"following {book.store.url}{again} (Ctrl-C to stop)", err=True)
        following[0] = True

    def woke() -> None:
        woken[0] += 1
        pause[0] = 1.0  # a wake-up went through: the next loss waits 1 s again

    signal.signal(signal.SIGTERM, _as_interrupt)  # the same clean stop as Ctrl-C
    try:
        while rounds is None or woken[0] < rounds:
            left = None if rounds is None else rounds - woken[0]
            try:
                book.follow(applied, poll_seconds=poll, rounds=left, on_ready=ready, on_wake=woke)
                break
            except StorageUnavailable as error:
                # A lost connection, a server restarting, a lock held too long: tried
                # again. Anything else (a row that is not invledger's, a table gone)
                # stays until someone mends it, and ends the follower (exit 2).
                if not following[0]:
                    raise  # it never followed: a cause for the user to mend (exit 2)
                click.echo(f"{shown(str(error))}: trying again in {pause[0]:g} s", err=True)
                time.sleep(pause[0])
                pause[0] = min(2 * pause[0], 30.0)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    else:  # only `--rounds` ends a follow without a signal
        count = woken[0]
        click.echo(f"stopped after {count:,} wake-up{'' if count == 1 else 's'}", err=True)
