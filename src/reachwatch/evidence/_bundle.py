"""Write an evidence bundle: the raw measurements exactly as measured, the report, the case
file, the facts and verdicts the report states, and a manifest of SHA-256 hashes signed with
Ed25519."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reachwatch.cases import Case
from reachwatch.evidence._errors import BundleError
from reachwatch.evidence._keys import fingerprint, public_pem
from reachwatch.evidence._raw import RawMeasurement, fetch_raw
from reachwatch.evidence._zip import BadContainer, Entry, make_entry, read_entries, zip_bytes
from reachwatch.report import HTML_NAME, PDF_NAME, SCOPE_SQL, Report, scope_params

FORMAT = "reachwatch-evidence-bundle/1"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "signer.pub"
CASE_FILE, FACTS_FILE, VERDICTS_FILE = "case.yaml", "facts.json", "verdicts.json"
MEASUREMENTS_DIR = "measurements"


@dataclass(frozen=True, slots=True)
class BundleSummary:
    path: Path
    files: int
    measurements: int
    size: int
    signer: str


def verdict_rows(con: duckdb.DuckDBPyConnection, case: Case) -> list[list[Any]]:
    """[id, verdict, technique] of every measurement in the report's scope, by id."""
    sql = f"""SELECT measurement_id, verdict, technique FROM measurements
              WHERE {SCOPE_SQL} ORDER BY measurement_id"""
    return [[str(i), v, t] for i, v, t in con.execute(sql, scope_params(case)).fetchall()]


def measurement_entries(raws: list[RawMeasurement]) -> list[Entry]:
    """One JSON-lines file per source file, under a folder named as the source's own (its
    name can say what a record is, as Censored Planet's Hyperquack v1 files do). A record
    that spans lines (a pretty-printed document) gets a file of its own."""
    by_origin: dict[Path, list[RawMeasurement]] = {}
    for raw in raws:
        by_origin.setdefault(raw.origin, []).append(raw)
    entries: list[Entry] = []
    for n, (origin, items) in enumerate(by_origin.items(), 1):
        name = origin.name.removesuffix(".gz").removesuffix(".GZ")
        folder = f"{MEASUREMENTS_DIR}/{n:04d}/{origin.parent.name or 'root'}"
        if any(b"\n" in r.data for r in items):
            for k, r in enumerate(items, 1):
                entries.append(make_entry(f"{folder}/{k:05d}-{name}.json", r.data))
        else:
            stem = name if name.endswith((".jsonl", ".ndjson")) else f"{name}.jsonl"
            data = b"".join(r.data + b"\n" for r in items)
            entries.append(make_entry(f"{folder}/{stem}", data))
    return entries


def _describe(e: Entry) -> dict[str, Any]:
    return {
        "sha256": hashlib.sha256(e.data).hexdigest(),
        "size": len(e.data),
        "zip_sha256": hashlib.sha256(e.stored).hexdigest(),
    }


def _dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def write_bundle(
    path: Path,
    *,
    report: Report,
    report_dir: Path,
    case: Case,
    case_text: str,
    con: duckdb.DuckDBPyConnection,
    key: Ed25519PrivateKey,
) -> BundleSummary:
    """The bundle at `path` (a file reachwatch did not write is never replaced)."""
    _check_replaceable(path)
    verdicts = verdict_rows(con, case)
    raws = fetch_raw(con, [row[0] for row in verdicts])
    public = key.public_key()
    files = [
        make_entry(CASE_FILE, case_text.encode()),
        make_entry(FACTS_FILE, _dumps(report.facts)),
        make_entry(VERDICTS_FILE, _dumps(verdicts)),
        *[
            make_entry(name, _read(report_dir / name))
            for name in (HTML_NAME, PDF_NAME)
            if name == HTML_NAME or (report_dir / name).exists()
        ],
        make_entry(PUBLIC_KEY, public_pem(public)),
        *measurement_entries(raws),
    ]
    manifest = {
        "format": FORMAT,
        "case": {"id": case.id, "file": CASE_FILE},
        **report.meta["provenance"],
        "store_query": report.meta["query"],
        "report_meta": report.meta,
        "signer": {"fingerprint": fingerprint(public), "public_key": PUBLIC_KEY},
        "measurements": len(raws),
        "files": {e.name: _describe(e) for e in files},
    }
    manifest_bytes = _dumps(manifest)
    signature = key.sign(manifest_bytes).hex().encode() + b"\n"
    entries = [
        *files,
        make_entry(MANIFEST, manifest_bytes, compress=False),
        make_entry(SIGNATURE, signature, compress=False),
    ]
    blob = zip_bytes(entries)
    _write_atomically(path, blob)
    return BundleSummary(path, len(entries), len(raws), len(blob), fingerprint(public))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from None


def _check_replaceable(path: Path) -> None:
    if not path.exists():
        return
    try:
        names = {e.name for e in read_entries(path.read_bytes())}
    except (BadContainer, OSError):
        names = set()
    if MANIFEST not in names or not path.is_file():
        raise BundleError(f"{path}: exists and is not a reachwatch bundle; choose another name")


def _write_atomically(path: Path, blob: bytes) -> None:
    temp = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(blob)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BundleError(f"{path}: cannot write the bundle ({exc.strerror})") from None
