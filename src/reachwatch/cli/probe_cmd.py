"""`reachwatch probe`: measure platforms or URLs from this network, against a control."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from reachwatch.classify.verdicts import Classified, summarize
from reachwatch.cli._app import app
from reachwatch.cli._output import (
    FiniteFloat,
    chosen_format,
    format_option,
    print_table,
    write_csv,
)
from reachwatch.cli.submit_cmd import check_submit_url, read_token, send_or_keep, token_options
from reachwatch.errors import EnvironmentMissing, UserError
from reachwatch.formats.reachwatch import to_json_line, write_measurements
from reachwatch.probe import (
    DEFAULT_DOH_URL,
    ProbeOptions,
    ProbeRun,
    Target,
    TargetError,
    check_control,
    check_url,
    expand_targets,
    probe,
)
from reachwatch.probe.steps import make_ssl_context

_TABLE_LAYERS = ("dns", "tcp", "tls", "http", "quic")
_STYLE = {"ok": "green", "accessible": "green", "blocked": "bold red", "down": "yellow"}


@app.command("probe")
@click.argument("targets", nargs=-1, required=True, metavar="PLATFORM|URL...")
@click.option("--control", "control_url", metavar="URL", help="Control service to compare with.")
@click.option("--resolver", metavar="ADDR[:PORT]", help="Plain UDP DNS resolver to ask as well.")
@click.option(
    "--doh",
    "doh_url",
    metavar="URL",
    default=DEFAULT_DOH_URL,
    show_default=True,
    help="DNS-over-HTTPS endpoint to ask as well.",
)
@click.option("--no-doh", is_flag=True, help="Do not ask a DNS-over-HTTPS resolver.")
@click.option(
    "--system-resolver/--no-system-resolver",
    default=True,
    show_default=True,
    help="Ask the system resolver (getaddrinfo).",
)
@click.option("--ca-file", metavar="PEM", help="PEM bundle that replaces the trust store.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Append JSON lines here.")
@click.option(
    "--submit", "submit_to", metavar="URL",
    help="Upload the measurements to this reachwatch server afterwards (kept if it fails).",
)  # fmt: skip
@token_options
@format_option
@click.option("--cc", metavar="CC", default="ZZ", show_default=True, help="Country to record.")
@click.option("--asn", metavar="ASN", default="AS0", show_default=True, help="Network to record.")
@click.option("--source", "local_address", metavar="ADDR", help="Measure from this local address.")
@click.option(
    "--timeout",
    type=FiniteFloat(0.1, 60),
    default=5.0,
    show_default=True,
    help="Seconds per connection step (HTTP gets twice that).",
)
def probe_command(
    targets: tuple[str, ...],
    control_url: str | None,
    resolver: str | None,
    doh_url: str,
    no_doh: bool,
    system_resolver: bool,
    ca_file: str | None,
    out_file: str | None,
    submit_to: str | None,
    token_file: Path | None,
    as_json: bool,
    output: str | None,
    cc: str,
    asn: str,
    local_address: str | None,
    timeout: float,
) -> None:
    """Measure PLATFORM (all its hosts) or URLs: DNS, TCP, TLS, HTTP, QUIC, throughput."""
    fmt = chosen_format(output, as_json)
    chosen = expand_targets(targets)
    if not system_resolver and no_doh and resolver is None:
        raise UserError("no resolver left to ask: drop --no-system-resolver or --no-doh")
    if control_url is not None:
        _check_option_url("--control", control_url)
    if not no_doh:
        _check_option_url("--doh", doh_url)
    if ca_file is not None:
        _check_ca_file(ca_file)
    if local_address is not None:
        _check_local_address(local_address)
    if out_file is not None:
        _check_writable(Path(out_file))
    token = None
    if submit_to is not None:
        check_submit_url(submit_to)
        token = read_token(token_file)  # before measuring: a missing token wastes no run
    options = ProbeOptions(
        control_url=control_url,
        resolver=_parse_resolver(resolver) if resolver else None,
        doh_url=None if no_doh else doh_url,
        system_resolver=system_resolver,
        ca_file=ca_file,
        probe_cc=_country(cc),
        probe_asn=_asn(asn),
        local_address=local_address,
        dns_timeout=min(timeout, 4.0),
        connect_timeout=timeout,
        tls_timeout=timeout,
        quic_timeout=timeout,
        http_timeout=2 * timeout,
    )
    run, control_answered = asyncio.run(_run(chosen, options, out_file))
    # A control that answered HTTP at all proves there is a network, whatever else failed.
    run.no_network = run.no_network and not control_answered
    if fmt == "json":
        click.echo(orjson.dumps(_json_document(run)).decode())
    elif fmt == "csv":
        write_csv(
            ("input", *_TABLE_LAYERS, "verdict", "technique"),
            (
                (m["input"], *(_layer_text(v, layer) for layer in _TABLE_LAYERS), v.verdict,
                 v.technique)
                for m, v in zip(run.measurements, run.verdicts, strict=True)
            ),
        )  # fmt: skip
    else:
        _print_table(run)
    _warn_if_control_useless(run, control_url)
    if not run.public_address_scrubbed and run.measurements:
        _warn(
            "no control told this probe its public address: a server that reflects it "
            "(behind NAT) cannot have it scrubbed from the measurements"
        )
    if run.no_network:
        raise EnvironmentMissing(
            "no network: inconclusive (no resolver, no server and no control answered)"
        )
    if submit_to is not None and token is not None and run.measurements:
        lines = [to_json_line(m).rstrip(b"\n") for m in run.measurements]
        kept = Path(out_file) if out_file is not None else None
        send_or_keep(submit_to, token, lines, ca_file=ca_file, kept=kept)


async def _run(
    targets: list[Target], options: ProbeOptions, out_file: str | None
) -> tuple[ProbeRun, bool]:
    """The run, and whether the control answered the check before it."""
    control_answered = False
    if options.control_url is not None:
        # An explicitly given control that is down is a user mistake, unless nothing at all
        # can be reached (then the run ends as "no network").
        failure = await check_control(
            options.control_url, local_address=None, ca_file=options.ca_file
        )
        if failure is not None and failure != "network_unreachable":
            raise UserError(f"control {options.control_url} is unreachable ({failure})")
        control_answered = failure is None

    def keep(measurement: dict[str, Any]) -> None:
        # Appended as each one completes: an interrupted run keeps what it finished.
        if out_file is None:
            return
        try:
            write_measurements(out_file, [measurement])
        except OSError as exc:
            raise UserError(f"cannot write {out_file}: {exc.strerror or exc}") from None

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("probing", total=len(targets))

        def progress(url: str, stage: str) -> None:
            if stage == "done":
                bar.advance(task)
            else:
                bar.update(task, description=f"{stage:8} {url}")

        run = await probe(targets, options, progress=progress, on_measurement=keep)
    return run, control_answered


def _warn_if_control_useless(run: ProbeRun, control_url: str | None) -> None:
    """One line when a control was given but no measurement could use its answer."""
    failures = [m["test_keys"]["control_failure"] for m in run.measurements]
    if control_url is None or not failures or not all(failures):
        return
    _warn(
        f"the control gave no usable answer ({failures[0]}): verdicts that need it are inconclusive"
    )


def _warn(text: str) -> None:
    Console(stderr=True).print(
        f"reachwatch: warning: {text}", markup=False, highlight=False, soft_wrap=True
    )


def _json_document(run: ProbeRun) -> dict[str, Any]:
    return {
        "measurements": [verdict.to_json() for verdict in run.verdicts],
        "summary": summarize(run.verdicts),
        "no_network": run.no_network,
        "public_address_scrubbed": run.public_address_scrubbed,
    }


def _print_table(run: ProbeRun) -> None:
    console = Console()
    table = Table(title="reachwatch probe", show_lines=False)
    for column in ("host", *(layer.upper() for layer in _TABLE_LAYERS), "verdict", "technique"):
        table.add_column(column, overflow="fold")  # wrapped, never cut short
    for measurement, verdict in zip(run.measurements, run.verdicts, strict=True):
        table.add_row(
            _host_label(measurement["input"]),
            *(_layer_cell(verdict, layer) for layer in _TABLE_LAYERS),
            _styled(verdict.verdict),
            verdict.technique or "",
        )
    print_table(console, table)
    counts = ", ".join(f"{n} {name}" for name, n in summarize(run.verdicts).items() if n)
    console.print(f"{len(run.verdicts)} targets: {counts}")
    console.print("layers: ? inconclusive, - not measured")
    if not run.ipv6_capable:
        console.print("this network has no IPv6: IPv6 addresses were not measured")


def _layer_cell(verdict: Classified, layer: str) -> str:
    text = _layer_text(verdict, layer)
    return text if text in ("-", "?") else _styled(text)


def _layer_text(verdict: Classified, layer: str) -> str:
    judged = verdict.layers.get(layer)
    if judged is None:
        return "-"
    return "?" if judged.verdict == "inconclusive" else judged.verdict


def _host_label(url: str) -> str:
    """The host, with the path when it is more than "/" (a platform may list several URLs)."""
    parts = urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else ""
    return f"{parts.netloc}{path}"


def _styled(name: str) -> str:
    style = _STYLE.get(name)
    return f"[{style}]{name}[/{style}]" if style else name


def _check_option_url(option: str, url: str) -> None:
    try:
        check_url(url)
    except TargetError as exc:
        raise UserError(f"{option}: {exc}") from None


def _check_writable(path: Path) -> None:
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_ca_file(path: str) -> None:
    try:
        make_ssl_context(path)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise UserError(f"--ca-file {path}: not a readable PEM bundle ({reason})") from None


def _check_local_address(address: str) -> None:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
    except (ValueError, OSError):
        raise UserError(f"--source {address}: not an address of this machine") from None


def _parse_resolver(text: str) -> tuple[str, int]:
    from reachwatch.control import parse_resolver

    try:
        return parse_resolver(text)
    except ValueError as exc:
        raise UserError(f"--resolver: {exc}") from None


def _country(text: str) -> str:
    code = text.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise UserError(f"--cc {text!r} is not a two-letter country code")
    return code


def _asn(text: str) -> str:
    number = text.strip().upper().removeprefix("AS")
    if not number.isdigit():
        raise UserError(f"--asn {text!r} is not an AS number (AS17557 or 17557)")
    return f"AS{int(number)}"
