"""Blockpage and DNS fingerprints, loaded once from data files and matched many times.

Two public formats are read: OONI's blocking-fingerprints CSVs (`fingerprints_dns.csv`,
`fingerprints_http.csv`: exact / prefix / contains / regexp against the body or a named header)
and Censored Planet's JSON-lines signatures (`blockpage_signatures.json`,
`false_positive_signatures.json`: a name and a regular expression searched in the page). Every
pattern is compiled at load time; matching is pure string work, no I/O.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

import orjson

from reachwatch.classify._refusals import FingerprintError

# Blockpages are small; scanning only the head of a body keeps a 512 KiB page cheap.
SCAN_LIMIT = 128 * 1024

_KINDS = ("full", "prefix", "contains", "regexp")


@dataclass(frozen=True, slots=True)
class Match:
    """A fingerprint that matched: its name, and whether it means blocking (False for a
    known false positive)."""

    name: str
    blocking: bool


@dataclass(frozen=True, slots=True)
class HttpFingerprint:
    """One row of OONI's HTTP fingerprint CSV, compiled."""

    name: str
    location: str  # "body" or a lower-case header name
    kind: str  # full | prefix | contains | regexp
    pattern: str
    regex: re.Pattern[str] | None
    false_positive: bool

    def matches(self, text: str) -> bool:
        if self.kind == "contains":
            return self.pattern in text
        if self.kind == "prefix":
            return text.startswith(self.pattern)
        if self.kind == "full":
            return text == self.pattern
        assert self.regex is not None
        return self.regex.search(text) is not None


@dataclass(frozen=True, slots=True)
class Fingerprints:
    """All fingerprints the classifier consults."""

    dns: dict[str, str]  # answer IP -> fingerprint name
    http: tuple[HttpFingerprint, ...]
    blockpages: tuple[tuple[str, re.Pattern[str]], ...]
    false_positives: tuple[tuple[str, re.Pattern[str]], ...]

    def match_dns(self, ip: str) -> str | None:
        """The DNS fingerprint an answer address matches, or None."""
        return self.dns.get(ip)

    def match_http(self, body: str, headers: dict[str, str]) -> Match | None:
        """OONI-format fingerprints against a body and headers (names lower-case), then
        Censored Planet signatures against the body. Known false positives win."""
        body = body[:SCAN_LIMIT]
        found: Match | None = None
        for fp in self.http:
            location = fp.location
            text = body if location == "body" else headers.get(location)
            if text is None:
                continue
            # HttpFingerprint.matches, inlined: this runs for every plain-HTTP response.
            kind = fp.kind
            if kind == "contains":
                if fp.pattern not in text:
                    continue
            elif kind == "prefix":
                if not text.startswith(fp.pattern):
                    continue
            elif kind == "full":
                if text != fp.pattern:
                    continue
            elif not fp.matches(text):
                continue
            if fp.false_positive:
                return Match(fp.name, blocking=False)
            found = found or Match(fp.name, blocking=True)
        if found is not None:
            return found
        return self.match_page(body)

    def match_page(self, page: str) -> Match | None:
        """Censored Planet's rule: a false-positive signature first, then a blockpage one."""
        page = page[:SCAN_LIMIT]
        for name, regex in self.false_positives:
            if regex.search(page):
                return Match(name, blocking=False)
        for name, regex in self.blockpages:
            if regex.search(page):
                return Match(name, blocking=True)
        return None


def load_fingerprints(
    *,
    ooni_dns: Path | str | None = None,
    ooni_http: Path | str | None = None,
    cp_blockpages: Path | str | None = None,
    cp_false_positives: Path | str | None = None,
) -> Fingerprints:
    """Fingerprints from the given files; each one not given is reachwatch's shipped set.

    A given file with no usable fingerprint in it is refused: taking it would quietly turn off
    the detection it stands for.
    """
    return Fingerprints(
        dns=_not_empty(_dns_rows(_text(ooni_dns, "fingerprints_dns.csv")), ooni_dns),
        http=_not_empty(tuple(_http_rows(_text(ooni_http, "fingerprints_http.csv"))), ooni_http),
        blockpages=_not_empty(
            tuple(_signatures(_text(cp_blockpages, "blockpage_signatures.json"))), cp_blockpages
        ),
        false_positives=_not_empty(
            tuple(_signatures(_text(cp_false_positives, "false_positive_signatures.json"))),
            cp_false_positives,
        ),
    )


_T = TypeVar("_T", bound=Sized)


def _not_empty(found: _T, path: Path | str | None) -> _T:
    if path is not None and not found:
        raise FingerprintError(f"{path}: no usable fingerprint in this file")
    return found


@cache
def default_fingerprints() -> Fingerprints:
    """The shipped set, loaded once per process."""
    return load_fingerprints()


def _text(path: Path | str | None, shipped: str) -> tuple[str, str]:
    """(source name, text) of a fingerprint file."""
    if path is None:
        data = resources.files("reachwatch.classify") / "data" / shipped
        return shipped, data.read_text(encoding="utf-8")
    try:
        return str(path), Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FingerprintError(f"cannot read fingerprints {path}: {exc}") from None


def _csv_rows(source: tuple[str, str], required: Iterable[str]) -> list[dict[str, str]]:
    name, text = source
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    missing = [c for c in required if c not in (reader.fieldnames or ())]
    if missing:
        raise FingerprintError(f"{name}: not an OONI fingerprint CSV (no column {missing[0]!r})")
    return rows


def _dns_rows(source: tuple[str, str]) -> dict[str, str]:
    rows = _csv_rows(source, ("name", "pattern_type", "pattern"))
    # Every published DNS fingerprint is an exact address; other kinds have nothing to match.
    return {r["pattern"].strip(): r["name"] for r in rows if r["pattern_type"] == "full"}


def _http_rows(source: tuple[str, str]) -> Iterable[HttpFingerprint]:
    name, _ = source
    for line, row in enumerate(
        _csv_rows(source, ("name", "location_found", "pattern_type", "pattern")), start=2
    ):
        kind, where = row["pattern_type"], row["location_found"].strip().lower()
        if kind not in _KINDS or not (where == "body" or where.startswith("header.")):
            raise FingerprintError(
                f"{name}:{line}: unknown pattern type or location ({kind}, {where})"
            )
        yield HttpFingerprint(
            name=row["name"],
            location="body" if where == "body" else where.removeprefix("header."),
            kind=kind,
            pattern=row["pattern"],
            regex=_compile(row["pattern"], f"{name}:{line}") if kind == "regexp" else None,
            false_positive=row.get("scope", "") == "fp",
        )


def _signatures(source: tuple[str, str]) -> Iterable[tuple[str, re.Pattern[str]]]:
    name, text = source
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            doc = orjson.loads(raw)
            yield str(doc["fingerprint"]), _compile(str(doc["pattern"]), f"{name}:{line}")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise FingerprintError(f"{name}:{line}: not a signature line") from None


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error as exc:
        raise FingerprintError(f"{where}: bad regular expression ({exc})") from None
