"""The `reachwatch` command group and the one place user errors become one-line messages.

Every command and group registered on `app` inherits this: a bad flag or value, an unknown
command, a ReachwatchError raised anywhere below (the library's own or the command line's
UserError), an OSError no command caught (a full disk, an unwritable store, report or stdout)
and Ctrl-C each end in one line on stderr.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys
from typing import Any, NoReturn

import click

from reachwatch.errors import EnvironmentMissing, ReachwatchError, UserError

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
    group_class: type[click.Group | type] | None = type  # subgroups are of this same class

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _HELP_SHOWN:
            raise
        except click.UsageError as exc:
            raise _one_line(exc, ctx.command_path) from None


# The machine lacks room or a writable disk: missing environment (3), not a wrong path (2).
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def exit_code_of(exc: ReachwatchError | OSError) -> int:
    """The README's exit code: a ReachwatchError's own, unless it (or the OSError it was raised
    while handling) says the disk is full or read-only; any other OSError is a path that
    cannot be used, like the UserErrors the commands raise for those."""
    cause = exc if isinstance(exc, OSError) else exc.__context__
    if isinstance(cause, OSError) and cause.errno in _NO_ROOM:
        return EnvironmentMissing.exit_code
    return exc.exit_code if isinstance(exc, ReachwatchError) else ReachwatchError.exit_code


def os_error_line(exc: OSError) -> str:
    """One line for an OSError: the file when known, the reason without errno noise."""
    reason = os.strerror(exc.errno) if exc.errno else (str(exc).splitlines() or ["I/O error"])[0]
    if exc.filename is not None:
        return f"{os.fsdecode(exc.filename)}: {reason}"
    return f"a write failed: {reason}" if exc.errno in _NO_ROOM else reason


def _fail(line: str, code: int) -> NoReturn:
    click.echo(f"reachwatch: error: {line}", err=True)
    # stdout itself may be what failed (`> /dev/full`): what is still buffered there must not
    # fail again, with a second message, when the interpreter flushes it at exit.
    with contextlib.suppress(OSError, ValueError, AttributeError):  # not a real file: a capture
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


# Each command's module, imported only when the command runs or is listed: `reachwatch ingest`
# does not load the web server, the probe's QUIC and DNS stacks or the report's renderer
# (half a second of start-up, which an ingest with --jobs spends before any core judges).
_COMMAND_MODULES = {
    "case": "case_cmd",
    "catalog": "catalog_cmd",
    "classify": "classify_cmd",
    "control": "control_cmd",
    "demo": "demo_cmd",
    "detect": "detect_cmd",
    "ingest": "ingest_cmd",
    "keys": "report_cmd",
    "lab": "lab_cmd",
    "ooni": "ooni_cmd",
    "probe": "probe_cmd",
    "rejudge": "rejudge_cmd",
    "report": "report_cmd",
    "serve": "serve_cmd",
    "show": "show_cmd",
    "simulate": "simulate_cmd",
    "store": "store_cmd",
    "submit": "submit_cmd",
    "verify": "report_cmd",
    "watch": "watch_cmd",
}


class ReachwatchGroup(OneLineUsageGroup):
    """The root: finds each command in its own module, and turns ReachwatchError, OSError and
    Ctrl-C into a one-line message and an exit code."""

    group_class = OneLineUsageGroup  # its groups find their commands as click does

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(_COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _COMMAND_MODULES.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"reachwatch.cli.{module}")  # it registers itself on app
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except ReachwatchError as exc:
            _fail(str(exc), exit_code_of(exc))
        except OSError as exc:  # click itself already ended an EPIPE (`| head`) with 1
            _fail(os_error_line(exc), exit_code_of(exc))

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
