"""The report page: one self-contained HTML file rendered from the facts document alone.

Nothing in it is fetched: styles are inline, charts are inline SVG, fonts are the system's,
and a Content-Security-Policy forbids any request, so the page opens offline. The same input
gives the same bytes, which is how `verify` checks the report against the raw measurements.
"""

from __future__ import annotations

from html import escape
from typing import Any

from reachwatch.report._answer import (
    STATUS_TEXT,
    deadline_text,
    directive_outcome,
    directive_title,
    incident_sentence,
    no_incident_sentence,
    when,
)
from reachwatch.report._methods_html import methods_section
from reachwatch.report._operators import network_label, operators
from reachwatch.report._style import CSS
from reachwatch.report._svg import Marker, parse_time, technique_chart, timeline_chart

SYNTHETIC_TEXT = "SYNTHETIC DATA: simulated measurements, not observations of the real world"
GENERATOR = '<meta name="generator" content="reachwatch">'
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(facts: dict[str, Any], meta: dict[str, Any]) -> str:
    """The whole page. `meta`: generated (ISO time), provenance, signer (a key fingerprint or
    None) and query (the store query that selected the data)."""
    synthetic = bool(facts["check"]["data"]["synthetic"])
    case = facts["case"]
    banner = f'<div class="synthetic">{SYNTHETIC_TEXT}</div>' if synthetic else ""
    # In print, the page box itself carries the label, so that every page has it.
    page_label = (
        f'<style>@page {{ @top-center {{ content: "{SYNTHETIC_TEXT}"; font: 700 9pt sans-serif; '
        "color: #000; background: #ffe14d; } } @media print { .synthetic { display: none; } }"
        "</style>"
        if synthetic
        else ""
    )
    body = [
        _header(facts, meta),
        _answer(facts),
        _timelines(facts, synthetic),
        _techniques(facts, synthetic),
        _networks(facts),
        _orders_detail(facts),
        _events(facts),
        methods_section(facts, meta),
        _appendix(facts),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{GENERATOR}"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{escape(case['title'])}: reachwatch report</title>"
        f"<style>{CSS}</style>{page_label}</head><body>{banner}<main>{''.join(body)}</main></body></html>\n"
    )


def _ids(ids: list[str]) -> str:
    """Measurement ids in full, each a link to its row in the appendix."""
    if not ids:
        return '<span class="ids">none</span>'
    links = "".join(f'<a href="#m-{escape(i)}">{escape(i)}</a> ' for i in ids)
    return f'<span class="ids">{links}</span>'


def _header(facts: dict[str, Any], meta: dict[str, Any]) -> str:
    case, data = facts["case"], facts["check"]["data"]
    return (
        f"<header><h1>{escape(case['title'])}</h1>"
        f'<p class="meta">Case <b>{escape(case["id"])}</b> · measurements from '
        f"{when(data['start'])} to {when(data['end'])} · report generated "
        f"{when(meta['generated'])} · <b>All times are UTC.</b></p></header>"
    )


def _answer(facts: dict[str, Any]) -> str:
    check = facts["check"]
    incidents = check["incidents"]
    if not incidents:
        known = bool(check["data"]["start"])
        cls, word = ("clear", "Not blocked in the data") if known else ("unknown", "No data")
        lines = [f"<p>{escape(no_incident_sentence(facts))}</p>"]
    else:
        ongoing = any(i["end"] is None for i in incidents)
        cls, word = "", "Blocked" if ongoing else "Was blocked"
        lines = [
            f"<p>{escape(incident_sentence(facts, i))} Evidence: "
            f'<a href="#net-{i_no}">per network</a>.</p>'
            for i_no, i in enumerate(incidents, 1)
        ]
    rows = "".join(
        f"<tr><td>{escape(directive_title(d))}</td><td>{escape(deadline_text(d))}</td>"
        f'<td><span class="status {_status_class(d["status"])}">'
        f"{STATUS_TEXT[d['status']]}</span> {escape(directive_outcome(facts, d))} "
        f'<a href="#order-{n}">evidence</a></td></tr>'
        for n, d in enumerate(check["directives"], 1)
    )
    orders = (
        '<h3>Every order and directive in the case</h3><table class="orders"><tr>'
        "<th>order</th><th>deadline</th><th>followed?</th></tr>" + rows + "</table>"
        if rows
        else "<p>The case holds no order or directive to check.</p>"
    )
    return (
        f'<section class="answer" id="answer"><span class="verdict {cls}">{word}</span>'
        + "".join(lines)
        + orders
        + "</section>"
    )


def _status_class(status: str) -> str:
    return "s-" + status.replace(" ", "-")


def _markers(facts: dict[str, Any]) -> tuple[list[Marker], str]:
    """The case's events on the charts' axis, numbered as in the events section, and the
    deadlines of its directives; with the legend that names them."""
    markers: list[Marker] = []
    for n, e in enumerate(facts["case"]["events"], 1):
        markers.append(Marker(parse_time(e["date"] + "T00:00:00"), str(n), _event_line(e)))
    for n, d in enumerate(facts["check"]["directives"], 1):
        title = f"due: {directive_title(d)} ({when(d['due'])})"
        markers.append(Marker(parse_time(d["due"]), f"D{n}", title, deadline=True))
    legend = (
        '<p class="legend"><span><i class="sw blocked"></i>blocked share per hour</span>'
        '<span><i class="sw measured"></i>hour with data</span>'
        '<span><i class="sw nodata"></i>long gap: no data</span>'
        "<span>1, 2, …: case events (below)</span><span>D1, D2, …: when each order was due"
        "</span></p>"
    )
    return markers, legend


def _event_line(e: dict[str, Any]) -> str:
    who = f"{e['actor']}: " if e["actor"] else ""
    return f"{e['date']} {e['kind'].replace('_', ' ')}: {who}{e['summary']}"


def _timelines(facts: dict[str, Any], synthetic: bool) -> str:
    data = facts["check"]["data"]
    if not data["start"]:
        return '<section id="timeline"><h2>Timeline</h2><p>No measurements.</p></section>'
    span = (parse_time(data["start"]), parse_time(data["end"]))
    markers, legend = _markers(facts)
    charts = []
    for network, rows in facts["series"].items():
        gaps = [g for g in facts["gaps"] if g["network"] == network]
        label = network_label(network)
        charts.append(
            f"<h3>{escape(label)}</h3>"
            + timeline_chart(network, label, rows, gaps, markers, span, synthetic=synthetic)
        )
    return (
        '<section id="timeline"><h2>Blocked share over time, per network (UTC)</h2>'
        "<p>Each column is one hour: the share of that hour's decisive measurements (blocked "
        "or accessible) that were blocked. Hours without data are left empty, and long gaps "
        "are shaded: no data is never read as not blocked.</p>"
        + legend
        + "".join(charts)
        + "</section>"
    )


def _techniques(facts: dict[str, Any], synthetic: bool) -> str:
    total: dict[str, int] = {}
    for counts in facts["techniques"].values():
        for technique, n in counts.items():
            total[technique] = total.get(technique, 0) + n
    names = sorted(total, key=lambda t: (-total[t], t))
    head = "".join(f"<th>{escape(t)}</th>" for t in names)
    rows = "".join(
        f"<tr><td>{escape(network_label(net))}</td>"
        + "".join(f"<td>{counts.get(t, 0):,}</td>" for t in names)
        + "</tr>"
        for net, counts in facts["techniques"].items()
    )
    table = f"<table><tr><th>network</th>{head}</tr>{rows}</table>" if names else ""
    return (
        '<section id="techniques"><h2>Techniques</h2><p>Blocked measurements by the technique '
        "the classifier named, over all the data.</p>"
        + technique_chart(total, synthetic=synthetic)
        + table
        + "</section>"
    )


def _bounds(b: list[str | None] | None) -> str:
    if not b or not b[0]:
        return "not observed (blocked from its first measurement)" if b else "-"
    return f"{when(b[0])} to {when(b[1])}"


def _networks(facts: dict[str, Any]) -> str:
    out = ['<section id="networks"><h2>Per network</h2>']
    for n_inc, incident in enumerate(facts["check"]["incidents"], 1):
        out.append(f'<h3 id="net-{n_inc}">Incident {n_inc}: from {when(incident["start"])}</h3>')
        out.append(
            "<table><tr><th>network (operator, ASN)</th><th>start</th><th>start between</th>"
            "<th>end</th><th>end between</th><th>techniques</th><th>measurements (blocked)</th>"
            "<th>evidence</th></tr>"
        )
        for n in incident["networks"]:
            end = when(n["end"]) if n["end"] else f"ongoing at end of data ({when(n['last_data'])})"
            out.append(
                f"<tr><td>{escape(network_label(n['network']))}</td><td>{when(n['start'])}</td>"
                f"<td>{_bounds(n['start_bounds'])}</td><td>{end}</td>"
                f"<td>{_bounds(n['end_bounds'])}</td>"
                f"<td>{escape(', '.join(n['techniques']))}</td>"
                f"<td>{n['measurements']:,} ({n['blocked_measurements']:,})</td>"
                f"<td>{_ids(n['evidence'])}</td></tr>"
            )
        out.append("</table>")
    if not facts["check"]["incidents"]:
        out.append("<p>No incident in the data.</p>")
    unknown = sorted(n for n in facts["series"] if n not in operators())
    if unknown:
        out.append(
            f'<p class="legend">No operator name is on record for {", ".join(unknown)}: '
            "shown by AS number only.</p>"
        )
    return "".join(out) + "</section>"


def _orders_detail(facts: dict[str, Any]) -> str:
    out = ['<section id="orders"><h2>Orders, network by network</h2>']
    for n, d in enumerate(facts["check"]["directives"], 1):
        sources = "; ".join(escape(s["name"]) for s in d["sources"])
        out.append(
            f'<h3 id="order-{n}">D{n}. {escape(directive_title(d))}</h3>'
            f"<p>{escape(d['summary'])} Requires the platform to be <b>{escape(d['requires'])}"
            f"</b>; {escape(deadline_text(d))}. Sources: {sources}.</p>"
            "<table><tr><th>network</th><th>status</th><th>since</th><th>blocked until</th>"
            "<th>days past the deadline</th><th>evidence</th></tr>"
        )
        for net in d["networks"]:
            days = net["days_past_deadline"]
            until = when(net["until"]) + (" (ongoing at end of data)" if net["ongoing"] else "")
            out.append(
                f"<tr><td>{escape(network_label(net['network']))}</td>"
                f'<td class="status {_status_class(net["status"])}">{STATUS_TEXT[net["status"]]}'
                f"</td><td>{when(net['since'])}</td><td>{until}</td>"
                f"<td>{'-' if days is None else f'{days:.1f}'}</td><td>{_ids(net['evidence'])}"
                "</td></tr>"
            )
        out.append("</table>")
    return "".join(out) + "</section>"


def _events(facts: dict[str, Any]) -> str:
    rows = []
    for n, e in enumerate(facts["case"]["events"], 1):
        sources = "; ".join(
            f"{escape(s['name'])} ({escape(s['url'])})" if s["url"] else escape(s["name"])
            for s in e["sources"]
        )
        rows.append(
            f"<tr><td>{n}</td><td>{e['date']}</td><td>{escape(e['kind'].replace('_', ' '))}</td>"
            f"<td>{escape(e['actor'] or '')}</td><td>{escape(e['summary'])}</td>"
            f"<td>{sources}</td></tr>"
        )
    return (
        '<section id="events"><h2>The case: dated events and their sources</h2><table><tr>'
        "<th>#</th><th>date</th><th>kind</th><th>who</th><th>what</th><th>sources</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )


def _appendix(facts: dict[str, Any]) -> str:
    rows = [
        f'<tr id="m-{escape(mid)}"><td class="ids">{escape(mid)}</td><td>{when(m["time"])}</td>'
        f"<td>{escape(network_label(m['network']))}</td><td>{escape(m['input'] or '')}</td>"
        f"<td>{escape(m['verdict'] or '')}</td><td>{escape(m['technique'] or '')}</td>"
        f'<td class="ids">{escape(" ".join(m["rules"]))}</td></tr>'
        for mid, m in facts["cited"].items()
    ]
    return (
        '<section id="appendix"><h2>Appendix: every measurement cited</h2>'
        "<p>Each id is the measurement's own (OONI's measurement_uid, or a digest of its bytes "
        "when it has none); `reachwatch show ID` prints it from the store, and a bundle holds "
        "its raw bytes. Rules: layer:rule=verdict for every layer judged.</p>"
        '<table class="appendix"><colgroup><col class="c-id"><col class="c-time">'
        '<col class="c-net">'
        '<col class="c-input"><col class="c-verdict"><col class="c-tech"><col class="c-rules">'
        "</colgroup><tr>"
        "<th>measurement id</th><th>time</th><th>network</th><th>input</th><th>verdict</th>"
        "<th>technique</th><th>rules</th></tr>" + "".join(rows) + "</table></section>"
    )
