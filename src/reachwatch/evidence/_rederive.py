"""Derive a bundle's verdicts, facts and report page again from its raw measurements, with
the classifier recorded in its manifest, and say exactly what differs."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import orjson

from reachwatch.cases import parse_case
from reachwatch.detect import CusumParams, DetectParams
from reachwatch.evidence._bundle import (
    CASE_FILE,
    FACTS_FILE,
    MEASUREMENTS_DIR,
    VERDICTS_FILE,
    verdict_rows,
)
from reachwatch.evidence._errors import BundleError
from reachwatch.evidence._finding import Finding
from reachwatch.report import HTML_NAME, gather_facts, provenance, render_html
from reachwatch.store import open_store

if TYPE_CHECKING:
    from reachwatch.evidence._zip import Entry

_TOOLS = ("classifier_version", "rules_sha256", "fingerprints_sha256", "catalog_sha256")
MAX_DIFFS = 40


def params_from_json(doc: dict[str, Any]) -> DetectParams:
    return DetectParams(**{**doc, "cusum": CusumParams(**doc["cusum"])})


def rederive(entries: dict[str, Entry], manifest: dict[str, Any], held: list[str]) -> list[Finding]:
    params = params_from_json(manifest["detect_params"])
    ours = provenance(params)
    changed = [k for k in _TOOLS if ours[k] != manifest.get(k)]
    if changed:
        return [
            Finding(
                "manifest.json",
                f"made with {k} {manifest.get(k)}; this reachwatch has "
                f"{ours[k]}: install the recorded version to re-derive the claims",
                claim=k,
            )
            for k in changed
        ]
    case = parse_case(entries[CASE_FILE].data.decode("utf-8", "replace"), CASE_FILE)
    with tempfile.TemporaryDirectory(prefix="reachwatch-verify-") as tmp:
        facts, verdicts, stored = _from_raw(Path(tmp), entries, case, params)
    findings = _compare_verdicts(orjson.loads(entries[VERDICTS_FILE].data), verdicts)
    if not findings:
        held.append(f"verdicts: all {len(verdicts):,} measurements classified again, each the same")
    if stored != manifest["measurements"]:
        findings.append(
            Finding(
                MEASUREMENTS_DIR,
                f"{stored} measurements stored from the bundle, "
                f"the manifest says {manifest['measurements']}",
            )
        )
    facts = orjson.loads(orjson.dumps(facts))
    diffs = list(_diff(orjson.loads(entries[FACTS_FILE].data), facts, ""))
    for path, detail in diffs[:MAX_DIFFS]:
        findings.append(Finding(FACTS_FILE, detail, claim=path))
    if len(diffs) > MAX_DIFFS:
        findings.append(Finding(FACTS_FILE, f"and {len(diffs) - MAX_DIFFS} more differences"))
    if not diffs:
        held.append("facts: every claim of the report derived again from the raw measurements")
    page = render_html(facts, manifest["report_meta"]).encode()
    if page != entries[HTML_NAME].data:
        findings.append(
            Finding(
                HTML_NAME,
                "differs from the page rendered from the re-derived "
                "facts (its text or charts were changed)",
            )
        )
    else:
        held.append(f"{HTML_NAME}: rendered again from the re-derived facts, byte for byte")
    return findings


def _from_raw(
    root: Path, entries: dict[str, Entry], case: Any, params: DetectParams
) -> tuple[dict[str, Any], list[list[Any]], int]:
    from reachwatch.ingest import ingest  # the classifier loads its data on import

    raw_dir = root / MEASUREMENTS_DIR
    raw_dir.mkdir()
    for name, entry in entries.items():
        if name.startswith(f"{MEASUREMENTS_DIR}/"):
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts:
                raise BundleError(f"{name}: a bundle file name may not leave the bundle")
            target = root.joinpath(*path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(entry.data)
    db = root / "store"
    summary = ingest([raw_dir], db)
    con = open_store(db, read_only=True)
    try:
        return gather_facts(case, con, params), verdict_rows(con, case), summary.stored
    finally:
        con.close()


def _compare_verdicts(claimed: list[list[Any]], derived: list[list[Any]]) -> list[Finding]:
    a = {row[0]: row[1:] for row in claimed}
    b = {row[0]: row[1:] for row in derived}
    out: list[Finding] = []
    for mid in sorted(set(a) | set(b)):
        if mid not in b:
            detail = "stated, but no such measurement in the bundle's raw data"
        elif mid not in a:
            detail = "in the raw data, but its verdict is not stated"
        elif a[mid] != b[mid]:
            detail = f"stated {_v(a[mid])}, the classifier gives {_v(b[mid])}"
        else:
            continue
        out.append(Finding(VERDICTS_FILE, detail, claim=f"measurement {mid}"))
    return out


def _v(pair: list[Any]) -> str:
    verdict, technique = pair
    return f"{verdict} ({technique})" if technique else str(verdict)


def _diff(claimed: Any, derived: Any, path: str) -> Any:
    """(path, what differs) for every leaf where the bundle's facts and the re-derived ones
    disagree; lists of the same length are compared item by item."""
    if isinstance(claimed, dict) and isinstance(derived, dict):
        for key in list(claimed) + [k for k in derived if k not in claimed]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in derived:
                yield sub, "stated in the bundle, not derived from its measurements"
            elif key not in claimed:
                yield sub, "derived from the measurements, missing from the bundle"
            else:
                yield from _diff(claimed[key], derived[key], sub)
    elif isinstance(claimed, list) and isinstance(derived, list) and len(claimed) == len(derived):
        for i, (x, y) in enumerate(zip(claimed, derived, strict=True)):
            yield from _diff(x, y, f"{path}[{i}]")
    elif claimed != derived:
        yield path, f"the bundle says {_short(claimed)}, the measurements give {_short(derived)}"


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 300 else f"{text[:300]}… ({len(text)} characters)"
