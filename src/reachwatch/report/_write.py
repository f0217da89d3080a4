"""Write a report folder: report.html always, report.pdf printed from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from reachwatch.cases import Case
from reachwatch.detect import DetectParams, iso
from reachwatch.report._errors import ReportError
from reachwatch.report._facts import SCOPE_SQL, gather_facts, scope_params
from reachwatch.report._html import GENERATOR, render_html
from reachwatch.report._methods import provenance
from reachwatch.report._pdf import html_to_pdf

HTML_NAME, PDF_NAME = "report.html", "report.pdf"


@dataclass(frozen=True, slots=True)
class Report:
    facts: dict[str, Any]
    meta: dict[str, Any]
    html: str


def store_query(case: Case) -> str:
    """The query that selected the report's measurements, with its values written in."""
    cc, platform = scope_params(case)
    where = SCOPE_SQL.replace("?", f"'{cc}'", 1).replace("?", f"'{platform}'", 1)
    return f"SELECT * FROM measurements WHERE {where}"


def report_meta(
    case: Case, params: DetectParams, *, signer: str | None, generated: datetime | None = None
) -> dict[str, Any]:
    at = (generated or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    return {
        "generated": iso(at),
        "provenance": provenance(params),
        "signer": signer,
        "query": store_query(case),
    }


def build_report(
    case: Case,
    con: duckdb.DuckDBPyConnection,
    *,
    params: DetectParams | None = None,
    signer: str | None = None,
    generated: datetime | None = None,
) -> Report:
    """The report's facts from the store, and its page."""
    params = params or DetectParams()
    facts = gather_facts(case, con, params)
    meta = report_meta(case, params, signer=signer, generated=generated)
    return Report(facts, meta, render_html(facts, meta))


def write_report(report: Report, out: Path, *, pdf: bool = True) -> list[Path]:
    """report.html (and report.pdf) in `out`. Files of those names that reachwatch did not
    write are never replaced."""
    html_path, pdf_path = out / HTML_NAME, out / PDF_NAME
    _check_replaceable(html_path, pdf_path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        html_path.write_text(report.html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{out}: cannot write the report ({exc.strerror})") from None
    if not pdf:
        return [html_path]
    html_to_pdf(html_path, pdf_path)
    return [html_path, pdf_path]


def _check_replaceable(html_path: Path, pdf_path: Path) -> None:
    if html_path.exists():
        try:
            ours = GENERATOR in html_path.read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            ours = False
        if not ours:
            raise ReportError(
                f"{html_path}: exists and was not written by reachwatch; choose "
                "another --out folder"
            )
    elif pdf_path.exists():
        raise ReportError(
            f"{pdf_path}: exists and was not written by reachwatch; choose another --out folder"
        )
