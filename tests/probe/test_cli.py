"""`reachwatch probe` as a user runs it: JSON, JSON lines out, one-line errors, no network."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from reachwatch.cli import app
from reachwatch.formats.reachwatch import validate_measurement
from reachwatch.probe import expand_targets

from .conftest import X_HOSTS, Censorship, World, WorldFactory

REACHWATCH = str(Path(sys.executable).parent / "reachwatch")


async def _probe_x(
    lab: World, control_url: str, out: Path, *extra: str
) -> tuple[int, bytes, bytes]:
    """`reachwatch probe x --json` in the loopback world: its exit status, stdout, stderr."""
    resolver = f"{lab.probe_resolver[0]}:{lab.probe_resolver[1]}"
    process = await asyncio.create_subprocess_exec(
        REACHWATCH, "probe", "x", "--json", "--control", control_url,
        "--resolver", resolver, "--no-doh", "--no-system-resolver",
        "--ca-file", str(lab.pki.ca_file), "--source", lab.probe_source,
        "--timeout", "1", "--out", str(out), *extra,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, stdout, stderr


def test_probe_x_prints_design_json_and_appends_lines(world: WorldFactory, tmp_path: Path) -> None:
    out = tmp_path / "probe.jsonl"

    async def scenario() -> tuple[int, bytes, bytes]:
        async with world.start(Censorship(reset_snis=frozenset({"x.com"}))) as lab:
            assert lab.control_url is not None
            return await _probe_x(lab, lab.control_url, out, "--cc", "PK", "--asn", "AS17557")

    code, stdout, stderr = asyncio.run(scenario())
    assert code == 0, stderr.decode()
    doc = orjson.loads(stdout)
    assert doc["summary"] == {"accessible": 7, "blocked": 1, "down": 0, "inconclusive": 0}
    verdicts = {m["input"].split("/")[2]: m for m in doc["measurements"]}
    assert set(verdicts) == set(X_HOSTS)
    x_com = verdicts["x.com"]
    assert (x_com["verdict"], x_com["technique"]) == ("blocked", "tls.reset")
    assert verdicts["x.com"]["probe_cc"] == "PK"
    assert set(verdicts["twitter.com"]["layers"]) >= {"dns", "tcp", "tls", "http", "quic"}
    lines = out.read_bytes().splitlines()
    assert len(lines) == 8
    for line in lines:
        measurement = orjson.loads(line)
        validate_measurement(measurement)
        assert measurement["probe_asn"] == "AS17557"


def test_a_control_that_reaches_nothing_is_said_once(world: WorldFactory, tmp_path: Path) -> None:
    """The control answers, but its resolver is dead and it may reach no private address:
    it resolves nothing and connects nowhere. Each measurement records why its answer is
    unusable, no verdict leans on it, and the run says so once."""
    from reachwatch.control import ControlServer

    out = tmp_path / "probe.jsonl"

    async def scenario() -> tuple[int, bytes, bytes]:
        async with (
            world.start(control=False) as lab,
            ControlServer("127.0.0.1", 0, resolver=("127.0.0.1", 9)) as control,
        ):
            return await _probe_x(lab, control.url, out)

    code, stdout, stderr = asyncio.run(scenario())
    assert code == 0, stderr.decode()
    assert orjson.loads(stdout)["summary"]["down"] == 0
    for line in out.read_bytes().splitlines():
        keys = orjson.loads(line)["test_keys"]
        assert keys["control_failure"].startswith("x_control_broken: ")
        assert keys["control"]["dns"]["failure"]  # the answer is kept for the record
    warnings = [line for line in stderr.decode().splitlines() if "x_control_broken" in line]
    assert len(warnings) == 1, stderr.decode()
    assert "verdicts that need it are inconclusive" in warnings[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["myspace"], "unknown platform 'myspace'"),
        (["ftp://x.com/"], "bad URL 'ftp://x.com/'"),
        (["https://exa mple.com/"], "bad URL"),
        (["x", "--out", "/nonexistent-dir/out.jsonl"], "cannot write /nonexistent-dir/out.jsonl"),
        (["x", "--resolver", "1.2.3.4:99999"], "invalid port"),
        (["x", "--cc", "Pakistan"], "two-letter country code"),
        (["x", "--no-doh", "--no-system-resolver"], "no resolver left to ask"),
        (["x", "--ca-file", "/nonexistent.pem"], "--ca-file /nonexistent.pem: not a readable"),
        (["x", "--ca-file", __file__], "not a readable PEM bundle"),
        (["x", "--source", "192.0.2.77"], "--source 192.0.2.77: not an address of this machine"),
        (["x", "--source", "nowhere"], "not an address of this machine"),
        (["x", "--control", "http://127.0.0.1:9/"], "control http://127.0.0.1:9/ is unreachable"),
        (["http://[::1"], "bad URL 'http://[::1': Invalid IPv6 URL"),
        (["x", "--control", "http://[::1"], "bad URL 'http://[::1'"),
        (["http://" + "a." * 2500 + "/"], "no valid host name"),
        (["http://" + "a" * 5000 + "/"], "no valid host name"),
        (["https://"], "no valid host name"),
        (["x", "--bogus"], "No such option '--bogus'"),
        (["x", "--out", "/"], "is a directory"),
        (["x", "--ca-file", "/"], "not a readable PEM bundle"),
        (["x", "--resolver", "not-an-address"], "must be an IP address"),
    ],
)
def test_user_mistakes_get_one_line(args: list[str], message: str, loopback_only: None) -> None:
    result = CliRunner().invoke(app, ["probe", *args], prog_name="reachwatch")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error_lines = [line for line in result.stderr.splitlines() if line]
    assert len(error_lines) == 1
    assert error_lines[0].startswith("reachwatch: error: ")
    assert message in error_lines[0]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_no_network_ends_inconclusive_never_blocked() -> None:
    # A fresh network namespace has no route anywhere (not even an up loopback): every DNS
    # query, connection and the control fail without a packet leaving the machine.
    try:
        process = subprocess.run(
            [
                "unshare",
                "--net",
                REACHWATCH,
                "probe",
                "x",
                "--json",
                "--control",
                "http://192.0.2.1/",
            ],
            capture_output=True,
            timeout=60,
        )
    except OSError as exc:
        pytest.skip(f"cannot run unshare: {exc}")
    if b"unshare failed" in process.stderr or b"Operation not permitted" in process.stderr:
        pytest.skip("creating a network namespace is not permitted here")
    assert process.returncode == 3, process.stderr.decode()
    assert b"Traceback" not in process.stderr
    assert process.stderr.decode().strip().splitlines()[-1] == (
        "reachwatch: error: no network: inconclusive "
        "(no resolver, no server and no control answered)"
    )
    doc = orjson.loads(process.stdout)
    assert doc["no_network"] is True
    assert doc["summary"] == {"accessible": 0, "blocked": 0, "down": 0, "inconclusive": 8}
    assert all(m["verdict"] == "inconclusive" for m in doc["measurements"])


def test_unicode_host_is_probed_under_its_ascii_name() -> None:
    (target,) = expand_targets(["http://пример.рф:8080/a?b=1"])
    assert target.url == "http://xn--e1afmkfd.xn--p1ai:8080/a?b=1"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_keeps_the_measurements_already_finished(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"

    async def scenario() -> tuple[int, bytes]:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(60)  # the page never comes: its measurement stays unfinished

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            process = await asyncio.create_subprocess_exec(
                REACHWATCH, "probe", f"http://127.0.0.1:{port}/", "http://127.0.0.1:9/",
                "--no-doh", "--timeout", "20", "--out", str(out),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                # Started from a shell that ignores SIGINT (a background job), the child would
                # inherit that; a user's Ctrl-C reaches a probe with the default handling.
                preexec_fn=_default_sigint,
            )  # fmt: skip
            for _ in range(300):  # the refused one finishes at once; wait for its line
                if out.exists() and out.read_bytes().endswith(b"\n"):
                    break
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode is not None
            return process.returncode, stderr

    code, stderr = asyncio.run(scenario())
    assert code == 130
    assert stderr.decode().strip().splitlines()[-1] == "reachwatch: interrupted"
    (line,) = out.read_bytes().splitlines()
    measurement = orjson.loads(line)
    validate_measurement(measurement)
    assert measurement["input"] == "http://127.0.0.1:9/"
