"""The command line's contract (README: exit codes): every command, as a user would run it.

Each command runs in its own process, as `reachwatch ...` is run: one line on stderr for a
mistake, never a traceback, and the documented exit code.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from reachwatch.cli import app

EXIT_DONE, EXIT_BAD_INPUT = 0, 2
REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))


def _subcommands(group: click.Group) -> Iterator[tuple[str, click.Command]]:
    """A group's commands as its help lists them (the root imports each command's module)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{name} is listed but cannot be found"
        yield name, command


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in _subcommands(group):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


COMMANDS = list(_commands(app))


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [REACHWATCH, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def _one_error_line(result: subprocess.CompletedProcess[str], code: int = EXIT_BAD_INPUT) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reachwatch: error: "), lines[0]
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0]


def test_every_command_is_listed() -> None:
    names = {c[0] for c in COMMANDS}
    assert {"probe", "classify", "ingest", "detect", "simulate", "demo", "control"} <= names


def test_each_command_is_found_in_the_module_that_registers_it() -> None:
    """The root imports a command's module only when the command runs; its map of names to
    modules must name every command each module registers, and no other."""
    import importlib
    import pkgutil

    import reachwatch.cli
    from reachwatch.cli._app import _COMMAND_MODULES

    for info in pkgutil.iter_modules(reachwatch.cli.__path__):
        importlib.import_module(f"reachwatch.cli.{info.name}")
    assert sorted(app.commands) == sorted(_COMMAND_MODULES)
    for name, command in app.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"reachwatch.cli.{_COMMAND_MODULES[name]}", name


_NOT_FOR_INGEST = ("aiohttp", "aioquic", "dns", "jinja2", "duckdb", "reachwatch.control",
                   "reachwatch.probe", "reachwatch.web", "reachwatch.report")  # fmt: skip


@pytest.mark.parametrize(
    "start",
    [
        "from reachwatch.cli import app; import click; "
        "app.get_command(click.Context(app), 'ingest')",
        "import reachwatch.ingest._parallel",  # what a --jobs worker process imports
    ],
    ids=["the command", "a worker"],
)
def test_ingest_starts_without_the_servers_and_the_probe(start: str) -> None:
    """`reachwatch ingest` and its workers load what ingesting needs, not the web service, the
    control server, the probe's network stacks, the report's renderer or DuckDB (which only
    readers use): while they start, no core judges."""
    names = f"sorted(m for m in sys.modules if m.startswith({_NOT_FOR_INGEST!r}))"
    code = f"import sys; {start}; print(*{names})"
    loaded = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert loaded == []


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_refuses_a_wrong_argument(command: tuple[str, ...]) -> None:
    shown = _run(*command, "--help")
    assert shown.returncode == EXIT_DONE, shown.stderr
    assert "Usage: reachwatch " + " ".join(command) in shown.stdout
    wrong = _run(*command, "--no-such-option-anywhere")
    assert "--no-such-option-anywhere" in _one_error_line(wrong)
    assert wrong.stdout == ""


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == EXIT_DONE
    assert result.stdout.startswith("reachwatch, version ")


def test_judging_or_storing_nothing_from_bad_input_is_an_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("this is not json\n{also not\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no measurement judged" in _one_error_line(_run("classify", str(garbage)), 2)
    db = str(tmp_path / "db")
    assert "nothing stored" in _one_error_line(_run("ingest", str(garbage), "--db", db))
    assert "no measurement file" in _one_error_line(_run("ingest", str(empty), "--db", db))


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_probe_timeout_must_be_a_real_number(value: str) -> None:
    line = _one_error_line(_run("probe", "x", "--timeout", value))
    assert "--timeout" in line


@pytest.mark.parametrize("command", ["simulate", "demo"])
def test_a_huge_seed_is_one_line_and_writes_nothing(tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    args = ["simulate", "pk-x-2024"] if command == "simulate" else ["demo"]
    result = _run(*args, "--out", str(out), "--seed", str(10**30))
    assert "--seed" in _one_error_line(result)
    assert not out.exists()


def test_a_seed_the_command_line_allows_but_the_library_does_not(tmp_path: Path) -> None:
    from reachwatch.cases import load_case
    from reachwatch.simulate import MAX_SEED, SimulationError, scenario_from_case, write_corpus

    with pytest.raises(SimulationError, match="out of range"):
        write_corpus(scenario_from_case(load_case("pk-x-2024")), tmp_path, seed=MAX_SEED + 1)
    assert not (tmp_path / "raw").exists()


FINGERPRINT_OPTIONS = [
    ("classify", "--ooni-dns"),
    ("classify", "--ooni-http"),
    ("classify", "--cp-blockpages"),
    ("classify", "--cp-false-positives"),
    ("ingest", "--dns-fingerprints"),
    ("ingest", "--http-fingerprints"),
    ("ingest", "--cp-blockpages"),
    ("ingest", "--cp-false-positives"),
]


@pytest.mark.parametrize(("command", "option"), FINGERPRINT_OPTIONS)
@pytest.mark.parametrize("content", ["", "garbage\n", "name,pattern\n"])
def test_unusable_fingerprint_files_are_refused(
    tmp_path: Path, command: str, option: str, content: str
) -> None:
    fingerprints = tmp_path / "fp.csv"
    fingerprints.write_text(content)
    measurements = tmp_path / "m.jsonl"
    measurements.write_text("{}\n")
    extra = ["--db", str(tmp_path / "db")] if command == "ingest" else []
    result = _run(command, str(measurements), option, str(fingerprints), *extra)
    assert str(fingerprints) in _one_error_line(result)
    assert not (tmp_path / "db").exists()  # refused before anything was stored


def test_a_host_given_as_a_platform_gets_the_url_it_meant() -> None:
    line = _one_error_line(_run("probe", "x.com"))
    assert "unknown platform 'x.com'" in line
    assert "https://x.com/" in line


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--control", "ftp://c.example/"], "--control"),
        (["--doh", "not a url"], "--doh"),
        (["--resolver", "dns.example"], "--resolver"),
    ],
)
def test_url_options_name_themselves_in_errors(args: list[str], option: str) -> None:
    assert _one_error_line(_run("probe", "x", *args)).startswith(f"reachwatch: error: {option}")


@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A loopback port that counts as "the network": nothing may connect to it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", sock


def _nobody_came(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except BlockingIOError:
        return True
    return False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--test", "web connectivity"], "--test"),
        (["--test", "../etc"], "--test"),
        (["--since", "2024-02-10", "--until", "2024-02-01"], "--until"),
        (["--since", "2999-01-01", "--until", "2999-01-02"], "--since"),
        (["--since", "2001-01-01", "--until", "2001-01-02"], "--until"),
        (["--out", "FILE"], "--out"),
    ],
)
def test_ooni_sync_checks_its_options_before_the_network(
    tmp_path: Path, listener: tuple[str, socket.socket], args: list[str], message: str
) -> None:
    endpoint, sock = listener
    (tmp_path / "FILE").write_text("a file, not a folder\n")
    given = {"--cc": "PK", "--test": "web_connectivity", "--since": "2024-02-10",
             "--until": "2024-02-11", "--out": str(tmp_path / "ooni")}  # fmt: skip
    given.update(zip(args[::2], args[1::2], strict=True))
    given["--out"] = str(tmp_path / given["--out"])
    flat = [part for pair in given.items() for part in pair]
    result = _run("ooni", "sync", *flat, "--endpoint", endpoint)
    assert message in _one_error_line(result)
    assert _nobody_came(sock)


def _corpus(tmp_path: Path) -> Path:
    out = tmp_path / "sim"
    result = _run("simulate", "pk-x-2024", "--out", str(out), "--rate", "0.05")
    assert result.returncode == 0, result.stderr
    return out / "raw"


def test_classify_formats_and_a_piped_table_keeps_its_width(tmp_path: Path) -> None:
    raw = _corpus(tmp_path)
    as_json = json.loads(_run("classify", str(raw), "--json").stdout)
    judged = as_json["measurements"]
    assert judged
    rows = list(csv.DictReader(io.StringIO(_run("classify", str(raw), "--format", "csv").stdout)))
    assert [r["id"] for r in rows] == [m["id"] for m in judged]
    assert [r["verdict"] for r in rows] == [m["verdict"] for m in judged]
    table = _run("classify", str(raw)).stdout.splitlines()
    assert len(table) == len(judged) + 2  # heading, one line per measurement, summary
    for line, measurement in zip(table[1:], judged, strict=False):
        # One line each even at COLUMNS=80: the id and the input are whole, never folded.
        assert line.split()[-2:] == [measurement["id"], measurement["input"]]
    assert table[-1].startswith("accessible: ")
    both = _run("classify", str(raw), "--json", "--format", "csv")
    assert "--json" in _one_error_line(both)


def test_demo_json_is_one_document(tmp_path: Path) -> None:
    result = subprocess.run(
        [REACHWATCH, "demo", "--out", str(tmp_path / "demo"), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["synthetic"] is True
    assert doc["stored"] == doc["measurements"] > 0
    assert doc["incidents"]
    assert doc["compliance"]["case"] == "pk-x-2024"
    assert doc["compliance"]["directives"]
    if shutil.which("chromium"):
        assert Path(doc["report"]).is_file() and Path(doc["bundle"]).is_file()


@pytest.mark.parametrize(
    "command", [("demo",), ("lab", "clean"), ("lab", "run"), ("control", "serve"), ("probe",)]
)
def test_json_is_offered_where_the_design_says(command: tuple[str, ...]) -> None:
    assert "--json" in _run(*command, "--help").stdout


# A mistake a user could make with each command, beyond an unknown option; {tmp} is a fresh
# folder holding `a-file`. A command added to the app without an entry here fails the test below.
WRONG_VALUES: dict[tuple[str, ...], list[str]] = {
    ("case", "check"): ["no-such-case", "--db", "{tmp}/db"],
    ("case", "show"): ["no-such-case"],
    ("catalog",): ["no-such-platform"],
    ("classify",): ["{tmp}/missing.jsonl"],
    ("control", "serve"): ["--port", "70000"],
    ("demo",): ["--seed", "abc"],
    ("detect",): ["--cc", "PAK"],
    ("ingest",): ["{tmp}/missing", "--db", "{tmp}/db"],
    ("keys", "generate"): ["--out", "{tmp}/a-file"],
    ("lab", "clean"): ["an-extra-argument"],
    ("lab", "run"): ["--scenario", "no-such-scenario"],
    ("ooni", "sync"): [
        "--cc",
        "PAK",
        "--test",
        "web_connectivity",
        "--since",
        "2024-02-01",
        "--until",
        "2024-02-01",
        "--out",
        "{tmp}/o",
    ],
    ("probe",): ["x", "--timeout", "nan"],
    ("rejudge",): ["--since", "yesterday"],
    ("report",): ["no-such-case", "--out", "{tmp}/report"],
    ("show",): ["no-such-id", "--db", "{tmp}/no-store"],
    ("serve", "tokens", "add"): ["Not A Name", "--db", "{tmp}/db"],
    ("serve", "tokens", "list"): ["--db", "{tmp}/a-file"],
    ("serve", "tokens", "revoke"): ["nobody", "--db", "{tmp}/db"],
    ("simulate",): ["no-such-case", "--out", "{tmp}/sim"],
    ("store", "check"): ["--db", "{tmp}/a-file"],
    ("store", "repair"): ["--db", "{tmp}/a-file"],
    ("store", "compact"): ["--db", "{tmp}/a-file"],
    ("submit",): ["{tmp}/a-file", "--to", "ftp://127.0.0.1/"],
    ("verify",): ["{tmp}/missing.zip"],
    ("watch",): ["--cc", "PK", "--platform", "x", "--every", "soon"],
}


def _leaves(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command that runs (not a group), from the app itself."""
    for name, command in _subcommands(group):
        if isinstance(command, click.Group):
            yield from _leaves(command, (*path, name))
        else:
            yield (*path, name)


def test_every_command_has_a_wrong_value_case() -> None:
    assert set(WRONG_VALUES) == set(_leaves(app))


@pytest.mark.parametrize("command", sorted(WRONG_VALUES), ids=" ".join)
def test_a_wrong_value_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    (tmp_path / "a-file").write_text("a file, not a folder or a store\n")
    args = [a.format(tmp=tmp_path) for a in WRONG_VALUES[command]]
    result = _run(*command, *args)
    _one_error_line(result)
    assert result.stdout == ""
    assert (tmp_path / "a-file").read_text() == "a file, not a folder or a store\n"
