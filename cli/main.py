"""`invledger`: record invitation facts, ask standing, audit why.

Every command parses its arguments, calls the ledger, and renders the result.
Expected errors print one line and exit 1 (refused by a rule) or 2 (bad input).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import click

from cli import render
from cli.options import (
    HANDLE,
    POSITION,
    OnceEachGroup,
    exit_interrupted,
    fact_at_option,
    handle_errors,
    interrupted_inside,
    moment_or_now,
    query_options,
    stored,
)

if TYPE_CHECKING:
    from ledger.application import Ledger

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Commands(OnceEachGroup):
    """The command group. The bulk commands' module loads only when one of them is used."""

    BULK: ClassVar[dict[str, str]] = {
        "import": "import_",
        "export": "export",
        "replay": "replay",
        "policy": "policy",
        "simulate": "simulate",
        "demo": "demo",
        "follow": "follow",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.BULK])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.BULK:
            from cli import bulk

            command: click.Command = getattr(bulk, self.BULK[cmd_name])
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # Ctrl-C before a command's own handling begins (loading it, reading its
        # arguments) ends it as it does later, not with click's "Aborted!" and exit 1,
        # which is a rule's refusal here.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            exit_interrupted()
        except Exception as error:
            if interrupted_inside(error):
                exit_interrupted()
            raise


@click.group(cls=Commands, context_settings=CONTEXT)
@click.option(
    "--db",
    envvar="INVLEDGER_DB",
    default="invledger.db",
    show_default=True,
    help="SQLite file path, or a postgresql:// URL. Also $INVLEDGER_DB.",
)
@click.version_option(package_name="invledger")
@click.pass_context
def cli(ctx: click.Context, db: str) -> None:
    """An explainable record of connection-invitation abuse, and who may invite whom.

    \b
    Example:
        invledger send alice bob
        invledger status alice --json
    """
    ctx.obj = db


def ledger(create: bool = False) -> Ledger:
    """The ledger --db names. A ledger that is not there is an error, unless `create`
    (send, import and policy set): a mistyped --db must not become an empty ledger."""
    from ledger.application import Ledger
    from ledger.store import open_store

    root = click.get_current_context().find_root().obj
    return Ledger(store=open_store(root, existing=not create))


def creating_ledger(trial: Callable[[Ledger], object]) -> Ledger:
    """The ledger --db names, for a command that may create it (send, import, policy set).

    Where there is no ledger yet, `trial` first runs the command on an empty ledger in a
    temporary folder and raises what refuses it there. A refused command then leaves no
    empty ledger behind, which the next command with the same mistyped --db would take
    for a real one. If the trial passes, the ledger is created and returned.
    """
    from ledger.application import Ledger
    from ledger.errors import NoLedger

    try:
        return ledger()
    except NoLedger:
        pass
    from projections.rebuild import scratch

    # A scratch folder: locked while in use, swept by a later command if this one is
    # killed before it removes it.
    with scratch() as store:
        trial(Ledger(store=store))
    return ledger(create=True)


# Recording facts ---------------------------------------------------------------------


@cli.command()
@click.argument("sender", type=HANDLE)
@click.argument("recipient", type=HANDLE)
@click.option("--invitation", type=HANDLE, help="Invitation id (default: a new UUID).")
@click.option("--message", help="Message to the recipient, at most 300 characters.")
@click.option("--email", help="The recipient's email address.")
@fact_at_option("When it was sent (default: now).")
@handle_errors
def send(
    sender: str,
    recipient: str,
    invitation: str | None,
    message: str | None,
    email: str | None,
    at: datetime | None,
) -> None:
    """Send an invitation, unless a send-time rule refuses it. Prints the invitation id.

    \b
    Example:
        invledger send alice bob --message "We met at PyCon"
    """
    from ledger.application import command_event, new_id

    sent = new_id() if invitation is None else invitation
    fields = {
        "type": "invitation_sent",
        "invitation": sent,
        "sender": sender,
        "recipient": recipient,
        "message": message,
        "recipient_email": email,
        "at": at,
    }
    event = command_event(fields)  # bad input stops here, before a new ledger is made
    book = creating_ledger(lambda empty: empty.append(event, command_rules=True))
    result = book.append(event, command_rules=True)
    stored(f"invitation {sent} is stored (event {event.id}, position {result.position})")
    if result.warning:
        click.echo(result.warning, err=True)
    click.echo(sent)


def _response(event_type: str, verb: str) -> Any:
    @click.argument("invitation", type=HANDLE)
    @fact_at_option(f"When it was {verb} (default: now).")
    @handle_errors
    def command(invitation: str, at: datetime | None) -> None:
        result = ledger().record({"type": event_type, "invitation": invitation, "at": at})
        stored(f"event {result.event.id} is stored (position {result.position})")
        click.echo(f"{invitation} {verb} (event {result.event.id}, position {result.position})")

    return command


accept = cli.command(
    "accept",
    help="The recipient accepts an invitation.\n\n\b\nExample:\n    invledger accept INVITATION",
)(_response("invitation_accepted", "accepted"))
ignore = cli.command(
    "ignore",
    help="The recipient ignores an invitation: its sender may not invite them again."
    "\n\n\b\nExample:\n    invledger ignore INVITATION",
)(_response("invitation_ignored", "ignored"))
idk = cli.command(
    "idk",
    help='The recipient reports "I don\'t know this person": blocks the sender and counts '
    "against their standing.\n\n\b\nExample:\n    invledger idk INVITATION --at 2026-01-08T12:00:00Z",
)(_response("invitation_marked_unknown", "marked unknown"))
withdraw = cli.command(
    "withdraw",
    help="The sender withdraws a pending invitation.\n\n\b\nExample:\n    invledger withdraw INVITATION",
)(_response("invitation_withdrawn", "withdrawn"))


@cli.command()
@click.argument("member", type=HANDLE)
@click.option("--statement", required=True, help="Why the member thinks the restriction is wrong.")
@click.option("--appeal", "appeal_id", type=HANDLE, help="Appeal id (default: a new UUID).")
@fact_at_option("When it was filed (default: now).")
@handle_errors
def appeal(member: str, statement: str, appeal_id: str | None, at: datetime | None) -> None:
    """File an appeal against a member's active restriction. Prints the appeal id.

    \b
    Example:
        invledger appeal alice --statement "These were my classmates"
    """
    from ledger.application import new_id

    fields = {
        "type": "appeal_filed",
        "appeal": new_id() if appeal_id is None else appeal_id,
        "member": member,
        "statement": statement,
        "at": at,
    }
    result = ledger().record(fields)
    stored(
        f"appeal {fields['appeal']} is stored (event {result.event.id}, position {result.position})"
    )
    click.echo(fields["appeal"])


def _resolution(event_type: str, verb: str) -> Any:
    @click.argument("appeal", type=HANDLE)
    @click.option("--agent", required=True, help="The support agent deciding.")
    @click.option(
        "--note", help="The reason: recorded, and told to the member in the statement of reasons."
    )
    @fact_at_option(f"When it was {verb} (default: now).")
    @handle_errors
    def command(appeal: str, agent: str, note: str | None, at: datetime | None) -> None:
        fields = {"type": event_type, "appeal": appeal, "agent": agent, "note": note, "at": at}
        result = ledger().record(fields)
        stored(f"event {result.event.id} is stored (position {result.position})")
        if result.warning:
            click.echo(result.warning, err=True)
        click.echo(f"appeal {appeal} {verb} (event {result.event.id}, position {result.position})")

    return command


grant = cli.command(
    "grant",
    help="Grant an appeal: lifts the restriction it stands against and gives a clean slate "
    "(one that has already expired stays as it ended: the grant is recorded, with a note)."
    "\n\n\b\nExample:\n    invledger grant APPEAL --agent carol",
)(_resolution("appeal_granted", "granted"))
deny = cli.command(
    "deny",
    help="Deny an appeal: the restriction stays.\n\n\b\nExample:\n    invledger deny APPEAL --agent carol --note 'reports confirmed'",
)(_resolution("appeal_denied", "denied"))


# Questions -------------------------------------------------------------------------


# How many times a query catches the views up before it answers from them as they are
# (another process may go on appending behind them: a PostgreSQL import's batches).
_CATCH_UPS = 3


def read_current(query: Any, *args: Any, **options: Any) -> Any:
    """Run a query in one read transaction after bringing the views up to date.

    The views are found current in the very snapshot the query reads: checked in a
    transaction of its own, they could be cleared by a `replay` before the query's
    began, and the query would answer from empty views (a blocked pair allowed).
    """
    from ledger.store import behind_in, open_store

    store = open_store(click.get_current_context().find_root().obj, existing=True)
    for _ in range(_CATCH_UPS):
        with store.read() as tx:
            if not behind_in(tx):
                return query(tx, *args, **options)
        from ledger.application import Ledger  # rare: only then is the write side loaded

        Ledger(store=store).ensure_current()
    with store.read() as tx:  # still behind: the views as they are
        return query(tx, *args, **options)


@cli.command()
@click.argument("sender", type=HANDLE)
@click.argument("recipient", type=HANDLE)
@click.option("--email", help="The recipient's email address, if the sender would give it.")
@query_options
@handle_errors
def check(
    sender: str, recipient: str, email: str | None, at: datetime | None, as_json: bool
) -> None:
    """May SENDER invite RECIPIENT now? Exit 0 yes, 1 no, with the rule that refuses.

    Without --at it answers as `send` would now. With --at it answers as things stood
    then: the sender's standing, blocks, connections and pending invitations of that
    moment (a `send --at` in the past is judged by the standing then, but against the
    blocks and invitations of the log as it stands).

    \b
    Example:
        invledger check alice bob && echo allowed
    """
    from projections import queries

    # Without --at: what `send` would answer now, against everything logged so far.
    out = read_current(
        queries.check, sender, recipient, email, moment_or_now(at), as_logged=at is None
    )
    if as_json:
        render.print_json(out)
    elif out.allowed:
        click.echo(f"yes: {sender} may invite {recipient}")
        if out.warning:
            click.echo(f"warning: {out.warning}")
    if not out.allowed:
        if not as_json:
            click.echo(f"no: {out.reason}")
        click.echo(f"Error: refused by rule '{out.rule}': {out.reason}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("member", type=HANDLE)
@query_options
@handle_errors
def status(member: str, at: datetime | None, as_json: bool) -> None:
    """A member's standing, restriction end, counted reports, reputation and open appeal.

    \b
    Example:
        invledger status alice --json
    """
    from projections import queries

    out = read_current(queries.status, member, moment_or_now(at))
    render.show(out, as_json, render.status)


@cli.command()
@click.argument("member", type=HANDLE)
@click.option(
    "--statement",
    "as_statement",
    is_flag=True,
    help="Print the member-facing statement of reasons (recipients not named).",
)
@query_options
@handle_errors
def audit(member: str, as_statement: bool, at: datetime | None, as_json: bool) -> None:
    """Every episode of MEMBER with its rule, policy version and exact causes; and appeals.

    \b
    Example:
        invledger audit alice
        invledger audit alice --statement
    """
    from projections import queries

    out = read_current(queries.audit, member, moment_or_now(at))
    if as_statement:
        from projections.statement import statement_fields, statement_of_reasons

        text = statement_of_reasons(out)
        if as_json:
            fields = statement_fields(out)
            answer = {"member": member, "as_of": out.as_of, **fields, "statement": text}
            render.print_json(answer)
        else:
            click.echo(text)
    elif as_json:
        render.print_json(out)
    else:
        click.echo(render.audit(out))


@cli.command()
@click.argument("member", type=HANDLE)
@query_options
@handle_errors
def blocks(member: str, at: datetime | None, as_json: bool) -> None:
    """Who blocked MEMBER, and whom MEMBER blocked, each with the causing event.

    \b
    Example:
        invledger blocks alice
    """
    from projections import queries

    out = read_current(queries.blocks, member, moment_or_now(at))
    render.show(out, as_json, render.blocks)


@cli.command()
@query_options
@handle_errors
def restricted(at: datetime | None, as_json: bool) -> None:
    """Every member whose standing is not good, worst first.

    \b
    Example:
        invledger restricted --at 2026-03-01T00:00:00Z
    """
    from projections import queries

    out = read_current(queries.restricted, moment_or_now(at))
    render.show(out, as_json, render.restricted)


@cli.command()
@click.option("--open", "only_open", is_flag=True, help="Only appeals not yet resolved.")
@click.option(
    "--overdue",
    "only_overdue",
    is_flag=True,
    help="Only open appeals older than the policy's appeal_overdue_hours.",
)
@query_options
@handle_errors
def appeals(only_open: bool, only_overdue: bool, at: datetime | None, as_json: bool) -> None:
    """The support queue of appeals, oldest first.

    \b
    Example:
        invledger appeals --overdue
    """
    from projections import queries

    out = read_current(queries.appeals, moment_or_now(at), only_open, only_overdue)
    render.show(out, as_json, render.appeals)


@cli.command()
@click.option(
    "--member",
    type=HANDLE,
    help="Only events about this member (as sender, recipient or appellant).",
)
@click.option(
    "--type", "event_type", help="Only events of this type, e.g. invitation_marked_unknown."
)
@click.option("--since", type=POSITION, default=0, help="Only events after this position.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@handle_errors
def events(member: str | None, event_type: str | None, since: int, as_json: bool) -> None:
    """The log, filtered, with each event's position.

    \b
    Example:
        invledger events --member alice --type invitation_marked_unknown
    """
    from ledger.events import EVENT_TYPES, encode

    if event_type and event_type not in EVENT_TYPES:
        raise click.BadParameter(
            f"unknown type {event_type!r}; one of: {', '.join(EVENT_TYPES)}", param_hint="--type"
        )
    rows = ledger().events(member, event_type, since)
    if as_json:
        # Streamed, one event per line inside the document: the log may be long.
        click.echo('{"events": [')
        for number, (position, event) in enumerate(rows):
            fields = {"position": position, **json.loads(encode(event))}
            item = json.dumps(fields, ensure_ascii=False)  # as every other query prints
            click.echo(("  " if number == 0 else ", ") + item)
        click.echo("]}")
        return
    shown = 0
    for position, event in rows:
        click.echo(f"{position:>8}  {encode(event).decode()}")
        shown += 1
    if not shown:
        click.echo("no events match")


def main() -> None:
    if sys.stdout is None:  # started with its standard output closed (`>&-`)
        if sys.stderr is not None:
            print(
                "Error: standard output is closed: invledger has nowhere to write", file=sys.stderr
            )
        sys.exit(2)
    cli(prog_name="invledger")
