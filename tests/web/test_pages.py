"""The dashboard as its users get it: the demo's store (the pk-x-2024 case, simulated with the
demo's seed, ingested) served by a real uvicorn on 127.0.0.1, read by Debian's chromium driven
by Playwright, with script on and off, on a desktop and a phone screen; and what a reader
downloads or mistypes, fetched over HTTP.

REACHWATCH_SCREENSHOTS=FOLDER saves what the browser shows (`make screenshots` writes
docs/screenshots/ this way).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from reachwatch.cases import load_case
from reachwatch.evidence import (
    PRIVATE_NAME,
    PUBLIC_NAME,
    generate_keys,
    load_public_key,
    verify_bundle,
)
from reachwatch.ingest import ingest
from reachwatch.simulate import scenario_from_case, write_corpus
from reachwatch.web import create_app

from .conftest import Running, serve

CHROMIUM = "/usr/bin/chromium"
# What a root user in a container needs, and nothing that talks to Google's services.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CASE = "pk-x-2024"
SEED = 1  # the demo's


@dataclass(frozen=True)
class DemoStore:
    db: Path
    keys: Path


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """What `reachwatch demo` builds before its report: the case simulated and ingested, and
    a signing key of its own."""
    root = tmp_path_factory.mktemp("demo")
    corpus = write_corpus(scenario_from_case(load_case(CASE)), root, seed=SEED)
    ingest([corpus.corpus], root / "db")
    generate_keys(root / "keys")
    return DemoStore(root / "db", root / "keys")


@pytest.fixture(scope="module")
def site(demo_store: DemoStore) -> Iterator[Running]:
    run = serve(create_app(demo_store.db, signing_key=demo_store.keys / PRIVATE_NAME))
    yield run
    run.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium (never a browser download); the tests that need it skip without it,
    the others run all the same."""
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (make unit / .ci/run install it as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Visit:
    """Everything a page did while the test looked: its console, and every request's host."""

    page: Any
    console: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [c for c in self.console if not c.startswith(("log:", "info:", "debug:"))]


@pytest.fixture
def visit_factory(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(viewport: dict[str, int] = DESKTOP, *, script: bool = True) -> Visit:
        context = browser.new_context(viewport=viewport, java_script_enabled=script)
        contexts.append(context)
        page = context.new_page()
        seen = Visit(page)
        page.on("console", lambda m: seen.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: seen.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: seen.hosts.add(urlsplit(r.url).netloc))
        page.on("requestfailed", lambda r: seen.failed.append(r.url))
        return seen

    yield open_page
    for context in contexts:
        context.close()


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("REACHWATCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def _check_page(seen: Visit, site: Running) -> None:
    """What every page must hold: no console error, no request to any other host, nothing
    wider than the screen, the landmarks and a title."""
    page = seen.page
    assert seen.errors() == [], page.url
    assert seen.hosts == {urlsplit(site.url).netloc}, page.url
    assert seen.failed == [], page.url
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, (
        f"{page.url} is wider than the screen"
    )
    for landmark in ("header", "nav", "main", "footer"):
        assert page.locator(landmark).count() >= 1, f"{page.url}: no <{landmark}>"
    assert page.locator("h1").count() == 1
    assert page.title().endswith("· reachwatch")


@pytest.mark.parametrize(("screen", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_a_reader_goes_from_the_overview_to_the_evidence(
    site: Running, visit_factory: Any, screen: str, viewport: dict[str, int]
) -> None:
    """Overview, then the incident, the case, the explorer and one measurement, each reached by
    following the pages' own links."""
    seen = visit_factory(viewport)
    page = seen.page
    page.goto(site.url + "/")
    cell = page.locator("table.grid tbody tr", has_text="PK")
    assert "blocked" in cell.inner_text()
    assert "since 2024-02-17" in cell.inner_text()
    _shoot(page, f"overview-{screen}")
    _check_page(seen, site)

    page.locator("#incidents + div a, #incidents ~ div a").first.click()
    page.wait_for_load_state()
    assert page.url.startswith(site.url + "/incidents/PK-x-")
    charts = page.locator("svg.chart.timeline")
    assert charts.count() == 4  # one per network of the incident
    assert page.locator("svg.chart.timeline path.share").count() == 4
    assert page.locator("svg.chart.timeline g.marker").count() >= 14  # the case's events
    assert page.locator("svg.chart.techniques rect.bar").count() >= 2
    assert "tls.reset" in page.locator("main").inner_text()
    _shoot(page, f"incident-{screen}")
    _check_page(seen, site)

    page.get_by_role("link", name=re.compile("X suspended in Pakistan")).first.click()
    page.wait_for_load_state()
    assert page.url == site.url + "/cases/pk-x-2024"
    text = page.locator("main").inner_text()
    for needed in ("Was every order followed?", "Not followed", "Followed", "Sindh High Court"):
        assert needed in text
    assert page.locator("main a[href$='/report.html']").count() == 1
    assert page.locator("main a[href$='/evidence.zip']").count() == 1
    _shoot(page, f"case-{screen}")
    _check_page(seen, site)

    page.get_by_role("link", name="Measurements", exact=True).click()
    page.wait_for_load_state()
    page.select_option("#f-verdict", "blocked")
    page.fill("#f-network", "AS9541")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert "verdict=blocked" in page.url and "network=AS9541" in page.url
    rows = page.locator("table tbody tr")
    assert rows.count() == 50
    assert all(re.search(r"\bAS9541\b", r) for r in rows.all_inner_texts())
    _shoot(page, f"measurements-{screen}")
    _check_page(seen, site)

    rows.first.locator("a").click()
    page.wait_for_load_state()
    assert page.url.startswith(site.url + "/measurements/")
    text = page.locator("main").inner_text()
    assert "Verdicts per host, address and layer" in text
    assert re.search(r"\btls\b", text) and "intact" in text
    assert page.locator("pre").inner_text().lstrip().startswith("{")
    rules = page.locator("main table").first.locator("tbody td.ids").all_inner_texts()
    assert rules and all(r.strip() for r in rules), "a verdict without its rule id"
    _shoot(page, f"measurement-{screen}")
    _check_page(seen, site)


def test_keyboard_alone_reaches_and_submits_the_filters(site: Running, visit_factory: Any) -> None:
    seen = visit_factory(DESKTOP)
    page = seen.page
    page.goto(site.url + "/measurements")
    reached: list[str] = []
    for _ in range(25):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        if reached[-1] == "f-network":
            break
    assert reached[0] == "A", "the first Tab does not land on the skip link"
    assert "f-cc" in reached and "f-platform" in reached and reached[-1] == "f-network"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "no visible focus"
    page.keyboard.type("AS17557")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # submits the form, as in any text field of a form
    assert "network=AS17557" in page.url
    texts = page.locator("table tbody tr").all_inner_texts()
    assert texts and all("AS17557" in t for t in texts)
    _check_page(seen, site)


@pytest.mark.parametrize(
    ("path", "needed"),
    [
        ("/", ("Is it blocked right now?", "PK", "blocked", "Incidents")),
        ("/cases/pk-x-2024", ("Was every order followed?", "Not followed", "Download the report")),
        ("/measurements?verdict=blocked&limit=20", ("Filter", "tls.reset", "Next 20")),
    ],
)
def test_text_is_there_without_javascript(
    site: Running, visit_factory: Any, path: str, needed: tuple[str, ...]
) -> None:
    seen = visit_factory(DESKTOP, script=False)
    seen.page.goto(site.url + path)
    text = seen.page.locator("body").inner_text()
    for words in needed:
        assert words in text, words
    assert "SYNTHETIC DATA" in text
    _check_page(seen, site)


def test_incident_page_without_javascript_has_its_charts(site: Running, visit_factory: Any) -> None:
    seen = visit_factory(PHONE, script=False)
    seen.page.goto(site.url + "/")
    href = seen.page.locator("a[href^='/incidents/']").first.get_attribute("href")
    seen.page.goto(site.url + str(href))
    assert seen.page.locator("svg.chart.timeline").count() == 4
    assert "Per network" in seen.page.locator("main").inner_text()
    _check_page(seen, site)


# The WCAG contrast ratio of every element's own text against the background it is drawn on.
_CONTRAST_JS = """
() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    const a = lum(rgb(style.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(style.fontSize) >= 24 ||
                  (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)}`);
  }
  return out;
}
"""


@pytest.mark.parametrize("path", ["/", "/cases/pk-x-2024", "/measurements?verdict=blocked"])
def test_pages_are_accessible(site: Running, visit_factory: Any, path: str) -> None:
    """Labels, table headers, SVG titles, the language, and contrast of every text."""
    seen = visit_factory(DESKTOP)
    page = seen.page
    page.goto(site.url + path)
    assert page.get_attribute("html", "lang") == "en"
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select')].filter(e => !e.labels.length)"
        ".map(e => e.name)"
    )
    assert unlabelled == []
    assert page.locator("thead th:not([scope])").count() == 0
    assert page.locator("svg:not(:has(> title))").count() == 0
    assert page.locator("svg.chart:not([role='img'])").count() == 0
    assert page.evaluate(_CONTRAST_JS) == []
    _check_page(seen, site)


def test_the_incident_page_is_accessible(site: Running, visit_factory: Any) -> None:
    seen = visit_factory(DESKTOP)
    page = seen.page
    page.goto(site.url + "/")
    page.locator("a[href^='/incidents/']").first.click()
    page.wait_for_load_state()
    assert page.locator("svg:not(:has(> title))").count() == 0
    assert page.locator("thead th:not([scope])").count() == 0
    assert page.evaluate(_CONTRAST_JS) == []


# ---------------------------------------------------------------------------------------------
# Without a browser: downloads, errors, paging


def test_the_report_download_is_the_case_report_made_from_the_store(site: Running) -> None:
    with httpx.Client(base_url=site.url, timeout=120) as client:
        answer = client.get("/cases/pk-x-2024/report.html")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert 'filename="pk-x-2024-report.html"' in answer.headers["content-disposition"]
    html = answer.text
    assert '<meta name="generator" content="reachwatch">' in html
    assert "X suspended in Pakistan" in html and "SYNTHETIC DATA" in html
    assert html.count('<svg class="chart timeline"') == 4


def test_the_bundle_download_is_signed_by_the_server_key_and_verifies(
    site: Running, demo_store: DemoStore
) -> None:
    with httpx.Client(base_url=site.url, timeout=300) as client:
        answer = client.get("/cases/pk-x-2024/evidence.zip")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert "pk-x-2024-evidence.zip" in answer.headers["content-disposition"]
    result = verify_bundle(answer.content, load_public_key(demo_store.keys / PUBLIC_NAME))
    assert result.ok, result.findings
    assert any("verdicts" in line for line in result.held)


def test_without_a_key_the_case_page_says_how_to_get_a_bundle(demo_store: DemoStore) -> None:
    run = serve(create_app(demo_store.db, warm_caches=False))
    try:
        with httpx.Client(base_url=run.url, timeout=120) as client:
            page = client.get("/cases/pk-x-2024")
            bundle = client.get("/cases/pk-x-2024/evidence.zip")
    finally:
        run.stop()
    assert page.status_code == 200
    assert "evidence.zip" not in page.text
    assert "reachwatch serve --key FILE" in page.text
    assert bundle.status_code == 404
    assert "text/html" in bundle.headers["content-type"]
    assert "no signing key" in bundle.text


@pytest.mark.parametrize(
    ("path", "status", "needed"),
    [
        ("/incidents/PK-x-19990101T0000Z", 404, "no incident"),
        ("/measurements/not-a-measurement", 404, "not-a-measurement"),
        ("/cases/no-such-case", 404, "no case"),
        ("/measurements?since=yesterday", 422, "since: &#39;yesterday&#39; is not a date"),
        ("/measurements?verdict=maybe", 422, "verdict: expected one of"),
        ("/measurements?cursor=garbage", 422, "cursor"),
    ],
)
def test_a_wrong_address_or_filter_is_a_page_that_says_so(
    site: Running, path: str, status: int, needed: str
) -> None:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        answer = client.get(path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert needed in answer.text
    assert "Traceback" not in answer.text


def test_the_explorer_pages_through_every_match_once(site: Running) -> None:
    ids: list[str] = []
    path: str | None = (
        "/measurements?cc=PK&platform=x&verdict=blocked"
        "&since=2024-02-17T15:00&until=2024-02-17T18:00&limit=20"
    )
    with httpx.Client(base_url=site.url, timeout=60) as client:
        api = client.get(
            "/api/v1/measurements",
            params={"cc": "PK", "platform": "x", "verdict": "blocked",
                    "since": "2024-02-17T15:00:00Z", "until": "2024-02-17T18:00:00Z",
                    "limit": 1000},
        ).json()  # fmt: skip
        while path is not None:
            html = client.get(path.replace("&amp;", "&")).text
            ids += re.findall(r'<td class="ids"><a href="/measurements/([^"]+)"', html)
            found = re.search(r'<a href="([^"]+)" rel="next">', html)
            path = found.group(1) if found else None
    expected = [m["id"] for m in api["items"]]
    assert len(expected) > 20  # more than one page
    assert ids == expected


def test_static_files_come_from_the_server_and_unknown_ones_do_not(site: Running) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        css = client.get("/static/style.css")
        icon = client.get("/static/favicon.svg")
        other = client.get("/static/../pyproject.toml")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media (max-width: 640px)" in css.text and "http" not in css.text
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert other.status_code == 404


def test_every_link_of_the_pages_leads_somewhere(site: Running) -> None:
    """Every link and form target on this server, from each page, answers 200 (the bundle and
    the report are fetched by their own tests)."""
    seen: set[str] = set()
    pages = ["/", "/cases", "/cases/pk-x-2024", "/measurements?verdict=blocked&limit=20"]
    with httpx.Client(base_url=site.url, timeout=120) as client:
        overview = client.get("/").text
        pages += re.findall(r'href="(/incidents/[^"]+)"', overview)[:1]
        for path in pages:
            html = client.get(path).text
            for href in re.findall(r'(?:href|action)="(/[^"#]*)"', html):
                href = href.replace("&amp;", "&")
                if href in seen or href.endswith(("/report.html", "/evidence.zip")):
                    continue
                seen.add(href)
                if href.startswith("/measurements/") and len(seen) > 60:
                    continue  # enough measurement pages: there are hundreds of ids
                assert client.get(href).status_code == 200, f"{href} (linked from {path})"
    assert any(h.startswith("/api/v1/") for h in seen)
    assert any(h.startswith("/measurements/") for h in seen)


def test_an_empty_store_is_pages_that_say_nothing_is_known(tmp_path: Path) -> None:
    from reachwatch.store import open_store

    open_store(tmp_path / "db").close()  # a new store, nothing ingested
    run = serve(create_app(tmp_path / "db", warm_caches=False))
    try:
        with httpx.Client(base_url=run.url, timeout=60) as client:
            overview = client.get("/")
            case = client.get("/cases/pk-x-2024")
            explorer = client.get("/measurements?verdict=blocked")
            report = client.get("/cases/pk-x-2024/report.html")
    finally:
        run.stop()
    assert overview.status_code == 200
    assert "The store holds no measurements yet: nothing is known" in overview.text
    assert "SYNTHETIC DATA" not in overview.text
    assert case.status_code == 200 and "nothing is known about blocking" in case.text
    assert "Cannot tell: no data" in case.text
    assert explorer.status_code == 200 and "No measurement matches these filters." in explorer.text
    assert report.status_code == 200 and "No measurements" in report.text
