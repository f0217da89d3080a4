"""The streaming reader: every record and every problem, with line numbers, in bounded memory."""

from __future__ import annotations

import gzip
import itertools
import tracemalloc
import zlib
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from reachwatch.ingest._lines import MAX_LINE, Problem, Record, _parse_array, read_items


def _lines(n: int) -> list[bytes]:
    return [orjson.dumps({"n": i, "text": f"line {i} " * 20}) for i in range(n)]


def _summary(path: Path) -> list[tuple[int, str]]:
    """(line, 'ok' or the problem's reason) per item."""
    return [
        (item.line, "ok" if isinstance(item, Record) else item.reason) for item in read_items(path)
    ]


def test_jsonl_reports_each_bad_line_by_number_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b'{"a": 1}\n'  # 1 ok
        b"not json\n"  # 2
        b'{"b": "\xff\xfe"}\n'  # 3 invalid UTF-8
        b"\n"  # 4 blank: not a record, not a problem
        b'{"c": 3}\r\n'  # 5 CRLF is fine
        b"[1, 2]\n"  # 6 valid JSON (not an object: the pipeline decides)
        b'{"d": 4, "trunc'  # 7 cut off mid-line, no newline
    )
    assert _summary(path) == [
        (1, "ok"),
        (2, "invalid_json"),
        (3, "invalid_utf8"),
        (5, "ok"),
        (6, "ok"),
        (7, "truncated_line"),
    ]
    bad = [item for item in read_items(path) if isinstance(item, Problem)]
    assert bad[0].raw == b"not json"


def test_last_line_without_newline_is_kept_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}')
    assert _summary(path) == [(1, "ok"), (2, "ok")]


def test_line_over_limit_is_skipped_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    huge = b'{"x": "' + b"a" * (3 * MAX_LINE) + b'"}'
    path.write_bytes(b'{"a": 1}\n' + huge + b'\n{"a": 3}\n')
    del huge
    tracemalloc.start()
    try:
        result = _summary(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == [(1, "ok"), (2, "line_too_long"), (3, "ok")]
    assert peak < 2.5 * MAX_LINE  # the 30 MB line was never in memory whole


def test_gzip_truncated_keeps_every_complete_line_before_the_cut(tmp_path: Path) -> None:
    lines = _lines(3000)
    data = gzip.compress(b"\n".join(lines) + b"\n")
    cut = int(len(data) * 0.6)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[:cut])
    # What zlib itself can decompress from the surviving bytes, as complete lines.
    survivable = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data[:cut])
    complete = survivable.count(b"\n")
    items = list(read_items(path))
    records = [i for i in items if isinstance(i, Record)]
    assert [r.raw for r in records[:complete]] == lines[:complete]
    assert len(records) in (complete, complete + 1)  # + a partial tail that happens to parse
    assert isinstance(items[-1], Problem) and items[-1].reason == "corrupt_gzip"


def test_gzip_corrupted_in_the_middle_keeps_the_lines_before_the_damage_unverified(
    tmp_path: Path,
) -> None:
    lines = _lines(3000)
    data = bytearray(gzip.compress(b"\n".join(lines) + b"\n"))
    spot = len(data) // 2
    data[spot : spot + 64] = b"\xff" * 64
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(data))
    items = list(read_items(path))
    # The member's CRC cannot be checked: none of its lines is a record, and every line zlib
    # produced before it failed survives, line for line, in a corrupt_gzip problem.
    assert not [i for i in items if isinstance(i, Record)]
    kept = [i for i in items if isinstance(i, Problem) and i.raw is not None]
    assert {i.reason for i in kept} == {"corrupt_gzip"}
    dec = zlib.decompressobj(zlib.MAX_WBITS | 16)
    produced = b""
    for start in range(0, len(data), 64):
        try:
            produced += dec.decompress(bytes(data[start : start + 64]))
        except zlib.error:
            break
    expected = produced.count(b"\n")
    assert expected > 500
    assert [i.raw for i in kept[: expected - 1]] == lines[: expected - 1]


def test_gzip_with_several_members_is_read_whole(tmp_path: Path) -> None:
    lines = _lines(100)
    path = tmp_path / "multi.jsonl.gz"
    path.write_bytes(
        gzip.compress(b"\n".join(lines[:50]) + b"\n") + gzip.compress(b"\n".join(lines[50:]))
    )
    assert [i.raw for i in read_items(path) if isinstance(i, Record)] == lines


def test_json_document_array_and_json_lines(tmp_path: Path) -> None:
    pretty = tmp_path / "one.json"
    pretty.write_bytes(orjson.dumps({"a": 1, "b": [1, 2]}, option=orjson.OPT_INDENT_2))
    assert _summary(pretty) == [(1, "ok")]
    array = tmp_path / "many.json"
    array.write_bytes(orjson.dumps([{"a": 1}, {"a": 2}, {"a": 3}]))
    assert [i.value for i in read_items(array) if isinstance(i, Record)] == [
        {"a": 1},
        {"a": 2},
        {"a": 3},
    ]
    lines = tmp_path / "scan.json"  # Censored Planet: .json name, one object per line
    lines.write_bytes(b'{"a": 1}\n{"a": 2}\ngarbage\n{"a": 4}\n')
    assert _summary(lines) == [(1, "ok"), (2, "ok"), (3, "invalid_json"), (4, "ok")]


def test_damaged_pretty_document_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    text = orjson.dumps({"a": 1, "b": {"c": [1, 2, 3]}}, option=orjson.OPT_INDENT_2)
    path.write_bytes(text[:-5])
    assert _summary(path) == [(1, "invalid_json")]


def test_array_file_larger_than_a_line_is_read_element_by_element(tmp_path: Path) -> None:
    # A 100k-measurement export as one JSON array is far over MAX_LINE: every element counts.
    elements = [orjson.dumps({"n": i, "pad": "x" * 150}) for i in range(70_000)]
    path = tmp_path / "export.json"
    path.write_bytes(b"[\n  " + b",\n  ".join(elements) + b"\n]\n")
    assert path.stat().st_size > MAX_LINE
    tracemalloc.start()
    raws = [item.raw for item in read_items(path) if isinstance(item, Record)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert raws == elements
    assert peak < 4 * MAX_LINE


def test_damaged_array_keeps_every_element_before_the_damage(tmp_path: Path) -> None:
    elements = [orjson.dumps({"n": i}) for i in range(5)]
    whole = b"[" + b", ".join(elements) + b"]"
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(whole[:-12])
    assert _summary(truncated) == [(1, "ok"), (2, "ok"), (3, "ok"), (4, "truncated_line")]
    broken = tmp_path / "broken.json"
    broken.write_bytes(whole.replace(b'{"n":2}', b'{"n":tru}'))
    assert _summary(broken) == [(1, "ok"), (2, "ok"), (3, "invalid_json")]
    gz = tmp_path / "cut.json.gz"
    gz.write_bytes(gzip.compress(whole)[:-20])
    summary = _summary(gz)
    assert summary[0] == (1, "ok") and summary[-1][1] == "corrupt_gzip"
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" + b"[" * 50_000 + b"]" * 50_000 + b"]")
    assert _summary(deep) == [(1, "invalid_json")]


def test_byte_order_mark_does_not_cost_the_first_record(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    record = orjson.dumps({"a": 1})
    for name, data in (
        ("lines.jsonl", bom + record + b"\n" + record + b"\n"),
        ("doc.json", bom + record),
        ("lines.jsonl.gz", gzip.compress(bom + record + b"\n" + record + b"\n")),
        ("array.json", bom + b"[" + record + b"," + record + b"]"),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        items = list(read_items(path))
        assert items and all(isinstance(i, Record) and i.raw == record for i in items), name


def test_yaml_alias_bomb_is_one_problem_in_bounded_memory(tmp_path: Path) -> None:
    # Nine levels of nine aliases: a few hundred bytes that expand to 387 million strings.
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghi"
    for prev, name in itertools.pairwise(names):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    header = "---\ntest_name: http_requests\nprobe_cc: PK\nstart_time: 1400000000\n"
    path.write_text(header + "---\ninput: x\n" + "\n".join(levels) + "\n")
    # Unbounded, this takes gigabytes and minutes; bounded, a fraction of a second.
    assert _summary(path) == [(6, "invalid_yaml")]


_SCALARS = st.integers(-(2**40), 2**40) | st.text(max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.dictionaries(st.text(max_size=5), _SCALARS, max_size=4),
        min_size=1,
        max_size=12,
    ),
    indent=st.booleans(),
    cut=st.floats(min_value=0, max_value=1),
)
def test_array_cut_anywhere_keeps_exactly_the_whole_elements_before_the_cut(
    values: list[dict[str, object]], indent: bool, cut: float
) -> None:
    # The streamed array reader against a cut at any byte: every element wholly before the
    # cut is a record, in order; nothing after it is; the cut itself is one problem.
    option = orjson.OPT_INDENT_2 if indent else 0
    whole = orjson.dumps(values, option=option)
    data = whole[: max(1, int(len(whole) * cut))]
    ends, depth, in_string, escaped = [], 0, False, False
    for at, byte in enumerate(whole):
        char = chr(byte)
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 1:
                ends.append(at + 1)
    whole_before_cut = sum(1 for end in ends if end <= len(data))
    items = list(_parse_array_bytes(data))
    records = [item.value for item in items if isinstance(item, Record)]
    assert records == values[:whole_before_cut]
    problems = [item for item in items if isinstance(item, Problem)]
    assert len(problems) == (0 if data == whole else 1)


def _parse_array_bytes(data: bytes) -> list[Record | Problem]:
    if not data.lstrip().startswith(b"["):
        return [Problem(1, "truncated_line")] if data.strip() else []
    return list(_parse_array(iter([data[i : i + 7] for i in range(0, len(data), 7)])))


def test_pretty_document_over_the_limit_is_one_problem_not_one_per_line(tmp_path: Path) -> None:
    document = {"test_keys": {f"k{i}": "x" * 40 for i in range(250_000)}}
    path = tmp_path / "huge.json"
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    assert path.stat().st_size > MAX_LINE
    assert _summary(path) == [(1, "line_too_long")]
    lines = tmp_path / "scan.json"  # JSON lines over the limit are still read line by line
    lines.write_bytes(b'{"a": 1}\n' * (MAX_LINE // 9 + 1))
    assert {reason for _line, reason in _summary(lines)} == {"ok"}
