"""report stage: the self-contained HTML report of a case, its PDF, and the facts behind them.

    from reachwatch.report import build_report, write_report

`build_report(case, con)` gathers the facts from a store (reusing the compliance check of
cases/ and the detection of detect/) and renders the page; `write_report` writes report.html
and prints report.pdf with Debian's chromium. The charts (`timeline_chart`, `technique_chart`)
are public too: the dashboard draws the same ones.
"""

from reachwatch.report._answer import STATUS_TEXT, deadline_text, directive_title
from reachwatch.report._errors import ReportError
from reachwatch.report._facts import SCOPE_SQL, cited_ids, gather_facts, scope_params
from reachwatch.report._html import SYNTHETIC_TEXT, render_html
from reachwatch.report._methods import classifier_version, provenance
from reachwatch.report._operators import network_label, operators
from reachwatch.report._pdf import CHROMIUM_FLAGS, find_chromium, html_to_pdf
from reachwatch.report._svg import Marker, parse_time, technique_chart, timeline_chart
from reachwatch.report._write import (
    HTML_NAME,
    PDF_NAME,
    Report,
    build_report,
    report_meta,
    store_query,
    write_report,
)

__all__ = [
    "CHROMIUM_FLAGS",
    "HTML_NAME",
    "PDF_NAME",
    "SCOPE_SQL",
    "STATUS_TEXT",
    "SYNTHETIC_TEXT",
    "Marker",
    "Report",
    "ReportError",
    "build_report",
    "cited_ids",
    "classifier_version",
    "deadline_text",
    "directive_title",
    "find_chromium",
    "gather_facts",
    "html_to_pdf",
    "network_label",
    "operators",
    "parse_time",
    "provenance",
    "render_html",
    "report_meta",
    "scope_params",
    "store_query",
    "technique_chart",
    "timeline_chart",
    "write_report",
]
