"""Stream the JSON records of one file: JSON lines (plain or gzip) or one JSON document.

Memory stays bounded whatever the file: bytes are read in blocks, a line longer than
MAX_LINE is skipped without being held whole. A gzip member's lines are given as records only
once the member's CRC has checked out; the lines of a member that fails it (or breaks off in
damaged data) are given as corrupt_gzip problems with their bytes, and every line of the
members before it as usual.
"""

from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from zlib_ng import zlib_ng

MAX_LINE = 10 * 1024 * 1024
_BLOCK = 1024 * 1024
_GZIP_IN = 256 * 1024
_SALVAGE_STEP = 512
# A gzip member's output is held until its CRC is checked; a member larger than this is checked
# ahead (decompressed once more from its start) instead. Holding tens of MiB costs more in
# fresh pages than decompressing twice does (bench/ingest.py), so the bound is small.
_HOLD = 4 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_GZIP = zlib.MAX_WBITS | 16


@dataclass(slots=True, init=False)
class Record:
    """One parsed JSON value and the bytes it came from."""

    line: int
    value: Any
    raw: bytes

    # Spelled out: this module is compiled, and a compiled class runs its own __init__
    # natively but the one dataclass() writes as interpreted code (one per measurement).
    def __init__(self, line: int, value: Any, raw: bytes) -> None:
        self.line = line
        self.value = value
        self.raw = raw


@dataclass(slots=True)
class Problem:
    """Something in the file that is not a usable record; line 0 means the file as a whole."""

    line: int
    reason: str
    detail: str = ""
    raw: bytes | None = None


Item = Record | Problem


class _Corrupt:
    """Stands in the block stream where decompression failed."""

    def __init__(self, detail: str) -> None:
        self.detail = detail


class _Tainted(_Corrupt):
    """Decompressed bytes of a member that failed its check: their lines are not records."""

    def __init__(self, data: bytes, detail: str) -> None:
        super().__init__(detail)
        self.data = data


def file_kind(path: Path) -> str | None:
    """'jsonl', 'jsonl.gz', 'json' or 'yaml' for the names reachwatch reads, else None."""
    name = path.name.lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith((".jsonl.gz", ".json.gz", ".ndjson.gz")):
        return "jsonl.gz"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    return None


def read_items(path: Path) -> Iterator[Item]:
    """Every record and every problem of one file, in file order."""
    kind = file_kind(path)
    with path.open("rb") as fh:
        if kind == "yaml":
            yield from _parse_yaml(fh)
        elif kind == "json" and path.stat().st_size <= MAX_LINE:
            yield from _parse_json_file(fh.read().removeprefix(_BOM))
        else:
            blocks = _without_bom(_gunzip(fh) if kind == "jsonl.gz" else _blocks(fh))
            if path.name.lower().endswith((".json", ".json.gz")):
                first, blocks = _peek(blocks)
                if first == b"[":
                    yield from _parse_array(blocks)
                    return
                if first == b"{\n":
                    # A pretty-printed document over the limit is one record too long, not
                    # one unparsable line per line of it.
                    yield Problem(1, "line_too_long", f"a JSON document over {MAX_LINE} bytes")
                    return
            yield from _parse_lines(blocks)


def _without_bom(blocks: Iterator[bytes | _Corrupt]) -> Iterator[bytes | _Corrupt]:
    """The blocks with a leading UTF-8 byte order mark dropped (Windows editors write one;
    orjson refuses it, and it would cost the file its first record)."""
    first = next(blocks, None)
    if first is None:
        return
    yield first.removeprefix(_BOM) if isinstance(first, bytes) else first
    yield from blocks


def _peek(blocks: Iterator[bytes | _Corrupt]) -> tuple[bytes, Iterator[bytes | _Corrupt]]:
    """The stream's first byte that is not white space ('{\\n' for a lone opening brace), and
    the stream unchanged."""
    seen: list[bytes | _Corrupt] = []
    first = b""
    for block in blocks:
        seen.append(block)
        if not isinstance(block, bytes):
            break
        stripped = block.lstrip()
        if stripped:
            first = stripped[:1]
            if first == b"{" and stripped[1:].lstrip(b" \t\r")[:1] == b"\n":
                first = b"{\n"  # an object opening on a line of its own: pretty-printed
            break

    def replay() -> Iterator[bytes | _Corrupt]:
        yield from seen
        yield from blocks

    return first, replay()


def _blocks(fh: IO[bytes]) -> Iterator[bytes | _Corrupt]:
    while block := fh.read(_BLOCK):
        yield block


def _gunzip(fh: IO[bytes]) -> Iterator[bytes | _Corrupt]:
    """Decompressed blocks of a (possibly multi-member) gzip file, each member's only once its
    CRC checked out (see _gunzip_exact for what a damaged or cut file gives).

    zlib-ng decompresses sound members (about 2.5 times as fast as the standard library's
    zlib, which decompressing each large member twice made a quarter of ingest's time); at the
    first sign of damage, a failed check or an early end, the member is read again from its
    start by _gunzip_exact, so what a damaged file gives is the standard library's, byte for
    byte, whatever zlib-ng would have salvaged."""
    dec = zlib_ng.decompressobj(_GZIP)
    pos = 0  # offset in the file of data[0]
    member = _FastMember(fh, 0)
    started = False
    while compressed := fh.read(_GZIP_IN):
        data = compressed
        while data:
            started = True
            try:
                out = dec.decompress(data, _BLOCK)
                ready = member.add(out) if out else None
            except Exception:  # zlib_ng.error (a damaged member), or _Damaged (its check failed)
                yield from _gunzip_exact(fh, member.start, member.given)
                return
            if ready is not None:
                yield ready
            if dec.eof:  # the member's CRC and length checked out
                yield from member.release()
                consumed = len(data) - len(dec.unused_data)
                data = dec.unused_data
                pos += consumed
                if data and not data.startswith(b"\x1f\x8b"):
                    if data.strip(b"\x00"):
                        yield _Corrupt("data after the end of the gzip stream")
                        return
                    data = b""
                dec = zlib_ng.decompressobj(_GZIP)
                member = _FastMember(fh, pos)
                started = bool(data)
            else:
                pos += len(data) - len(dec.unconsumed_tail)
                data = dec.unconsumed_tail
    if started and not dec.eof:
        yield from _gunzip_exact(fh, member.start, member.given)


class _Damaged(Exception):
    """A member checked ahead failed: it is read again by _gunzip_exact."""


class _FastMember:
    """_Member for the zlib-ng path: its output is held until the member's end, or checked
    ahead past _HOLD bytes; a member that fails that check raises _Damaged before any of its
    bytes were given. `given` counts the bytes given (0 unless it was checked ahead)."""

    def __init__(self, fh: IO[bytes], start: int) -> None:
        self.fh = fh
        self.start = start
        self.held: list[bytes] = []
        self.size = 0
        self.given = 0
        self.checked = False

    def add(self, out: bytes) -> bytes | None:
        if self.checked:
            self.given += len(out)
            return out
        self.held.append(out)
        self.size += len(out)
        if self.size <= _HOLD:
            return None
        if not _member_is_sound(self.fh, self.start):
            raise _Damaged
        self.checked = True
        held, self.held = b"".join(self.held), []
        self.given = len(held)
        return held

    def release(self) -> Iterator[bytes]:
        yield from self.held
        self.held = []


def _member_is_sound(fh: IO[bytes], start: int) -> bool:
    """Whether the gzip member at `start` passes its check, by zlib-ng (also True when it is
    cut short, which the streaming pass finds itself)."""
    dec = zlib_ng.decompressobj(_GZIP)
    with open(fh.name, "rb") as again:
        again.seek(start)
        while (data := again.read(_GZIP_IN)) and not dec.eof:
            try:
                while data and not dec.eof:
                    dec.decompress(data, _BLOCK)
                    data = dec.unconsumed_tail
            except Exception:  # zlib_ng.error
                return False
    return True


def _gunzip_exact(fh: IO[bytes], start: int, skip: int) -> Iterator[bytes | _Corrupt]:
    """The blocks of the gzip file from the member at offset `start` on, by the standard
    library's zlib, less the member's first `skip` bytes (already given). A member that fails
    its check (or whose data is damaged) gives its bytes as one _Tainted, and the stream ends
    there; a file cut short ends with a _Corrupt after every byte decompressed before the
    cut."""
    fh.seek(start)
    dec = zlib.decompressobj(_GZIP)
    started = False
    pos = start  # offset in the file of data[0]
    member = _Member(fh, start)
    while compressed := fh.read(_GZIP_IN):
        data = compressed
        while data:
            started = True
            backup = dec.copy()
            try:
                out = dec.decompress(data, _BLOCK)
            except zlib.error as exc:
                member.held.extend(_salvage(backup, data))
                yield _Tainted(b"".join(member.held)[skip:], f"corrupt gzip member: {exc}")
                return
            if out and skip:
                out, skip = out[skip:], max(0, skip - len(out))
            if out:
                yield from member.add(out)
            if dec.eof:  # the member's CRC and length checked out
                yield from member.release()
                consumed = len(data) - len(dec.unused_data)
                data = dec.unused_data
                pos += consumed
                if data and not data.startswith(b"\x1f\x8b"):
                    if data.strip(b"\x00"):
                        yield _Corrupt("data after the end of the gzip stream")
                        return
                    data = b""
                dec = zlib.decompressobj(_GZIP)
                member = _Member(fh, pos)
                started = bool(data)
            else:
                pos += len(data) - len(dec.unconsumed_tail)
                data = dec.unconsumed_tail
    if started and not dec.eof:
        # Cut short: no CRC to check. What decompressed is kept as read (a download cut
        # mid-file is the common case), and the cut is reported.
        yield from member.release()
        yield _Corrupt("gzip stream ends early (truncated file)")


class _Member:
    """The output of one gzip member, held until its CRC is checked; past _HOLD bytes the
    member is checked ahead, from its start in the file, and then streams."""

    def __init__(self, fh: IO[bytes], start: int) -> None:
        self.fh = fh
        self.start = start
        self.held: list[bytes] = []
        self.size = 0
        self.checked = False
        self.failure: str | None = None

    def add(self, out: bytes) -> Iterator[bytes | _Corrupt]:
        if self.failure is not None:
            yield _Tainted(out, self.failure)
        elif self.checked:
            yield out
        else:
            self.held.append(out)
            self.size += len(out)
            if self.size > _HOLD:
                self.failure = _check_member(self.fh, self.start)
                self.checked = True
                held, self.held = b"".join(self.held), []
                yield held if self.failure is None else _Tainted(held, self.failure)

    def release(self) -> Iterator[bytes]:
        yield from self.held
        self.held = []


def _check_member(fh: IO[bytes], start: int) -> str | None:
    """Why the gzip member at `start` fails its check, or None when it passes (or is cut
    short, which the streaming pass reports itself)."""
    dec = zlib.decompressobj(_GZIP)
    with open(fh.name, "rb") as again:
        again.seek(start)
        while (data := again.read(_GZIP_IN)) and not dec.eof:
            try:
                while data and not dec.eof:
                    dec.decompress(data, _BLOCK)
                    data = dec.unconsumed_tail
            except zlib.error as exc:
                return f"corrupt gzip member: {exc}"
    return None


def _salvage(dec: Any, data: bytes) -> Iterator[bytes]:
    """Feed the block that failed in small steps, and the step that fails byte by byte, so
    every byte decompressed before the bad one survives (a CRC fails only after the last)."""
    for start in range(0, len(data), _SALVAGE_STEP):
        backup = dec.copy()
        try:
            out = dec.decompress(data[start : start + _SALVAGE_STEP])
        except zlib.error:
            for byte in range(start, min(start + _SALVAGE_STEP, len(data))):
                try:
                    out = backup.decompress(data[byte : byte + 1])
                except zlib.error:
                    return
                if out:
                    yield out
            return
        if out:
            yield out


def _parse_lines(blocks: Iterator[bytes | _Corrupt]) -> Iterator[Item]:
    """Records and problems of a stream of blocks, line by line. A line over MAX_LINE is
    skipped as it streams by; a _Corrupt block ends the stream with a corrupt_gzip problem.
    One loop rather than a pipeline of generators: this runs once per measurement."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    pending = b""
    number = 0
    skipping = False
    corrupt: _Corrupt | None = None
    tainted = _TaintedLines()
    for block in blocks:
        if isinstance(block, _Tainted):
            number, pending, skipping = yield from tainted.lines(block, number, pending, skipping)
            continue
        if isinstance(block, _Corrupt):
            corrupt = block
            break
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                continue
            number += 1
            yield _too_long(number)
            block = block[cut + 1 :]
            skipping = False
        lines = (pending + block if pending else block).split(b"\n")
        pending = lines.pop()
        for line in lines:
            number += 1
            try:
                value = loads(line)
            except decode_error as exc:
                problem = _unparsable(number, line, True, str(exc))
                if problem is not None:
                    yield problem
                continue
            if len(line) > MAX_LINE:
                yield _too_long(number)
            else:
                yield Record(number, value, line)
        if len(pending) > MAX_LINE:
            pending = b""
            skipping = True
    if tainted.detail is not None:
        yield from tainted.end(number, pending)
    elif skipping:
        number += 1
        yield _too_long(number)
    elif pending:
        number += 1
        item = _parse_line(number, pending, terminated=False)
        if item is not None:
            yield item
    if corrupt is not None:
        yield Problem(number + 1, "corrupt_gzip", corrupt.detail)


class _TaintedLines:
    """The lines of a gzip member that failed its check, as corrupt_gzip problems that keep
    their bytes: none of them is a record, and none is lost."""

    def __init__(self) -> None:
        self.detail: str | None = None
        self.reported = False

    def lines(
        self, block: _Tainted, number: int, pending: bytes, skipping: bool
    ) -> Generator[Problem, None, tuple[int, bytes, bool]]:
        """Problems for the complete lines `block` ends; the line number, the unfinished
        line and whether an over-long line is being skipped, after it."""
        self.detail = block.detail
        data = block.data
        if skipping:
            cut = data.find(b"\n")
            if cut < 0:
                return number, pending, True
            number += 1
            yield self._problem(number, None)
            data = data[cut + 1 :]
        lines = (pending + data).split(b"\n")
        pending = lines.pop()
        for line in lines:
            number += 1
            if line.strip():
                yield self._problem(number, line)
        return number, pending, False

    def end(self, number: int, pending: bytes) -> Iterator[Problem]:
        if pending.strip():
            yield self._problem(number + 1, pending)
        elif not self.reported:
            yield self._problem(number + 1, None)

    def _problem(self, number: int, line: bytes | None) -> Problem:
        self.reported = True
        assert self.detail is not None
        raw = line if line is not None and len(line) <= MAX_LINE else None
        return Problem(number, "corrupt_gzip", f"{self.detail} (the line is unverified)", raw)


def _too_long(number: int) -> Problem:
    return Problem(number, "line_too_long", f"line longer than {MAX_LINE} bytes")


def _parse_line(number: int, line: bytes, terminated: bool) -> Item | None:
    """The line's record or problem (one over MAX_LINE is too long, unread); None for a blank
    line, which is no record at all."""
    if len(line) > MAX_LINE:
        return _too_long(number)
    try:
        return Record(number, orjson.loads(line), line)
    except orjson.JSONDecodeError as exc:
        return _unparsable(number, line, terminated, str(exc))


def _unparsable(number: int, line: bytes, terminated: bool, detail: str) -> Problem | None:
    """The problem with a line orjson refused; None for a blank line (no record at all)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip():
        return None
    return Problem(number, _why_unparsable(line, terminated), detail, line)


def _why_unparsable(data: bytes, terminated: bool) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    return "invalid_json" if terminated else "truncated_line"


def _parse_array(blocks: Iterator[bytes | _Corrupt]) -> Iterator[Item]:
    """The elements of a top-level JSON array, one at a time, whatever the file's size: the
    standard library's scanner says where each element ends, orjson then reads it like a line.
    As for array files read whole, an element's position stands in for its line number.
    Damage ends the array: the elements before it are kept, the damage is one problem."""
    stream = _ArrayText(blocks)
    index = 0
    stream.skip_space()
    stream.pos += 1  # the opening bracket, which the caller has seen
    while True:
        if not stream.skip_space():
            if stream.corrupt is None:
                yield Problem(index + 1, "truncated_line", "the array ends before its ]")
            break
        if stream.char() == "]":
            stream.pos += 1
            if stream.skip_space():
                yield Problem(index + 1, "invalid_json", "data after the end of the array")
            break
        if index:
            if stream.char() != ",":
                detail = f"expected , or ] after element {index}"
                yield Problem(index + 1, "invalid_json", detail)
                break
            stream.pos += 1
            if not stream.skip_space():
                continue  # reported as a truncated array above
        index += 1
        raw, problem = stream.element()
        if problem is not None:
            yield Problem(index, problem[0], f"array damaged at element {index}: {problem[1]}")
            break
        item = _parse_line(index, raw, terminated=True)
        if item is not None:
            yield item
    if stream.corrupt is not None:
        yield Problem(index + 1, "corrupt_gzip", stream.corrupt.detail)


_NOT_SPACE = re.compile(r"[^ \t\r\n]")


class _ArrayText:
    """The decoded text of an array file, held from the current element on."""

    def __init__(self, blocks: Iterator[bytes | _Corrupt]) -> None:
        self._blocks = blocks
        # surrogateescape: invalid UTF-8 survives the round trip, so orjson can name it
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._scan = json.JSONDecoder().raw_decode
        self.text = ""
        self.pos = 0
        self.eof = False
        self.corrupt: _Corrupt | None = None

    def char(self) -> str:
        return self.text[self.pos]

    def more(self) -> bool:
        """Read one more block; False at the end of the stream."""
        if self.eof:
            return False
        block = next(self._blocks, None)
        if isinstance(block, bytes):
            self.text = self.text[self.pos :] + self._decoder.decode(block)
            self.pos = 0
            return True
        self.eof, self.corrupt = True, block
        self.text += self._decoder.decode(b"", final=True)
        return True

    def skip_space(self) -> bool:
        """Move to the next character that is not white space; False when there is none."""
        while True:
            found = _NOT_SPACE.search(self.text, self.pos)
            if found is not None:
                self.pos = found.start()
                return True
            self.pos = len(self.text)
            if not self.more():
                return False

    def element(self) -> tuple[bytes, tuple[str, str] | None]:
        """The bytes of the JSON value at pos, or the reason and detail it cannot be read."""
        while True:
            try:
                end = self._scan(self.text, self.pos)[1]
            except json.JSONDecodeError as exc:
                error: json.JSONDecodeError | None = exc
            except RecursionError:
                # Too deep for the scanner: find its end by counting brackets instead, so the
                # element is quarantined whole and the elements after it are still read.
                closed = _container_end(self.text, self.pos)
                if closed is not None:
                    raw = self.text[self.pos : closed].encode("utf-8", "surrogateescape")
                    self.pos = closed
                    return raw, None
                error = None
                if len(self.text) - self.pos > MAX_LINE:
                    return b"", ("line_too_long", f"no end found within {MAX_LINE} bytes")
                if not self.more():
                    return b"", ("truncated_line", "the array ends inside an element")
                continue
            else:
                error = None
                if end < len(self.text) or self.eof:
                    raw = self.text[self.pos : end].encode("utf-8", "surrogateescape")
                    self.pos = end
                    return raw, None
            # The value may go on in the next block: read more, as far as a line may go.
            if len(self.text) - self.pos > MAX_LINE:
                return b"", ("line_too_long", f"no end found within {MAX_LINE} bytes")
            if not self.more():
                assert error is not None
                at_end = error.pos >= len(self.text) - 1 or error.msg.startswith("Unterminated")
                return b"", ("truncated_line" if at_end else "invalid_json", str(error))


_BRACKET_OR_STRING = re.compile(r'[\[\]{}]|"(?:[^"\\]|\\.)*"')


def _container_end(text: str, pos: int) -> int | None:
    """Where the array or object opening at `pos` ends (bracket counting, strings skipped), or
    None when the text ends first."""
    depth = 0
    for token in _BRACKET_OR_STRING.finditer(text, pos):
        char = token.group()
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return token.end()
    return None


def _parse_yaml(fh: IO[bytes]) -> Iterator[Item]:
    """A legacy ooniprobe YAML report, converted entry by entry to the JSON format."""
    from reachwatch.formats.ooni import LegacyYamlError, legacy_yaml_measurements

    try:
        for line, measurement in legacy_yaml_measurements(fh):
            yield Record(line, measurement, orjson.dumps(measurement))
    except LegacyYamlError as exc:
        yield Problem(exc.line, "invalid_yaml", str(exc))


def _parse_json_file(data: bytes) -> Iterator[Item]:
    """A .json file is one document (an object, or an array of them), or else JSON lines."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        error = str(exc)
    else:
        if isinstance(document, list):
            # Read again element by element: each record keeps its exact bytes.
            yield from _parse_array(iter([data]))
        else:
            yield Record(1, document, data)
        return
    if data.lstrip()[:1] == b"[":
        yield from _parse_array(iter([data]))
        return
    items = list(_parse_lines(iter([data])))
    multi_line_document = data.lstrip()[:1] in (b"{", b"[") and len(items) > 1
    objects = any(isinstance(item, Record) and isinstance(item.value, dict) for item in items)
    if multi_line_document and not objects:
        # A damaged pretty-printed document is one bad record, not one per line.
        reason = _why_unparsable(data, terminated=True)
        yield Problem(1, reason, error, data if len(data) <= 65536 else None)
        return
    yield from items
