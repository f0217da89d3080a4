"""The zlib-ng gunzip gives what the standard library's zlib gives, damaged files included.

Sound members are decompressed by zlib-ng; a member that is damaged, fails its check or is cut
short is read again from its start by the standard library (`_gunzip_exact`). Each file here
is read both ways, through the same line parser: every record and every problem (with the
bytes it keeps) must be the same.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from reachwatch.ingest._lines import (
    _HOLD,
    Item,
    Record,
    _gunzip_exact,
    _parse_lines,
    _without_bom,
    read_items,
)


def _body(count: int, seed: int) -> bytes:
    """JSON lines that compress about 2:1 (random hex), so a few MB of output need a few MB
    of gzip and damage lands where it is put."""
    rng = random.Random(seed)
    lines = [orjson.dumps({"n": i, "hex": rng.randbytes(200).hex()}) for i in range(count)]
    return b"\n".join(lines) + b"\n"


SMALL = _body(3_000, 1)  # about 1.3 MB: held whole until its CRC checks out
LARGE = _body(4 * _HOLD // 400, 2)  # past _HOLD: checked ahead, then streamed


def _flip(data: bytes, at: float, width: int = 64) -> bytes:
    spot = int(len(data) * at)
    return data[:spot] + b"\xff" * width + data[spot + width :]


def _crc_flipped(data: bytes) -> bytes:
    return data[:-8] + bytes([data[-8] ^ 1]) + data[-7:]


FILES: dict[str, Callable[[], bytes]] = {
    "small sound": lambda: gzip.compress(SMALL, 1),
    "small damaged mid-way": lambda: _flip(gzip.compress(SMALL, 1), 0.5),
    "small CRC wrong": lambda: _crc_flipped(gzip.compress(SMALL, 1)),
    "small cut short": lambda: gzip.compress(SMALL, 1)[: int(len(SMALL) * 0.3)],
    "large sound": lambda: gzip.compress(LARGE, 1),
    "large damaged early": lambda: _flip(gzip.compress(LARGE, 1), 0.1),
    "large damaged past the hold": lambda: _flip(gzip.compress(LARGE, 1), 0.9),
    "large CRC wrong": lambda: _crc_flipped(gzip.compress(LARGE, 1)),
    "large cut short": lambda: gzip.compress(LARGE, 1)[:-4096],
    "second member damaged": lambda: (
        gzip.compress(SMALL, 1) + _flip(gzip.compress(SMALL[:200_000], 1), 0.5)
    ),
    "second member CRC wrong": lambda: (
        gzip.compress(SMALL, 1) + _crc_flipped(gzip.compress(SMALL, 1))
    ),
    "large then cut member": lambda: (
        gzip.compress(LARGE, 1) + gzip.compress(SMALL, 1)[: len(SMALL) // 4]
    ),
    "garbage after the end": lambda: gzip.compress(SMALL, 1) + b"not gzip at all",
    "small sound, zero padding after it": lambda: gzip.compress(SMALL, 1) + b"\x00" * 512,
}


def _exact(path: Path) -> list[Item]:
    with path.open("rb") as fh:
        return list(_parse_lines(_without_bom(_gunzip_exact(fh, 0, 0))))


@pytest.mark.parametrize("name", sorted(FILES))
def test_zlib_ng_path_gives_what_the_standard_library_gives(name: str, tmp_path: Path) -> None:
    path = tmp_path / "file.jsonl.gz"
    path.write_bytes(FILES[name]())
    fast = list(read_items(path))
    assert fast == _exact(path)
    assert fast  # every case gives records or problems
    if "sound" in name:
        assert all(isinstance(item, Record) for item in fast)
        assert b"\n".join(item.raw for item in fast if isinstance(item, Record)) + b"\n" == (
            SMALL if "small" in name else LARGE
        )
    else:
        assert not all(isinstance(item, Record) for item in fast)
