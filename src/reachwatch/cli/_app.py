"""The `reachwatch` command group and the one place user errors become one-line messages.

Every command and group registered on `app` inherits this: a bad flag or value, an unknown
command, a ReachwatchError raised anywhere below (the library's own or the command line's
UserError), and Ctrl-C each end in one line on stderr.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from reachwatch.errors import ReachwatchError, UserError

# A group run without a subcommand shows its help (click raises it as a usage error).
_HELP_SHOWN: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if t is not None
)


def _one_line(exc: click.UsageError, command_path: str) -> UserError:
    where = exc.ctx.command_path if exc.ctx is not None else command_path
    return UserError(f"{exc.format_message()} (see `{where} --help`)")


def _path(info_name: str | None, parent: click.Context | None) -> str:
    names = [parent.command_path] if parent is not None else []
    return " ".join([*names, info_name or "reachwatch"])


class OneLineUsage(click.Command):
    """A bad flag or value (--seed abc) is one line, not click's three-line usage text."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _HELP_SHOWN:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, _path(info_name, parent)) from None


class OneLineUsageGroup(click.Group, OneLineUsage):
    """The same for a group, its unknown subcommands and every command registered under it."""

    command_class = OneLineUsage
    group_class = type  # subgroups are of this same class

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _HELP_SHOWN:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, ctx.command_path) from None


class ReachwatchGroup(OneLineUsageGroup):
    """The root: turns ReachwatchError (and Ctrl-C) into a one-line message and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except ReachwatchError as exc:
            click.echo(f"reachwatch: error: {exc}", err=True)
            sys.exit(exc.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("reachwatch: interrupted", err=True)
            sys.exit(130)


@click.group(cls=ReachwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reachwatch")
def app() -> None:
    """reachwatch: an open observatory for platform suspensions."""
