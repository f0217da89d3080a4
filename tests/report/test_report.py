"""The report page's content, read as a journalist or a lawyer would read it: the answer
first, every order, UTC said, networks named, every cited id in full and linked."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from reachwatch.cli import app
from reachwatch.report import build_report, cited_ids, network_label, write_report
from reachwatch.store import open_store

from .conftest import SmallStore


class _Page(HTMLParser):
    """The page's text, its anchors (id=...) and its in-page links (href=#...)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            if name == "href" and value and value.startswith("#"):
                self.links.append(value[1:])
            elif name in ("href", "src", "srcset", "data", "action") and value:
                self.external.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def report_html(small_store: SmallStore) -> tuple[str, dict[str, object]]:
    con = open_store(small_store.db, read_only=True)
    try:
        report = build_report(small_store.case, con)
    finally:
        con.close()
    return report.html, report.facts


def test_answer_first_names_every_order_and_what_the_data_shows(
    report_html: tuple[str, dict[str, object]],
) -> None:
    html, _ = report_html
    answer = html[html.index('id="answer"') : html.index('id="timeline"')]
    text = " ".join(_parse(answer).text)
    assert "Blocked" in text and "X (formerly Twitter) blocked in PK from 2024-02-17" in text
    # Every directive of the case, not only the latest, each with its deadline and outcome.
    assert "Ministry, 2024-02-17: block X" in text
    assert "High Court, 2024-02-18: restore X within a day" in text
    assert "deadline 2024-02-19" in text and "Not followed" in text
    assert "2.0 days" in text  # by how much the deadline was missed on the network still blocked
    assert "access came back 2024-02-20" in text  # the network restored late, and when
    # A deadline after the data: say what the data does show, not only "no data".
    assert "High Court, 2024-02-25: take back the letter within 7 days" in text
    assert "Cannot tell" in text
    assert "X (formerly Twitter) was blocked then" in text
    assert "X (formerly Twitter) was not blocked then" in text
    assert "no data after" not in text


def test_times_are_utc_and_networks_are_named(report_html: tuple[str, dict[str, object]]) -> None:
    html, _ = report_html
    text = " ".join(_parse(html).text)
    assert "All times are UTC" in text
    times = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d(?! UTC)", text)
    assert times == [], f"times without UTC: {times[:5]}"
    assert "AS17557 (Pakistan Telecommunication Company Limited (PTCL))" in text
    assert network_label("AS135407") == "AS135407"  # no operator on record: the ASN alone
    assert "No operator name is on record for AS135407" in text


def test_every_cited_id_is_in_full_and_links_to_the_appendix(
    report_html: tuple[str, dict[str, object]],
) -> None:
    html, facts = report_html
    page = _parse(html)
    cited = set(cited_ids(facts["check"]))  # type: ignore[arg-type]
    assert len(cited) >= 10
    for mid in cited:
        assert f"m-{mid}" in page.ids, mid
        assert f"m-{mid}" in page.links, mid
    assert set(page.links) <= page.ids, set(page.links) - page.ids
    assert "…" not in " ".join(page.text).replace("1, 2, …", "").replace("D1, D2, …", "")


def test_self_contained_and_synthetic_everywhere(
    report_html: tuple[str, dict[str, object]],
) -> None:
    html, facts = report_html
    page = _parse(html)
    assert page.external == []  # no src, no link to fetch, no external href
    assert not page.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert "url(" not in html and "@import" not in html
    assert "default-src 'none'" in html
    charts = re.findall(r"<svg class=\"chart[^\"]*\".*?</svg>", html, re.S)
    assert len(charts) == len(facts["series"]) + 1  # type: ignore[arg-type]
    assert all("SYNTHETIC" in chart for chart in charts)
    assert html.count('class="synthetic"') == 1


def test_methods_section(report_html: tuple[str, dict[str, object]]) -> None:
    html, facts = report_html
    methods = " ".join(_parse(html[html.index('id="methods"') :]).text)
    for needed in (
        "classifier",
        "rule table SHA-256",
        "fingerprint set SHA-256",
        "blocked_share",
        "merge_hours",
        "How “no data” is treated",
        "Simulated by",
        "licence",
    ):
        assert needed in methods, needed
    for rule in facts["rules"]:  # type: ignore[attr-defined]
        assert rule in methods


def test_an_empty_store_says_nothing_is_known(small_store: SmallStore, tmp_path: Path) -> None:
    con = open_store(tmp_path / "empty")
    try:
        html = build_report(small_store.case, con).html
    finally:
        con.close()
    text = " ".join(_parse(html).text)
    assert "No data" in text and "nothing is known about blocking" in text
    assert "Cannot tell: no data" in text


def test_cli_never_replaces_a_file_it_did_not_write(
    small_store: SmallStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("my own notes")
    result = CliRunner().invoke(
        app, ["report", str(small_store.case_file), "--db", str(small_store.db), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "was not written by reachwatch" in result.output
    assert (out / "report.html").read_text() == "my own notes"


def test_write_report_html_only(small_store: SmallStore, tmp_path: Path) -> None:
    con = open_store(small_store.db, read_only=True)
    try:
        report = build_report(small_store.case, con)
    finally:
        con.close()
    (html,) = write_report(report, tmp_path / "r", pdf=False)
    assert html.read_text(encoding="utf-8") == report.html
    write_report(report, tmp_path / "r", pdf=False)  # its own earlier output is replaced
