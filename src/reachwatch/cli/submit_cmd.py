"""`reachwatch submit FILE... --to URL`: send measurement files to a `reachwatch serve` (what
`probe --submit` does after measuring, and how measurements it could not send are sent again)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from reachwatch.cli._app import app
from reachwatch.errors import EnvironmentMissing, UserError

TOKEN_ENV = "REACHWATCH_TOKEN"
UNSENT_DIR = Path("reachwatch-unsent")
F = TypeVar("F", bound=Callable[..., Any])


def token_options(command: F) -> F:
    """The --token-file option (probe --submit, submit)."""
    return click.option(
        "--token-file", type=click.Path(dir_okay=False, path_type=Path),
        help=f"File holding the upload token (else ${TOKEN_ENV}).",
    )(command)  # fmt: skip


def read_token(token_file: Path | None) -> str:
    """The upload token: from --token-file, else $REACHWATCH_TOKEN; a one-line error if none."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UserError(f"--token-file {token_file}: cannot read ({reason})") from None
        if not token or len(token.split()) != 1:
            raise UserError(f"--token-file {token_file}: expected one token on one line")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UserError(
            f"an upload needs a token: --token-file F or ${TOKEN_ENV} "
            "(the server's admin runs `reachwatch serve tokens add NAME`)"
        )
    return token


def check_submit_url(url: str) -> None:
    from reachwatch.probe import UploadError, submit_url

    try:
        submit_url(url)
    except UploadError as exc:
        raise UserError(str(exc)) from None


def send_or_keep(
    url: str, token: str, lines: Sequence[bytes], *, ca_file: str | None, kept: Path | None
) -> None:
    """Upload `lines`; on failure write them (unless already in `kept`) to a file of their
    own and end with one line naming it and how to send it again."""
    from reachwatch.probe import UploadError, upload

    try:
        summary = upload(url, token, lines, ca_file=ca_file)
    except UploadError as exc:
        where = kept if kept is not None else _keep(lines)
        error = EnvironmentMissing if exc.network else UserError
        raise error(
            f"{exc}; {len(lines) - exc.sent} of {len(lines)} measurements not sent, kept in "
            f"{where} (send again: `reachwatch submit {where} --to {url}`)"
        ) from None
    click.echo(summary.line(), err=True)


def _keep(lines: Sequence[bytes]) -> Path:
    """A new file under ./reachwatch-unsent/ holding `lines`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = UNSENT_DIR / f"{stamp}-{os.getpid()}.jsonl"
    try:
        UNSENT_DIR.mkdir(exist_ok=True)
        with path.open("xb") as out:
            out.write(b"".join(line + b"\n" for line in lines))
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise UserError(
            f"the upload failed and {path} cannot be written ({exc.strerror}): "
            "measurements not kept; run with --out FILE"
        ) from None
    return path


@app.command("submit")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--to", "url", required=True, metavar="URL", help="The reachwatch server.")
@token_options
@click.option("--ca-file", metavar="PEM", help="PEM bundle that replaces the trust store.")
def submit_command(
    files: tuple[Path, ...], url: str, token_file: Path | None, ca_file: str | None
) -> None:
    """Send measurement files (JSON lines, as `probe --out` writes) to a reachwatch server."""
    check_submit_url(url)
    token = read_token(token_file)
    lines: list[bytes] = []
    for path in files:
        lines.extend(_lines_of(path))
    if not lines:
        raise UserError("no measurement in the given files: nothing to send")
    # Already in their files: on failure nothing new is written, the message names them.
    send_or_keep(url, token, lines, ca_file=ca_file, kept=files[0] if len(files) == 1 else None)


def _lines_of(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    lines = []
    for number, line in enumerate(data.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            raise UserError(f"{path}: line {number} is not JSON (expected JSON lines)") from None
        lines.append(line)
    return lines
