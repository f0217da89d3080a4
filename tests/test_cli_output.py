"""What commands print and where: `--format table|csv|json` on every command that prints a
table, tables piped at full width, classify's progress bar on a terminal only, and outputs
that cannot be written (full disk, read-only, no permission) as one line with the README's exit
code (2 for a path that cannot be used, 3 for a disk without room or write access)."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))
EXIT_BAD_INPUT, EXIT_ENVIRONMENT = 2, 3
# Rich reads these to decide about colour and terminals: the tests decide instead.
_RICH_ENV = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _RICH_ENV}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "80"}


def _run(*args: str, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REACHWATCH, *args],
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=300,
        env=_env(),
    )


def _one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reachwatch: error: "), lines[0]
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    done = _run("simulate", "pk-x-2024", "--out", str(out), "--rate", "0.05", "--json")
    assert done.returncode == 0, done.stderr
    return out / "raw"


@pytest.fixture(scope="module")
def store(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("store") / "db"
    done = _run("ingest", str(corpus), "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return db


def _evidence_id(store: Path) -> str:
    doc = json.loads(_run("detect", "--db", str(store), "--json").stdout)
    evidence: str = doc["incidents"][0]["evidence"][0]
    return evidence


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _formats(*args: str) -> tuple[object, list[dict[str, str]], str]:
    """The JSON document, the CSV rows and the table of one command; all three exit 0."""
    outputs = []
    for fmt in (["--json"], ["--format", "csv"], ["--format", "table"]):
        result = _run(*args, *fmt)
        assert result.returncode == 0, result.stderr
        assert "\x1b[" not in result.stdout  # piped: no colour, no terminal codes
        outputs.append(result.stdout)
    both = _run(*args, "--json", "--format", "csv")
    assert "--json" in _one_error_line(both, EXIT_BAD_INPUT)
    return json.loads(outputs[0]), _csv(outputs[1]), outputs[2]


def _row_of(table: str, *cells: str, times: int = 1) -> str:
    """The one table line (of `times` alike) holding all of `cells`: a piped table is never
    folded to 80 columns, which would spread a row's cells over several lines."""
    found = [line for line in table.splitlines() if all(cell in line for cell in cells)]
    assert len(found) == times, (cells, table)
    return found[0]


def test_detect_formats(store: Path) -> None:
    doc, rows, table = _formats("detect", "--db", str(store))
    assert isinstance(doc, dict)
    networks = [(i, n) for i, inc in enumerate(doc["incidents"], 1) for n in inc["networks"]]
    assert networks
    assert [(int(r["incident"]), r["network"]) for r in rows] == [
        (i, n["network"]) for i, n in networks
    ]
    for row, (_, n) in zip(rows, networks, strict=True):
        assert row["start"] == n["start"] and row["techniques"] == " ".join(n["techniques"])
        assert row["start_earliest"] == n["start_bounds"][0]
        line = _row_of(table, n["network"], f"{n['blocked_measurements']}/{n['measurements']}")
        assert "ongoing (data to " in line or (n["end"] or "")[:10] in line
    assert max(len(line) for line in table.splitlines()) > 80  # its own width, not squeezed


def test_case_show_and_check_formats(store: Path) -> None:
    shown, events, table = _formats("case", "show", "pk-x-2024")
    assert isinstance(shown, dict)
    assert [e["date"] for e in events] == [e["date"] for e in shown["events"]]
    assert [e["summary"] for e in events] == [e["summary"] for e in shown["events"]]
    first = shown["events"][0]
    assert first["summary"] in _row_of(table, first["date"], first["summary"])

    checked, rows, table = _formats("case", "check", "pk-x-2024", "--db", str(store))
    assert isinstance(checked, dict)
    expected = [
        (d["statement"], n["network"], n["status"])
        for d in checked["directives"]
        for n in d["networks"]
    ]
    assert expected
    assert [(r["statement"], r["network"], r["status"]) for r in rows] == expected
    for _, network, status in expected:
        alike = sum(1 for e in expected if e[1:] == (network, status))
        _row_of(table, f"│ {network} ", f"│ {status} ", times=alike)


def test_ingest_formats(corpus: Path, tmp_path: Path) -> None:
    # A new store per format: each run stores the corpus once, then only meets duplicates.
    doc = json.loads(_run("ingest", str(corpus), "--db", str(tmp_path / "a"), "--json").stdout)
    result = _run("ingest", str(corpus), "--db", str(tmp_path / "b"), "--format", "csv")
    assert result.returncode == 0, result.stderr
    counts = {r["outcome"]: int(r["count"]) for r in _csv(result.stdout)}
    assert counts["stored"] == doc["stored"] > 0
    assert counts["duplicates (already stored)"] == 0
    table = _run("ingest", str(corpus), "--db", str(tmp_path / "b"), "--format", "table")
    assert table.returncode == 0, table.stderr
    _row_of(table.stdout, "duplicates (already stored)", f"{doc['stored']:,}")
    both = _run("ingest", str(corpus), "--db", str(tmp_path / "c"), "--json", "--format", "csv")
    _one_error_line(both, EXIT_BAD_INPUT)
    assert not (tmp_path / "c").exists()


def test_store_check_show_and_rejudge_formats(store: Path) -> None:
    checked, rows, table = _formats("store", "check", "--db", str(store))
    assert isinstance(checked, dict)
    assert {r["table"]: int(r["detail"]) for r in rows if r["finding"] == "rows"} == checked["rows"]
    assert not [r for r in rows if r["finding"] == "damaged"]
    assert "the store is whole" in table

    wanted = _evidence_id(store)
    shown, rows, table = _formats("show", wanted, "--db", str(store))
    assert isinstance(shown, dict)
    observations = shown["observations"]
    assert observations
    assert [(r["id"], r["layer"], r["verdict"], r["rule"]) for r in rows] == [
        (wanted, o["layer"], o["verdict"], o["rule"]) for o in observations
    ]
    for o in observations:
        _row_of(table, f" {o['layer']} ", f" {o['rule']} ")

    again, rows, line = _formats("rejudge", "--db", str(store))
    assert isinstance(again, dict)
    assert len(rows) == 1
    assert int(rows[0]["measurements"]) == again["measurements"] > 0
    assert f"{again['measurements']:,} measurements" in line


@pytest.mark.parametrize(
    "command", [("lab", "run"), ("classify",), ("probe",), ("detect",), ("ingest",), ("show",)]
)
def test_format_is_offered_where_tables_are_printed(command: tuple[str, ...]) -> None:
    shown = _run(*command, "--help").stdout
    assert "--format [table|csv|json]" in shown and "--json" in shown


# --- classify's progress bar: on a terminal's stderr only -----------------------------------


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _under_pty(args: list[str], *, stdout_on_tty: bool) -> tuple[str, str, int]:
    """Runs reachwatch with stderr (and stdout, if asked) on a pseudo-terminal: what the
    terminal showed, what went to a pipe, and the exit status."""
    master, slave = pty.openpty()
    shown: list[bytes] = []

    def drain() -> None:  # the terminal must be read as it is written, or the child blocks
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    proc = subprocess.Popen(
        [REACHWATCH, *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_on_tty else subprocess.PIPE,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)
    piped, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    terminal = _ANSI.sub("", b"".join(shown).decode(errors="replace"))
    return terminal, (piped or b"").decode(), proc.returncode


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if "_webconnectivity_" in line]


def test_classify_shows_progress_on_a_terminal_and_still_prints_the_table(corpus: Path) -> None:
    judged = json.loads(_run("classify", str(corpus), "--json").stdout)["measurements"]
    files = len(list(corpus.rglob("*.jsonl*")))
    terminal, piped, code = _under_pty(["classify", str(corpus)], stdout_on_tty=True)
    assert code == 0, terminal
    assert f"/{files} files" in terminal  # the bar: files done of files in all
    assert "━" in terminal
    assert len(_table_rows(terminal)) == len(judged)
    assert "verdict" in terminal and "accessible: " in terminal
    assert piped == ""

    # stdout piped, stderr a terminal: the bar stays on the terminal, the pipe gets the rows.
    terminal, piped, code = _under_pty(["classify", str(corpus)], stdout_on_tty=False)
    assert code == 0, terminal
    assert f"/{files} files" in terminal
    assert _table_rows(terminal) == []
    assert "\x1b" not in piped and "━" not in piped and " files" not in piped
    assert len(_table_rows(piped)) == len(judged)


def test_classify_without_a_terminal_has_no_progress_bar(corpus: Path) -> None:
    result = _run("classify", str(corpus))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "\x1b" not in result.stdout and "━" not in result.stdout
    assert result.stdout.splitlines()[0].split()[:2] == ["verdict", "technique"]
    assert result.stdout.splitlines()[-1].startswith("accessible: ")


# --- outputs that cannot be written ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["catalog"],
        ["classify", "{corpus}"],
        ["classify", "{corpus}", "--json"],
        ["detect", "--db", "{store}", "--format", "csv"],
        ["case", "show", "pk-x-2024"],
        ["case", "check", "pk-x-2024", "--db", "{store}"],
        ["store", "check", "--db", "{store}"],
        ["simulate", "pk-x-2024", "--out", "{tmp}/sim", "--rate", "0.05"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_stdout_on_a_full_disk_is_one_line(
    args: list[str], corpus: Path, store: Path, tmp_path: Path
) -> None:
    filled = [a.format(corpus=corpus, store=store, tmp=tmp_path) for a in args]
    with open("/dev/full", "w") as full:
        result = _run(*filled, stdout=full.fileno())
    line = _one_error_line(result, EXIT_ENVIRONMENT)
    assert "No space left on device" in line


def _can(*cmd: str) -> bool:
    try:
        return subprocess.run([*cmd, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# A private mount namespace in a user namespace: a real tmpfs, as root or not.
NEEDS_MOUNTS = pytest.mark.skipif(
    shutil.which("unshare") is None or not _can("unshare", "--user", "--map-root-user", "--mount"),
    reason="unshare cannot make a user and mount namespace here (needs user namespaces)",
)
# No uid mapped in a new user namespace: the folder's permission bits hold even for root.
NEEDS_USERNS = pytest.mark.skipif(
    shutil.which("unshare") is None or not _can("unshare", "--user"),
    reason="unshare cannot make a user namespace here",
)


def _in_namespace(script: str, *reachwatch: str) -> subprocess.CompletedProcess[str]:
    """`script` (which mounts) then `reachwatch ARGS` in a private mount namespace."""
    quoted = " ".join(f"'{a}'" for a in (REACHWATCH, *reachwatch))
    return subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-ec",
            f"{script}\nexec {quoted}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        stdin=subprocess.DEVNULL,
    )


WRITERS = [
    ["ingest", "{corpus}", "--db", "{target}/db"],
    ["simulate", "pk-x-2024", "--out", "{target}/sim", "--rate", "0.05"],
    ["keys", "generate", "--out", "{target}/keys"],
    ["report", "pk-x-2024", "--db", "{store}", "--out", "{target}/report"],
    ["demo", "--out", "{target}/demo"],
]


def _fill(args: list[str], **where: Path) -> list[str]:
    return [a.format(**where) for a in args]


@NEEDS_MOUNTS
@pytest.mark.parametrize("args", WRITERS, ids=lambda args: args[0])
def test_a_full_disk_is_one_line(
    args: list[str], corpus: Path, store: Path, tmp_path: Path
) -> None:
    target = tmp_path / "small"
    target.mkdir()
    # Filled up first: even the smallest file (a key) finds no room.
    mount = (
        f"mount -t tmpfs -o size=64k tmpfs '{target}'\n"
        f"dd if=/dev/zero of='{target}/filler' bs=4k 2>/dev/null || true"
    )
    result = _in_namespace(mount, *_fill(args, corpus=corpus, store=store, target=target))
    assert "No space left on device" in _one_error_line(result, EXIT_ENVIRONMENT)


@NEEDS_MOUNTS
@pytest.mark.parametrize(
    "args",
    [
        *WRITERS,
        ["rejudge", "--db", "{target}/store"],
        ["store", "repair", "--db", "{target}/store"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_read_only_disk_is_one_line(
    args: list[str], corpus: Path, store: Path, tmp_path: Path
) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    # A whole store on it, so that commands that change a store have one to try.
    mount = (
        f"mount -t tmpfs tmpfs '{target}'\ncp -r '{store}' '{target}/store'\n"
        f"mount -o remount,ro '{target}'"
    )
    result = _in_namespace(mount, *_fill(args, corpus=corpus, store=store, target=target))
    assert "Read-only file system" in _one_error_line(result, EXIT_ENVIRONMENT)


@NEEDS_USERNS
@pytest.mark.parametrize("args", WRITERS, ids=lambda args: args[0])
def test_a_folder_without_write_permission_is_one_line(
    args: list[str], corpus: Path, store: Path, tmp_path: Path
) -> None:
    target = tmp_path / "locked"
    target.mkdir()
    target.chmod(0o555)
    try:
        result = subprocess.run(
            [
                "unshare",
                "--user",
                REACHWATCH,
                *_fill(args, corpus=corpus, store=store, target=target),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=_env(),
            stdin=subprocess.DEVNULL,
        )
    finally:
        target.chmod(0o755)
    assert "ermission denied" in _one_error_line(result, EXIT_BAD_INPUT)
    assert list(target.iterdir()) == []
