"""The `reachwatch` command group and the one place user errors become one-line messages."""

from __future__ import annotations

import sys
from typing import Any

import click

from reachwatch.errors import UserError


class ReachwatchGroup(click.Group):
    """A group that turns UserError (and Ctrl-C) into a one-line message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"reachwatch: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("reachwatch: interrupted", err=True)
            sys.exit(130)


@click.group(cls=ReachwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reachwatch")
def app() -> None:
    """reachwatch: an open observatory for platform suspensions."""
