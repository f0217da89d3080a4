"""Reading measurement files (`reachwatch classify FILE`): every layout a file may have, where an
unjudgeable record is reported, and what the file name tells about a Hyperquack v1 scan. Each
test pins a behaviour mutation testing found no test of tests/classify checking."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.classify import MeasurementFileError
from reachwatch.classify._files import classify_file
from reachwatch.classify._fingerprints import load_fingerprints

# A Hyperquack v1 record: the bare keyword sent (as HTTP and HTTPS scans send it), the
# connection reset after it. It does not say which scan it came from.
V1_RESET = {
    "Server": "203.0.113.7",
    "Keyword": "blocked.example",
    "Results": [
        {
            "Sent": "blocked.example",
            "Received": "",
            "Success": False,
            "Error": "read: connection reset by peer",
            "StartTime": "2021-10-20T14:51:41.22-04:00",
        }
    ],
    "Blocked": True,
    "FailSanity": False,
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _v1_in(tmp_path: Path, name: str) -> Any:
    result = classify_file(_write(tmp_path / name, orjson.dumps(V1_RESET).decode()))
    (judged,) = result.judged
    return judged


def test_a_v1_file_named_for_https_is_judged_at_tls(tmp_path: Path) -> None:
    judged = _v1_in(tmp_path, "CP_Quack-https-2021-10-20.json")
    assert judged.test_name == "hyperquack_https"
    assert judged.layers["tls"].rule == "tls.cp_reset_after_keyword"
    assert (judged.verdict, judged.technique) == ("blocked", "tls.reset")


def test_a_v1_file_named_for_http_is_judged_at_http(tmp_path: Path) -> None:
    judged = _v1_in(tmp_path, "CP_Quack-HTTP-2021-10-20.json")
    assert judged.test_name == "hyperquack_http"
    assert (judged.verdict, judged.technique) == ("blocked", "http.reset")


def test_a_v1_file_named_for_echo_names_the_echo_scan(tmp_path: Path) -> None:
    assert _v1_in(tmp_path, "CP_Quack-echo-2021.json").test_name == "hyperquack_echo"


def test_a_v1_file_with_no_scan_in_its_name_infers_the_scan(tmp_path: Path) -> None:
    # The bare keyword was sent: an HTTP(S) scan, judged at http without TLS details.
    assert _v1_in(tmp_path, "results.json").test_name == "hyperquack_http"


def test_fingerprints_given_are_used_for_censored_planet_records(tmp_path: Path) -> None:
    """The caller's fingerprints, not the shipped ones, judge a Hyperquack page."""
    fps_file = _write(
        tmp_path / "blockpages.json",
        '{"fingerprint":"our_blockpage","pattern":"Forbidden by our censor"}\n',
    )
    fps = load_fingerprints(cp_blockpages=fps_file)
    record = dict(V1_RESET)
    record["Results"] = [
        {
            "Sent": "GET / HTTP/1.1\r\nHost: blocked.example\r\n\r\n",
            "Received": "HTTP/1.1 403 Forbidden\r\n\r\nForbidden by our censor",
            "Success": False,
            "Error": "",
            "StartTime": "2021-10-20T14:51:41Z",
        }
    ]
    path = _write(tmp_path / "CP_Quack-echo.json", orjson.dumps(record).decode())
    (judged,) = classify_file(path, fps).judged
    assert judged.layers["http"].rule == "http.cp_blockpage_signature"
    (default,) = classify_file(path).judged
    assert default.layers["http"].rule != "http.cp_blockpage_signature"


def test_bare_test_keys_become_a_web_connectivity_measurement_of_the_control_url(
    tmp_path: Path, healthy: Any
) -> None:
    tk = healthy("https://x.com/").build()["test_keys"]
    tk["x_control_request"] = {"http_request": "https://x.com/home"}
    (judged,) = classify_file(_write(tmp_path / "tk.json", orjson.dumps(tk).decode())).judged
    assert (judged.test_name, judged.input) == ("web_connectivity", "https://x.com/home")
    assert judged.verdict == "accessible"


def test_bare_test_keys_without_a_control_request_take_the_first_name_resolved(
    tmp_path: Path, healthy: Any
) -> None:
    tk = healthy("https://x.com/").build()["test_keys"]
    tk["queries"].insert(0, dict(tk["queries"][0], hostname="first.example"))
    (judged,) = classify_file(_write(tmp_path / "tk.json", orjson.dumps(tk).decode())).judged
    assert judged.input == "https://first.example/"


def test_bare_test_keys_with_a_malformed_control_request_take_the_first_name(
    tmp_path: Path, healthy: Any
) -> None:
    tk = healthy("https://x.com/").build()["test_keys"]
    tk["x_control_request"] = ["not", "a", "mapping"]
    (judged,) = classify_file(_write(tmp_path / "tk.json", orjson.dumps(tk).decode())).judged
    assert judged.input == "https://x.com/"


def test_an_array_file_counts_items_from_one(tmp_path: Path, healthy: Any) -> None:
    good = healthy().build()
    text = orjson.dumps([good, 7, good, {"test_name": "dash", "test_keys": {}}]).decode()
    result = classify_file(_write(tmp_path / "many.json", text))
    assert [j.verdict for j in result.judged] == ["accessible", "accessible"]
    assert (result.invalid, result.unsupported) == (1, 1)
    assert result.first_invalid == "item 2: a record is an object, not int"


def test_invalid_and_unsupported_records_are_counted_each(tmp_path: Path, healthy: Any) -> None:
    good = orjson.dumps(healthy().build()).decode()
    dash = orjson.dumps({"test_name": "dash", "test_keys": {}}).decode()
    lines = [good, "{not json", dash, "[1]", dash, "", good]
    result = classify_file(_write(tmp_path / "m.jsonl", "\n".join(lines) + "\n"))
    assert len(result.judged) == 2
    assert (result.invalid, result.unsupported) == (2, 2)
    # The first one is named, by its line number in the file (blank lines counted).
    assert result.first_invalid is not None and result.first_invalid.startswith("line 2: not JSON")


def test_one_document_is_reported_as_the_document(tmp_path: Path) -> None:
    result = classify_file(_write(tmp_path / "one.json", "[[1]]"))
    assert result.first_invalid == "item 1: a record is an object, not list"
    result = classify_file(_write(tmp_path / "one.json", '"text"'))
    assert result.first_invalid == "document: a record is an object, not str"


def test_a_jsonl_file_is_read_line_by_line_even_when_one_line_is_a_document(
    tmp_path: Path,
) -> None:
    # One line holding an array: as JSON lines it is one record (invalid), not a list of two.
    result = classify_file(_write(tmp_path / "x.JSONL", "[1, 2]\n"))
    assert (result.invalid, result.first_invalid) == (1, "line 1: a record is an object, not list")


def test_jsonc_comments_are_dropped_even_indented_and_gzipped(tmp_path: Path, healthy: Any) -> None:
    body = orjson.dumps(healthy().build(), option=orjson.OPT_INDENT_2).decode()
    text = "// a measurement of ours\n  // indented comment\n" + body + "\n"
    path = tmp_path / "m.JSONC.gz"
    path.write_bytes(gzip.compress(text.encode()))
    result = classify_file(path)
    assert [j.verdict for j in result.judged] == ["accessible"]
    assert result.invalid == 0


def test_a_gzipped_jsonl_file_is_still_read_as_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl.GZ"
    path.write_bytes(gzip.compress(b"[1]\n"))
    assert classify_file(path).first_invalid == "line 1: a record is an object, not list"


def test_bytes_that_are_not_utf8_are_replaced_not_refused(tmp_path: Path, healthy: Any) -> None:
    m = healthy().build()
    m["probe_asn"] = "AS\u00e9"
    raw = orjson.dumps(m).replace("\u00e9".encode(), b"\xe9")
    path = tmp_path / "latin1.json"
    path.write_bytes(raw)
    (judged,) = classify_file(path).judged
    assert judged.probe_asn == "AS\ufffd"


def test_an_empty_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.jsonl", "\n  \n")
    with pytest.raises(MeasurementFileError, match=r"empty\.jsonl: empty file"):
        classify_file(path)
