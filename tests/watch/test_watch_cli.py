"""`reachwatch watch` as a user runs it, one process per start, against a real S3-compatible
server and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.watch.conftest import SINCE, UNTIL, Bucket, Receiver, gz, ooni_key, serve_webhook

REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))
ROUND = re.compile(
    r"watch round (\d+): listed (\d+) file\(s\) \(\S+ to \S+\), (\d+) new; "
    r"ingested (\d+) file\(s\), ([\d,]+) stored; detect read (\d+) file\(s\), built (\d+) of "
    r"(\d+) series; (\d+) incident\(s\), (\d+) new, (\d+) ended"
)


def _args(endpoint: str, bucket: Bucket, tmp: Path, *extra: str) -> list[str]:
    return [
        REACHWATCH, "watch", "--cc", "PK", "--platform", "x",
        "--endpoint", endpoint, "--bucket", bucket.name,
        "--since", SINCE, "--until", UNTIL,
        "--db", str(tmp / "db"), "--out", str(tmp / "ooni"),
        "--events", str(tmp / "events.jsonl"), *extra,
    ]  # fmt: skip


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _rounds(stderr: str) -> list[dict[str, int]]:
    names = ("round", "listed", "new_files", "ingested", "stored", "detect_files", "rebuilt",
             "series", "incidents", "new", "ended")  # fmt: skip
    return [
        dict(zip(names, (int(g.replace(",", "")) for g in m.groups()), strict=True))
        for m in ROUND.finditer(stderr)
    ]


def _events(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "events.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_new_then_nothing_then_ended_on_all_three_channels(
    s3_server: tuple[str, Any],
    bucket: Bucket,
    objects: dict[str, list[bytes]],
    webhook: Receiver,
    tmp_path: Path,
) -> None:
    endpoint = s3_server[0]
    args = _args(endpoint, bucket, tmp_path, "--webhook", webhook.url, "--once")

    first_keys = bucket.put_corpus(objects, before=True)
    one = _run(args)
    [line] = one.stdout.splitlines()
    assert line.startswith("NEW incident PK-x-20240217T") and "blocked since 2024-02-17" in line
    assert "tcp.reset" in line and "AS17557" in line and "AS59257" in line
    [new] = _events(tmp_path)
    assert new["event"] == "new" and new["end"] is None and new["techniques"] == ["tcp.reset"]
    assert new["start"].startswith("2024-02-17T0") and new["synthetic"] is True
    assert webhook.received == [new]
    [r1] = _rounds(one.stderr)
    assert r1["ingested"] == r1["new_files"] == r1["listed"] == len(first_keys)
    assert (r1["incidents"], r1["new"], r1["ended"]) == (1, 1, 0)

    two = _run(args)  # a new process: what was reported is remembered
    assert two.stdout == ""
    [r2] = _rounds(two.stderr)
    assert (r2["new_files"], r2["ingested"], r2["stored"]) == (0, 0, 0)
    assert (r2["incidents"], r2["new"], r2["ended"]) == (1, 0, 0)
    assert len(_events(tmp_path)) == 1 and len(webhook.received) == 1

    later_keys = bucket.put_corpus(objects, before=False)
    three = _run(args)
    [line] = three.stdout.splitlines()
    assert line.startswith(f"ENDED incident {new['id']}: x in PK blocked from 2024-02-17 ")
    assert "to 2024-02-20 1" in line
    ended = _events(tmp_path)[1]
    assert ended["event"] == "ended" and ended["id"] == new["id"]
    assert ended["end"].startswith("2024-02-20T1")
    assert webhook.received == [new, ended]
    [r3] = _rounds(three.stderr)
    assert r3["ingested"] == r3["new_files"] == len(later_keys)
    assert r3["listed"] < len(first_keys) + len(later_keys)  # from a day before the last hour
    assert (r3["incidents"], r3["new"], r3["ended"]) == (1, 0, 1)


def test_a_webhook_that_is_down_loses_nothing_and_stops_nothing(
    s3_server: tuple[str, Any], bucket: Bucket, objects: dict[str, list[bytes]], tmp_path: Path
) -> None:
    endpoint = s3_server[0]
    receiver = Receiver("")
    server = serve_webhook(receiver, 0)
    port = server.server_address[1]
    server.shutdown()
    server.server_close()  # the port is free again: nobody answers there
    url = f"http://127.0.0.1:{port}/hook"
    bucket.put_corpus(objects, before=True)

    down = _run(_args(endpoint, bucket, tmp_path, "--webhook", url, "--rounds", "2",
                      "--every", "1s"))  # fmt: skip
    r1, r2 = _rounds(down.stderr)
    assert (r1["round"], r2["round"]) == (1, 2)  # the watch went on
    # The second round found nothing new: detection read no file and built no timeline again.
    assert r1["detect_files"] > 0 and r1["rebuilt"] == r1["series"] > 0
    assert (r2["detect_files"], r2["rebuilt"], r2["series"]) == (0, 0, r1["series"])
    [event] = _events(tmp_path)  # the JSON line is written all the same
    assert event["event"] == "new"
    assert down.stdout.startswith("NEW incident")
    failures = [line for line in down.stderr.splitlines() if "webhook delivery" in line]
    assert len(failures) == 2 and all("failed after 3 attempt(s)" in f for f in failures)
    assert "1 webhook event(s) owed" in down.stderr

    server = serve_webhook(receiver, port)  # the receiver is back
    try:
        back = _run(_args(endpoint, bucket, tmp_path, "--webhook", url, "--once"))
    finally:
        server.shutdown()
        server.server_close()
    assert back.stdout == "" and "webhook delivery" not in back.stderr
    assert receiver.received == [event]  # owed, delivered once, not announced again
    assert len(_events(tmp_path)) == 1


def test_a_webhook_that_refuses_the_event_is_not_retried_forever(
    s3_server: tuple[str, Any],
    bucket: Bucket,
    objects: dict[str, list[bytes]],
    webhook: Receiver,
    tmp_path: Path,
) -> None:
    webhook.status = 404
    bucket.put_corpus(objects, before=True)
    result = _run(_args(s3_server[0], bucket, tmp_path, "--webhook", webhook.url, "--once"))
    assert "(HTTP 404); not sent again" in result.stderr
    webhook.status = 200
    _run(_args(s3_server[0], bucket, tmp_path, "--webhook", webhook.url, "--once"))
    assert webhook.received == [] and len(_events(tmp_path)) == 1


def _start(args: list[str], sigint: Any = signal.SIG_DFL) -> subprocess.Popen[str]:
    """A watch in its own process group, with SIGINT as given (whatever this test's own is:
    a test started from a background shell inherits SIGINT ignored)."""
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )


def _wait_for(proc: subprocess.Popen[str], text: str) -> str:
    """stderr lines up to the one holding `text`."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 120
    while text not in seen:
        line = proc.stderr.readline()
        assert line, f"the watch ended before {text!r}: {seen}"
        assert time.monotonic() < deadline
        seen += line
    return seen


def _stopped(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[str, str]:
    started = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 5, "the watch took too long to stop"
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def test_sigterm_and_sigint_stop_it_between_rounds_and_a_restart_announces_nothing_again(
    s3_server: tuple[str, Any], bucket: Bucket, objects: dict[str, list[bytes]], tmp_path: Path
) -> None:
    bucket.put_corpus(objects, before=True)
    args = _args(s3_server[0], bucket, tmp_path, "--every", "1h")
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = _start(args)
        _wait_for(proc, "watch round")  # the first round runs at once; the next is an hour off
        out, err = _stopped(proc, sig)
        assert f"watch stopped by {sig.name} after 1 round(s)" in err
        # Only the first start announces the incident; the restart knows it was reported.
        assert out.startswith("NEW incident") if sig == signal.SIGTERM else out == ""
    assert len(_events(tmp_path)) == 1


def test_a_watch_that_ignores_sigint_from_its_start_still_stops_on_sigterm(
    s3_server: tuple[str, Any], bucket: Bucket, tmp_path: Path
) -> None:
    """A background job starts with SIGINT ignored, and a watch leaves it so."""
    proc = _start(_args(s3_server[0], bucket, tmp_path, "--every", "1h"), signal.SIG_IGN)
    _wait_for(proc, "watch round")
    proc.send_signal(signal.SIGINT)
    time.sleep(1)
    assert proc.poll() is None
    _out, err = _stopped(proc, signal.SIGTERM)
    assert "stopped by SIGTERM" in err


def test_sigterm_during_a_download_stops_the_round_and_the_next_start_finishes_it(
    s3_server: tuple[str, Any], bucket: Bucket, tmp_path: Path
) -> None:
    key = ooni_key(datetime(2024, 2, 20, 5))
    body = gz([orjson.dumps({"n": i, "pad": os.urandom(3000).hex()}) for i in range(12_000)])
    bucket.put(key, body)
    args = _args(s3_server[0], bucket, tmp_path, "--every", "1h")
    part = tmp_path / "ooni" / (key + ".part")
    proc = _start(args)
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > 0):
        assert proc.poll() is None, "the round ended before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    _out, err = _stopped(proc, signal.SIGTERM)
    assert "watch stopped by SIGTERM after 0 round(s)" in err
    assert "watch round" not in err  # no round was reported as done
    kept = part.stat().st_size
    assert 0 < kept < len(body)

    again = _run([*args[: args.index("--every")], "--once"])
    [r] = _rounds(again.stderr)
    assert (r["new_files"], r["ingested"]) == (1, 1)  # resumed, then ingested
    assert (tmp_path / "ooni" / key).read_bytes() == body


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "soon"], "--every 'soon' is not an interval"),
        (["--every", "0m"], "--every '0m'"),
        (["--webhook", "ftp://127.0.0.1/hook"], "--webhook 'ftp://127.0.0.1/hook'"),
        (["--webhook", "127.0.0.1:8080"], "--webhook"),
        (["--cc", "PAK"], "--cc"),
        (["--platform", "no-such-platform"], "no-such-platform"),
        (["--once", "--rounds", "2"], "--once and --rounds"),
        (["--rounds", "0"], "--rounds"),
        (["--since", "2024-02-30"], "--since"),
        (["--test", "../etc"], "--test"),
        (["--events", "{tmp}"], "--events"),
        (["--events", "{tmp}/missing/events.jsonl"], "--events"),
        (["--out", "{tmp}/a-file"], "--out"),
    ],
)
def test_bad_input_is_one_line_before_anything_is_contacted(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "a-file").write_text("a file\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        given = {"--cc": "PK", "--platform": "x", "--out": str(tmp_path / "ooni"),
                 "--endpoint": endpoint, "--once": None}  # fmt: skip
        flags = [a.format(tmp=tmp_path) for a in args]
        for name in flags:
            given.pop(name, None)
        rest = [part for k, v in given.items() for part in ((k,) if v is None else (k, v))]
        result = subprocess.run(
            [REACHWATCH, "watch", *rest, *flags], capture_output=True, text=True, timeout=60
        )
        with pytest.raises(BlockingIOError):
            sock.accept()  # nobody came
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("reachwatch: error: ") and message in lines[0], lines[0]
    assert result.stdout == "" and not (tmp_path / "ooni").exists()


def test_docs_describe_every_option_and_the_readme_points_there() -> None:
    import click

    from reachwatch.cli import app

    repo = Path(__file__).resolve().parents[2]
    doc = (repo / "docs" / "watch.md").read_text(encoding="utf-8")
    command = app.get_command(click.Context(app), "watch")
    assert isinstance(command, click.Command)
    for param in command.params:
        for flag in param.opts:
            if flag not in ("-h", "--help"):
                assert f"`{flag}" in doc, f"{flag} is not in docs/watch.md"
    readme = (repo / "README.md").read_text(encoding="utf-8")
    assert "docs/watch.md" in readme and "reachwatch watch" in readme


def test_an_unreachable_bucket_fails_a_bounded_watch_and_an_endless_one_goes_on(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        base = [
            REACHWATCH, "watch", "--cc", "PK", "--platform", "x", "--endpoint", endpoint,
            "--since", SINCE, "--until", SINCE, "--db", str(tmp_path / "db"),
            "--out", str(tmp_path / "ooni"),
        ]  # fmt: skip
        once = subprocess.run([*base, "--once"], capture_output=True, text=True, timeout=120)
        lines = once.stderr.strip().splitlines()
        assert once.returncode == 2 and len(lines) == 1, once.stderr
        assert lines[0].startswith("reachwatch: error: cannot reach the bucket endpoint")

        proc = _start([*base, "--every", "1s"])
        seen = _wait_for(proc, "round 1 failed")
        seen += _wait_for(proc, "round 1 failed")  # tried again a second later: still going
        assert "cannot reach the bucket endpoint" in seen and "trying again in 0:00:01" in seen
        _out, err = _stopped(proc, signal.SIGTERM)
        assert "watch stopped by SIGTERM after 0 round(s)" in err


def test_a_second_signal_ends_a_watch_held_up_by_a_webhook_and_the_event_stays_owed(
    s3_server: tuple[str, Any], bucket: Bucket, objects: dict[str, list[bytes]], tmp_path: Path
) -> None:
    """The first SIGTERM waits for the POST under way (up to its timeout); the second ends
    the watch at once. The event was saved as owed before the POST: nothing is lost."""
    from reachwatch.watch import load_state, state_path

    bucket.put_corpus(objects, before=True)
    with socket.socket() as silent:  # takes connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        proc = _start(_args(s3_server[0], bucket, tmp_path, "--webhook", url, "--every", "1h"))
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("NEW incident")
        time.sleep(0.5)  # the POST is waiting for an answer
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None  # still in the POST (10 s timeout)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=5)
    assert proc.returncode == 130 and "reachwatch: interrupted" in err, err
    assert "Traceback" not in err
    [event] = _events(tmp_path)
    owed = load_state(state_path(tmp_path / "ooni", "PK", "x")).undelivered
    assert owed == [event]
