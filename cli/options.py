"""Options shared by many commands, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class _Position(click.IntRange):
    """A log position: both backends store it as a signed 64-bit integer."""

    name = "position"

    def __init__(self) -> None:
        super().__init__(0, 2**63 - 1)

    def _describe_range(self) -> str:  # in the help and the error: 2^63 reads, 19 digits not
        return "0<=x<2^63"


POSITION = _Position()


class Moment(click.ParamType[datetime]):
    """An ISO 8601 time with a zone, e.g. 2026-01-08T12:00:00Z."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        from ledger.moments import parse_moment

        try:
            return parse_moment(value)
        except ValueError as error:
            self.fail(f"{error} (e.g. 2026-01-08T12:00:00Z)", param, ctx)


MOMENT = Moment()


class InputFile(click.File):
    """A file to read (`-`: standard input), which must be open to be read."""

    def __init__(self) -> None:
        super().__init__("rb")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "-" and sys.stdin is None:  # started with it closed (`<&-`)
            self.fail("standard input is closed: give a file, or pipe the input in", param, ctx)
        return super().convert(value, param, ctx)


# How far ahead of this machine's clock a fact's time may be: the clocks of the
# machines that write one ledger are never quite in step.
CLOCK_LEEWAY = timedelta(minutes=5)
_LEEWAY = f"{CLOCK_LEEWAY.seconds // 60} minutes"


class PastMoment(Moment):
    """The time of a fact: it cannot have happened later than now.

    A fact dated ahead would be judged in the log before its time came, so that until
    then `status` told one story and the rules another (an appeal granted tomorrow
    leaves today's restriction open in the queue and unappealable). A policy change is
    no different: it applies from its place in the log on, so one dated ahead would
    judge today's reports by a policy that `policy show` says is not yet in force.
    """

    def __init__(self, why: str = "a fact is recorded when or after it happens") -> None:
        self.why = why

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        moment = super().convert(value, param, ctx)
        now = datetime.now(UTC)
        if moment > now + CLOCK_LEEWAY:
            from ledger.moments import format_time

            self.fail(
                f"{format_time(moment)} is in the future (now {format_time(now)}, with "
                f"{_LEEWAY}' leeway for clocks out of step): {self.why}",
                param,
                ctx,
            )
        return moment


class OnceEach(click.Command):
    """A command whose options, flags and lists apart, may each be given once.

    Click keeps the last of two values silently: `events --type a --type b` would list
    the `b` events alone, and `appeal --statement x --statement y` store `y`, where the
    user meant both or made a slip. Given twice, such an option is bad usage (exit 2).
    """

    def make_parser(self, ctx: click.Context) -> Any:
        parser = super().make_parser(ctx)
        parse = parser.parse_args

        def parse_once(args: list[str]) -> Any:
            opts, rest, order = parse(args)
            if any(param.is_eager for param in order):
                return opts, rest, order  # --help or --version: it answers, whatever else
            seen: set[str | None] = set()
            for param in order:
                if not isinstance(param, click.Option):
                    continue
                if param.multiple or param.count or param.is_flag:
                    continue
                if param.name in seen:
                    name = max(param.opts, key=len)
                    raise click.UsageError(f"{name} is given more than once: give it once", ctx)
                seen.add(param.name)
            return opts, rest, order

        parser.parse_args = parse_once  # type: ignore[method-assign]
        return parser


class OnceEachGroup(OnceEach, click.Group):
    """A group of such commands, its own options given once too."""

    command_class = OnceEach


def at_option(help_text: str) -> Callable[[F], F]:
    return click.option("--at", "at", type=MOMENT, default=None, help=help_text)


def fact_at_option(help_text: str, why: str | None = None) -> Callable[[F], F]:
    """`--at` of a command that records a fact: the time it happened, not later than now."""
    return click.option(
        "--at",
        "at",
        type=PastMoment(why) if why else PastMoment(),
        default=None,
        help=f"{help_text} At most {_LEEWAY} ahead of this machine's clock.",
    )


def query_options(function: F) -> F:
    """`--json` and `--at` for every query command."""
    function = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(
        function
    )
    function = at_option("The moment to look at (ISO 8601 with a zone; default: now).")(function)
    return function


# What this command has stored, told when its output then cannot be written: the
# user must not read that error as "nothing was done".
_stored: list[str] = []


def stored(what: str) -> None:
    """Note what the command has committed (a clause: "X is stored ..."), before it writes
    its output."""
    _stored.append(what)


def moment_or_now(at: datetime | None) -> datetime:
    return at if at is not None else datetime.now(UTC)


def handle_errors(function: F) -> F:
    """Expected errors become one line on stderr and the documented exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ledger.errors import LedgerError, RuleViolation

        _stored.clear()  # one command's own (a process may run several, as tests do)
        try:
            return function(*args, **kwargs)
        except RuleViolation as error:
            # The rule's name, as `check` gives it: scripts can tell the refusals apart.
            click.echo(f"Error: refused by rule '{error.rule}': {shown(str(error))}", err=True)
            sys.exit(error.exit_code)
        except LedgerError as error:
            click.echo(f"Error: {shown(str(error))}", err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            exit_interrupted()
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly.
            _silence_stdout()
            sys.exit(0)
        except OSError as error:
            # Anything else the system refuses (a full disk under the output, an I/O
            # error): the reason in one line; stdout is dropped so that its last flush
            # at exit does not fail a second time.
            _silence_stdout()
            kept = f": the output is lost, but {_stored[-1]}" if _stored else ""
            click.echo(f"Error: {shown(str(error.strerror or error))}{kept}", err=True)
            sys.exit(2)
        except Exception as error:
            if interrupted_inside(error):
                exit_interrupted()
            raise

    return wrapper  # type: ignore[return-value]


def shown(message: str) -> str:
    """A message as it may reach a terminal: control and format characters (from a path
    or a URL given in the environment, say) written as escapes, never sent raw."""
    import unicodedata

    def escaped(char: str) -> str:
        if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cf"):
            return char
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return "".join(escaped(char) for char in message)


def interrupted_inside(error: BaseException) -> bool:
    """Was `error` raised because of a Ctrl-C inside a library (pydantic building its
    schema turns the interrupt into its own error)?"""
    seen: BaseException | None = error
    for _ in range(20):
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        if type(seen).__name__ == "SchemaError" and "KeyboardInterrupt" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def exit_interrupted() -> None:
    """Ctrl-C: every transaction is whole, so what was committed stays and the rest was
    never written. 130 is the shell's code for an interrupted command."""
    click.echo(
        "Interrupted: what was committed stays, nothing half-written; run the command "
        "again to finish",
        err=True,
    )
    sys.exit(130)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class HandleType(click.ParamType[str]):
    """A member handle or an id: 1-128 characters, no whitespace, control or invisible
    format characters (the event models' rule, without importing them: queries start
    without pydantic)."""

    name = "HANDLE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        import re
        import unicodedata

        from ledger.invisible import first_invisible

        if not isinstance(value, str) or not re.fullmatch(r"[^\s\x00-\x1f\x7f-\x9f]{1,128}", value):
            self.fail(
                f"{value!r} is not a handle: 1-128 characters without whitespace, control or "
                "invisible format characters",
                param,
                ctx,
            )
        if not value.isascii():
            for char in value:
                if unicodedata.category(char) == "Cs":  # a byte of the argument not UTF-8
                    self.fail(f"{value!r} is not a handle: it is not valid UTF-8", param, ctx)
                if first_invisible(char):
                    self.fail(
                        f"{value!r} is not a handle: it contains a character that prints "
                        f"nothing or blank (U+{ord(char):04X})",
                        param,
                        ctx,
                    )
                if unicodedata.category(char) == "Cf":
                    self.fail(
                        f"{value!r} is not a handle: it contains an invisible format character "
                        f"(U+{ord(char):04X})",
                        param,
                        ctx,
                    )
        return value


HANDLE = HandleType()
