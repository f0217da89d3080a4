"""`reachwatch report CASE [--db DB] --out DIR [--bundle FILE.zip]`, `reachwatch keys
generate` and `reachwatch verify BUNDLE [--key PUB]`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import duckdb

from reachwatch.cases import load_case, resolve_case
from reachwatch.cli._app import app
from reachwatch.cli.detect_cmd import query_store
from reachwatch.errors import UserError
from reachwatch.store import DEFAULT_DB


@app.command("report")
@click.argument("case")
@click.option(
    "--db",
    type=click.Path(path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    help="Store folder.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for report.html and report.pdf.",
)
@click.option(
    "--bundle",
    type=click.Path(path_type=Path),
    help="Also write a signed evidence bundle (a .zip) here.",
)
@click.option(
    "--key",
    type=click.Path(path_type=Path),
    help="Private key that signs the bundle [default: the one `keys generate` made].",
)
def report_command(case: str, db: Path, out: Path, bundle: Path | None, key: Path | None) -> None:
    """Write the report of CASE (HTML and PDF), and with --bundle its signed evidence."""
    run_report(case, db, out, bundle, key)


def run_report(
    case: str,
    db: Path,
    out: Path,
    bundle: Path | None,
    key: Path | None,
    echo: Callable[[str], None] = click.echo,
) -> None:
    """The report command's work, shared with `reachwatch demo` (which says its lines its own
    way: not at all with --json)."""
    from reachwatch.evidence import (
        PRIVATE_NAME,
        default_key_dir,
        fingerprint,
        load_private_key,
        write_bundle,
    )
    from reachwatch.report import build_report, write_report

    clock = time.monotonic()
    loaded = load_case(case)
    case_text, _ = resolve_case(case)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if bundle is not None and bundle.suffix.lower() != ".zip":
        raise UserError(f"--bundle {bundle}: name the bundle FILE.zip")
    private = None
    if bundle is not None:
        private = load_private_key(key or default_key_dir() / PRIVATE_NAME)
    signer = fingerprint(private.public_key()) if private else None

    def work(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        report = build_report(loaded, con, signer=signer)
        files = write_report(report, out)
        echo(f"report: {', '.join(map(str, files))}  [{time.monotonic() - clock:.1f} s]")
        if bundle is not None and private is not None:
            made = write_bundle(
                bundle,
                report=report,
                report_dir=out,
                case=loaded,
                case_text=case_text,
                con=con,
                key=private,
            )
            echo(
                f"bundle: {made.path} ({made.measurements:,} measurements, {made.files} files, "
                f"{made.size / 1e6:.1f} MB), signed by key {made.signer}  "
                f"[{time.monotonic() - clock:.1f} s]"
            )
        return {}

    query_store(db, work, cc=loaded.scope.cc)


@app.group("keys")
def keys_group() -> None:
    """Ed25519 keys that sign evidence bundles."""


@keys_group.command("generate")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder for the key pair [default: $REACHWATCH_KEYS or ~/.config/reachwatch/keys].",
)
def keys_generate_command(out: Path | None) -> None:
    """Make a signing key pair (the private key readable by you only) and print its
    fingerprint, which reports signed with it print too."""
    from reachwatch.evidence import default_key_dir, fingerprint, generate_keys, load_public_key

    private, public = generate_keys(out or default_key_dir())
    click.echo(f"private key: {private} (mode 0600: keep it secret)")
    click.echo(f"public key:  {public} (give it to whoever verifies your bundles)")
    click.echo(f"fingerprint: {fingerprint(load_public_key(public))}")


@app.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--key",
    type=click.Path(path_type=Path),
    help="The signer's public key; without it the key inside the bundle is used, "
    "and only its fingerprint ties the bundle to a signer.",
)
def verify_command(bundle: Path, key: Path | None) -> None:
    """Check BUNDLE: signature, every hash, and every verdict and claim derived again from
    its raw measurements. Exit 0 only when everything holds."""
    if not run_verify(bundle, key):
        sys.exit(1)


def run_verify(bundle: Path, key: Path | None, echo: Callable[[str], None] = click.echo) -> bool:
    """The verify command's work and output, shared with `reachwatch demo`: True when all
    holds."""
    from reachwatch.evidence import load_public_key, verify_bundle

    public = load_public_key(key) if key is not None else None
    try:
        blob = bundle.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{bundle}: no such file") from None
    except OSError as exc:
        raise UserError(f"{bundle}: cannot read ({exc.strerror})") from None
    clock = time.monotonic()
    result = verify_bundle(blob, public)
    for line in result.held:
        echo(f"ok      {line}")
    for finding in result.findings:
        echo(f"FAILED  {finding}")
    seconds = time.monotonic() - clock
    if result.ok:
        echo(f"{bundle}: verified, everything holds  [{seconds:.1f} s]")
    else:
        echo(f"{bundle}: NOT verified ({len(result.findings)} problem(s))  [{seconds:.1f} s]")
    return result.ok
