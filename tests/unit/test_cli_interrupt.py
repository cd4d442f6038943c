"""Ctrl-C before a command's own error handling begins ends it with exit 130, the exit
of an interrupted command, not click's "Aborted!" and exit 1 (which is a rule's refusal)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from cli.main import Commands, cli


def test_ctrl_c_while_a_command_is_loaded_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: Commands, ctx: click.Context, cmd_name: str) -> click.Command:
        raise KeyboardInterrupt

    monkeypatch.setattr(Commands, "get_command", interrupted)

    done = CliRunner().invoke(cli, ["--db", "unused.db", "status", "alice"])

    assert done.exit_code == 130, done.output
    assert "Interrupted:" in done.output and "Aborted" not in done.output


def test_ctrl_c_turned_into_a_library_error_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    # pydantic builds a model's schema on its first use; Ctrl-C then surfaces as its own
    # error, chained to or naming the interrupt.
    from pydantic_core import SchemaError

    def interrupted(self: Commands, ctx: click.Context, cmd_name: str) -> click.Command:
        raise SchemaError("Error building schema: KeyboardInterrupt")

    monkeypatch.setattr(Commands, "get_command", interrupted)

    done = CliRunner().invoke(cli, ["--db", "unused.db", "status", "alice"])

    assert done.exit_code == 130, done.output
    assert "Interrupted:" in done.output


def test_a_library_error_without_an_interrupt_stays_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: Commands, ctx: click.Context, cmd_name: str) -> click.Command:
        raise RuntimeError("not an interrupt")

    monkeypatch.setattr(Commands, "get_command", broken)

    done = CliRunner().invoke(cli, ["--db", "unused.db", "status", "alice"])

    assert isinstance(done.exception, RuntimeError)
