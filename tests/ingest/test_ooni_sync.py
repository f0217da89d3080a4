"""`reachwatch ooni sync` against a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from reachwatch.cli import app
from reachwatch.ingest._ooni_sync import LEDGER

BUCKET = "ooni-data-eu-fra"
PK_KEYS = (
    "raw/20240216/23/PK/webconnectivity/2024021623_PK_webconnectivity.n1.0.jsonl.gz",
    "raw/20240217/03/PK/webconnectivity/2024021703_PK_webconnectivity.n1.0.jsonl.gz",
    "raw/20240217/03/PK/webconnectivity/2024021703_PK_webconnectivity.n1.1.jsonl.gz",
)
OTHER_KEYS = (
    "raw/20240217/03/IT/webconnectivity/2024021703_IT_webconnectivity.n1.0.jsonl.gz",
    "raw/20240217/03/PK/telegram/2024021703_PK_telegram.n1.0.jsonl.gz",
    "raw/20240226/00/PK/webconnectivity/2024022600_PK_webconnectivity.n1.0.jsonl.gz",
)


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, Any, dict[str, bytes]]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=BUCKET)
    bodies: dict[str, bytes] = {}
    for n, key in enumerate(PK_KEYS + OTHER_KEYS):
        lines = [orjson.dumps({"n": n, "i": i, "pad": "x" * 200}) for i in range(2000)]
        body = gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1)
        # OONI's bucket is public: objects readable without credentials.
        client.put_object(Bucket=BUCKET, Key=key, Body=body, ACL="public-read")
        bodies[key] = body
    try:
        yield endpoint, client, bodies
    finally:
        server.stop()


def _sync(endpoint: str, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        [
            "ooni", "sync", "--cc", "PK", "--test", "web_connectivity",
            "--since", "2024-02-16", "--until", "2024-02-25",
            "--out", str(out), "--endpoint", endpoint, "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = orjson.loads(result.stdout)
    return doc


def test_downloads_only_the_country_test_and_days_asked(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, _client, bodies = s3
    doc = _sync(endpoint, tmp_path)
    assert doc["files"] == 3 and doc["downloaded"] == 3 and doc["skipped"] == 0
    got = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert got == sorted([*PK_KEYS, LEDGER])  # the bucket's keys, and the hidden ledger
    assert doc["new_files"] == [str(tmp_path / k) for k in PK_KEYS]
    for key in PK_KEYS:
        assert (tmp_path / key).read_bytes() == bodies[key]


def test_second_run_skips_complete_files(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, _client, _bodies = s3
    _sync(endpoint, tmp_path)
    doc = _sync(endpoint, tmp_path)
    assert doc == {**doc, "files": 3, "downloaded": 0, "skipped": 3, "bytes_downloaded": 0}
    assert doc["new_files"] == []


NEW_KEY = "raw/20240221/07/PK/webconnectivity/2024022107_PK_webconnectivity.n1.0.jsonl.gz"


def test_second_run_downloads_and_names_only_the_new_object(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, client, _bodies = s3
    first = _sync(endpoint, tmp_path)
    assert first["latest_hour"] == "2024-02-17T03:00:00Z"
    body = gzip.compress(b'{"new": true}\n')
    client.put_object(Bucket=BUCKET, Key=NEW_KEY, Body=body, ACL="public-read")
    try:
        doc = _sync(endpoint, tmp_path)
    finally:
        client.delete_object(Bucket=BUCKET, Key=NEW_KEY)
    assert (doc["files"], doc["downloaded"], doc["skipped"], doc["changed"]) == (4, 1, 3, 0)
    assert doc["new_files"] == [str(tmp_path / NEW_KEY)] and doc["bytes_downloaded"] == len(body)
    assert doc["latest_hour"] == "2024-02-21T07:00:00Z"
    assert (tmp_path / NEW_KEY).read_bytes() == body


def test_an_object_replaced_by_one_of_the_same_size_is_downloaded_again(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    """The size alone would call the old copy complete; the ledger's ETag does not."""
    endpoint, client, _bodies = s3
    old, new = b"A" * 5000, b"B" * 5000
    client.put_object(Bucket=BUCKET, Key=NEW_KEY, Body=old, ACL="public-read")
    try:
        _sync(endpoint, tmp_path)
        client.put_object(Bucket=BUCKET, Key=NEW_KEY, Body=new, ACL="public-read")
        doc = _sync(endpoint, tmp_path)
        assert (doc["downloaded"], doc["changed"], doc["skipped"]) == (1, 1, 3)
        assert doc["new_files"] == [str(tmp_path / NEW_KEY)]
        assert (tmp_path / NEW_KEY).read_bytes() == new
        again = _sync(endpoint, tmp_path)  # and now it is known: nothing to do
        assert (again["downloaded"], again["new_files"]) == (0, [])
    finally:
        client.delete_object(Bucket=BUCKET, Key=NEW_KEY)


def test_a_mirror_from_before_the_ledger_is_checked_once_by_its_bytes(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    """Files another tool (or an older reachwatch) left: the right bytes are kept, a file of
    the right size but other bytes is downloaded again, and both are then in the ledger."""
    endpoint, _client, bodies = s3
    _sync(endpoint, tmp_path)
    (tmp_path / LEDGER).unlink()
    damaged = tmp_path / PK_KEYS[2]
    damaged.write_bytes(b"\x00" * len(bodies[PK_KEYS[2]]))
    doc = _sync(endpoint, tmp_path)
    assert (doc["downloaded"], doc["changed"], doc["skipped"]) == (1, 1, 2)
    assert doc["new_files"] == [str(damaged)]
    assert damaged.read_bytes() == bodies[PK_KEYS[2]]
    assert len((tmp_path / LEDGER).read_bytes().splitlines()) == 3


def test_a_torn_ledger_line_only_costs_a_check(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, _client, _bodies = s3
    _sync(endpoint, tmp_path)
    ledger = tmp_path / LEDGER
    ledger.write_bytes(ledger.read_bytes()[:-20])  # a run killed while writing its last line
    doc = _sync(endpoint, tmp_path)
    assert (doc["downloaded"], doc["skipped"]) == (0, 3)


def test_interrupted_download_resumes_from_the_part_file(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, _client, bodies = s3
    key = PK_KEYS[1]
    body = bodies[key]
    part = tmp_path / (key + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(body[: len(body) // 3])  # what a killed run leaves
    doc = _sync(endpoint, tmp_path)
    assert doc["resumed"] == 1 and doc["downloaded"] == 3
    others = sum(len(bodies[k]) for k in PK_KEYS if k != key)
    assert doc["bytes_downloaded"] == others + len(body) - len(body) // 3
    assert (tmp_path / key).read_bytes() == body
    assert not part.exists()


def test_damaged_part_file_is_detected_and_downloaded_again(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, _client, bodies = s3
    key = PK_KEYS[0]
    part = tmp_path / (key + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x00" * 100)  # right place, wrong bytes: the ETag check catches it
    _sync(endpoint, tmp_path)
    assert (tmp_path / key).read_bytes() == bodies[key]


def test_downloaded_files_read_back_whole(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    """The mirror is readable by the same line reader ingest uses."""
    from reachwatch.ingest._lines import Record, read_items

    endpoint, _client, _bodies = s3
    _sync(endpoint, tmp_path / "mirror")
    records = [
        item
        for path in sorted((tmp_path / "mirror").rglob("*.jsonl.gz"))
        for item in read_items(path)
    ]
    assert len(records) == 6000 and all(isinstance(r, Record) for r in records)


def test_unreachable_endpoint_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "ooni", "sync", "--cc", "PK", "--test", "web_connectivity",
            "--since", "2024-02-17", "--until", "2024-02-17",
            "--out", str(tmp_path), "--endpoint", "http://127.0.0.1:9",
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot reach" in result.output and "Traceback" not in result.output


def test_bad_dates_and_country_are_usage_errors(tmp_path: Path) -> None:
    base = ["ooni", "sync", "--test", "web_connectivity", "--out", str(tmp_path)]
    bad_day = CliRunner().invoke(
        app, [*base, "--cc", "PK", "--since", "2024-02-30", "--until", "2024-03-01"]
    )
    assert bad_day.exit_code == 2 and "not a date" in bad_day.output
    assert bad_day.output.count("\n") == 1  # one line, as every reachwatch error
    reversed_days = CliRunner().invoke(
        app, [*base, "--cc", "PK", "--since", "2024-02-20", "--until", "2024-02-10"]
    )
    assert reversed_days.exit_code == 2 and "before" in reversed_days.output
    bad_cc = CliRunner().invoke(
        app, [*base, "--cc", "PAK", "--since", "2024-02-20", "--until", "2024-02-21"]
    )
    assert bad_cc.exit_code == 2 and "country code" in bad_cc.output


def test_sync_killed_mid_download_resumes_where_it_stopped(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    endpoint, client, _bodies = s3
    key = "raw/20240220/05/PK/webconnectivity/2024022005_PK_webconnectivity.n1.0.jsonl.gz"
    body = os.urandom(64 * 1024 * 1024)
    client.put_object(Bucket=BUCKET, Key=key, Body=body, ACL="public-read")
    try:
        cmd = [
            sys.executable, "-c", "from reachwatch.cli import main; main()",
            "ooni", "sync", "--cc", "PK", "--test", "web_connectivity",
            "--since", "2024-02-20", "--until", "2024-02-20",
            "--out", str(tmp_path), "--endpoint", endpoint, "--json",
        ]  # fmt: skip
        part = tmp_path / (key + ".part")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 0):
            assert proc.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kept = part.stat().st_size
        assert 0 < kept < len(body)

        done = subprocess.run(cmd, capture_output=True, check=True)
        doc = orjson.loads(done.stdout)
        assert (doc["files"], doc["downloaded"], doc["resumed"]) == (1, 1, 1)
        assert doc["bytes_downloaded"] == len(body) - kept
        assert (tmp_path / key).read_bytes() == body
    finally:
        client.delete_object(Bucket=BUCKET, Key=key)


def test_default_endpoint_is_oonis_bucket_and_nothing_is_sent() -> None:
    """Without --endpoint, requests go to OONI's bucket in eu-central-1. The request is
    stopped before it leaves the process: tests never contact the real bucket."""
    from botocore.awsrequest import AWSResponse

    from reachwatch.ingest._ooni_sync import OONI_BUCKET, _client

    class _Empty:
        def stream(self, **_kw: Any) -> Iterator[bytes]:
            yield b"<ListBucketResult></ListBucketResult>"

    urls: list[str] = []

    def intercept(request: Any, **_kw: Any) -> AWSResponse:
        urls.append(request.url)
        return AWSResponse(request.url, 200, {}, _Empty())

    client = _client(None)
    client.meta.events.register("before-send.s3", intercept)
    client.list_objects_v2(Bucket=OONI_BUCKET, Prefix="raw/20240217/00/PK/")
    assert urls == [
        "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com/"
        "?list-type=2&prefix=raw%2F20240217%2F00%2FPK%2F&encoding-type=url"
    ]


class _HostileS3(BaseHTTPRequestHandler):
    """Answers the hour 2024-02-17 00 of PK with whatever the bucket name asks for."""

    protocol_version = "HTTP/1.1"
    HOUR = "raw/20240217/00/PK/"

    def log_message(self, *_args: object) -> None:
        pass

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        bucket = self.path.split("/")[1].split("?")[0]
        if "list-type" not in self.path:
            return self._send(b"EVIL")
        key, size = {
            # a key that would land outside --out
            "escape": ("../../escaped/x/webconnectivity/evil.jsonl.gz", "4"),
            "badsize": (self.HOUR + "webconnectivity/a.jsonl.gz", "notanumber"),
        }[bucket]
        hour = "prefix=" + self.HOUR.replace("/", "%2F") in self.path
        contents = f"<Contents><Key>{key}</Key><Size>{size}</Size></Contents>" if hour else ""
        self._send(
            b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
            b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated>'
            + contents.encode()
            + b"</ListBucketResult>"
        )


@pytest.fixture(scope="module")
def hostile_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _sync_args(out: Path, endpoint: str, bucket: str) -> list[str]:
    return [
        "ooni", "sync", "--cc", "PK", "--test", "web_connectivity",
        "--since", "2024-02-17", "--until", "2024-02-17",
        "--out", str(out), "--endpoint", endpoint, "--bucket", bucket,
    ]  # fmt: skip


def test_listed_key_outside_the_asked_prefix_is_never_written(
    hostile_endpoint: str, tmp_path: Path
) -> None:
    out = tmp_path / "a" / "b" / "out"
    result = CliRunner().invoke(app, [*_sync_args(out, hostile_endpoint, "escape"), "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["files"] == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert "no raw/YYYYMMDD/HH/PK/web_connectivity" in result.stderr  # not silently "done"


def test_endpoint_answers_that_are_not_s3_are_one_line_errors(
    hostile_endpoint: str, tmp_path: Path
) -> None:
    for args, expected in (
        (_sync_args(tmp_path, hostile_endpoint, "badsize"), "not S3's"),
        (_sync_args(tmp_path, "not a url", "x"), "--endpoint"),
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        assert expected in result.output and result.output.count("\n") == 1, result.output


def test_out_that_is_a_file_is_a_one_line_error(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    endpoint, _client, _bodies = s3
    out = tmp_path / "file"
    out.write_text("not a folder")
    args = [*_sync_args(out, endpoint, BUCKET)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "cannot write" in result.output, result.output
    assert out.read_text() == "not a folder"


def test_a_valid_query_that_matches_nothing_is_done_with_a_warning(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path
) -> None:
    """README's exit codes: nothing matched a valid query is not an error (0), with one warning
    line; a query refused before the network is 2 (test_cli_contract)."""
    endpoint, _client, _bodies = s3
    args = [*_sync_args(tmp_path / "out", endpoint, BUCKET)]
    args[args.index("--cc") + 1] = "IR"  # the bucket holds PK and IT only
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["files"] == 0
    warning = result.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("reachwatch: warning: nothing matched")
    assert "raw/YYYYMMDD/HH/IR/web_connectivity" in warning[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.gz"))


def _sync_on_dask(endpoint: str, out: Path, *engine: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        [
            "ooni", "sync", "--cc", "PK", "--test", "web_connectivity",
            "--since", "2024-02-16", "--until", "2024-02-25",
            "--out", str(out), "--endpoint", endpoint, "--json", "--engine", "dask", *engine,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = orjson.loads(result.stdout)
    return doc


def _mirror(out: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    ledger = files.pop(LEDGER)
    return {**files, LEDGER: b"".join(sorted(ledger.splitlines(keepends=True)))}


def test_dask_workers_download_from_the_bucket_what_one_process_downloads(
    s3: tuple[str, Any, dict[str, bytes]], tmp_path: Path, dask_cluster: str
) -> None:
    """On a local Dask cluster and on the test's scheduler with 2 workers (in a folder of
    their own): the same files, ledger and summary as a sync in one process, and a second
    run that downloads nothing."""
    endpoint, _client, bodies = s3
    alone = _sync(endpoint, tmp_path / "alone")
    for name, engine in (("local", ()), ("scheduler", ("--scheduler", dask_cluster))):
        out = tmp_path / name
        doc = _sync_on_dask(endpoint, out, *engine)
        assert doc | {"new_files": [], "out": ""} == alone | {"new_files": [], "out": ""}
        assert doc["new_files"] == [str(out / k) for k in PK_KEYS]
        assert _mirror(out) == _mirror(tmp_path / "alone")
        assert all((out / k).read_bytes() == bodies[k] for k in PK_KEYS)
        again = _sync_on_dask(endpoint, out, *engine)
        assert (again["downloaded"], again["skipped"], again["new_files"]) == (0, 3, [])
