"""The bundle's container: a plain zip any unzip tool reads, written in one canonical layout
(fixed dates and attributes, no extra fields or comments, entries back to back) so that
`verify` can rebuild every header byte from the entries themselves. With the stored bytes of
each entry covered by the signed manifest, no byte of the file goes unchecked."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from reachwatch.evidence._errors import BundleError

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_LOCAL_SIG, _CENTRAL_SIG, _END_SIG = 0x04034B50, 0x02014B50, 0x06054B50
_VERSION, _MADE_BY = 20, (3 << 8) | 20  # zip 2.0, made on Unix
_UTF8 = 0x0800
_DOS_DATE = (1 << 5) | 1  # 1980-01-01, the earliest a zip can say: no time leaks in
_MODE = 0o100644 << 16
STORED, DEFLATED = 0, 8
MAX_ENTRIES, MAX_SIZE = 65_000, 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    data: bytes  # the file's content
    stored: bytes  # its bytes as they are in the zip (compressed when method is DEFLATED)
    method: int
    crc: int


class BadContainer(Exception):
    """The file is not a bundle in reachwatch's layout; the message says where."""


def make_entry(name: str, data: bytes, *, compress: bool = True) -> Entry:
    if compress:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        stored = packer.compress(data) + packer.flush()
    else:
        stored = data
    return Entry(name, data, stored, DEFLATED if compress else STORED, zlib.crc32(data))


def _local(e: Entry) -> bytes:
    name = e.name.encode()
    fields = (
        _LOCAL_SIG,
        _VERSION,
        _UTF8,
        e.method,
        0,
        _DOS_DATE,
        e.crc,
        len(e.stored),
        len(e.data),
        len(name),
        0,
    )
    return _LOCAL.pack(*fields) + name


def _central(e: Entry, offset: int) -> bytes:
    name = e.name.encode()
    fields = (
        _CENTRAL_SIG,
        _MADE_BY,
        _VERSION,
        _UTF8,
        e.method,
        0,
        _DOS_DATE,
        e.crc,
        len(e.stored),
        len(e.data),
        len(name),
        0,
        0,
        0,
        0,
        _MODE,
        offset,
    )
    return _CENTRAL.pack(*fields) + name


def zip_bytes(entries: list[Entry]) -> bytes:
    if len(entries) > MAX_ENTRIES:
        raise BundleError(f"a bundle holds at most {MAX_ENTRIES} files ({len(entries)} asked)")
    parts: list[bytes] = []
    offsets: list[int] = []
    size = 0
    for e in entries:
        offsets.append(size)
        for chunk in (_local(e), e.stored):
            parts.append(chunk)
            size += len(chunk)
    central = b"".join(_central(e, off) for e, off in zip(entries, offsets, strict=True))
    end = _END.pack(_END_SIG, 0, 0, len(entries), len(entries), len(central), size, 0)
    if size + len(central) > MAX_SIZE:
        raise BundleError("a bundle is at most 4 GiB (zip without zip64): select less data")
    return b"".join([*parts, central, end])


def read_entries(blob: bytes) -> list[Entry]:
    """The entries of a bundle, after checking that every byte outside the entries' stored
    data is exactly what `zip_bytes` writes for them and that each decompresses to its CRC."""
    entries: list[Entry] = []
    offsets: list[int] = []
    pos = 0
    while blob[pos : pos + 4] == struct.pack("<I", _LOCAL_SIG):
        if pos + _LOCAL.size > len(blob):
            raise BadContainer(f"byte {pos}: a file header is cut off")
        fields = _LOCAL.unpack_from(blob, pos)
        method, crc, csize, usize, name_len = fields[3], fields[6], fields[7], fields[8], fields[9]
        start = pos + _LOCAL.size + name_len
        try:
            name = blob[pos + _LOCAL.size : start].decode()
        except UnicodeDecodeError:
            raise BadContainer(f"byte {pos}: a file name is not UTF-8") from None
        stored = blob[start : start + csize]
        if len(stored) != csize:
            raise BadContainer(f"{name}: its data is cut off")
        entry = Entry(name, _inflate(name, stored, method, usize), stored, method, crc)
        if zlib.crc32(entry.data) != crc:
            raise BadContainer(f"{name}: its content does not match its CRC")
        if blob[pos:start] != _local(entry):
            raise BadContainer(f"{name}: its file header (byte {pos}) is not as written")
        entries.append(entry)
        offsets.append(pos)
        pos = start + csize
    central = b"".join(_central(e, off) for e, off in zip(entries, offsets, strict=True))
    if blob[pos : pos + len(central)] != central:
        raise BadContainer(f"byte {pos}: the zip's central directory is not as written")
    end = _END.pack(_END_SIG, 0, 0, len(entries), len(entries), len(central), pos, 0)
    if blob[pos + len(central) :] != end:
        raise BadContainer("the zip's end record is not as written, or bytes follow it")
    if not entries:
        raise BadContainer("no files in it")
    return entries


def _inflate(name: str, stored: bytes, method: int, size: int) -> bytes:
    if method == STORED:
        return stored
    if method != DEFLATED:
        raise BadContainer(f"{name}: unknown compression method {method}")
    unpacker = zlib.decompressobj(-15)
    try:
        data = unpacker.decompress(stored, size + 1)
    except zlib.error as exc:
        raise BadContainer(f"{name}: its compressed data is damaged ({exc})") from None
    if not unpacker.eof or unpacker.unused_data or unpacker.unconsumed_tail or len(data) != size:
        raise BadContainer(f"{name}: its compressed data is damaged (wrong length)")
    return data
