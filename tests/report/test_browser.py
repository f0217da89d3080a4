"""The report as a reader gets it: the page opened in headless Chromium (Debian's package,
driven by Playwright) and the PDF rendered by poppler."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reachwatch.cli import app
from reachwatch.report import CHROMIUM_FLAGS

from .conftest import SmallStore, needs_chromium, needs_poppler

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def written(small_store: SmallStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    args = ["report", str(small_store.case_file), "--db", str(small_store.db), "--out", str(out)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file()
    return out


def _open(html: Path, width: int, height: int, shot: Path | None = None) -> dict[str, Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    seen: dict[str, Any] = {"console": [], "requests": [], "failed": []}
    chromium = shutil.which("chromium")
    assert chromium is not None
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=list(CHROMIUM_FLAGS[1:]))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: seen["console"].append(f"pageerror: {e}"))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("requestfailed", lambda r: seen["failed"].append(r.url))
            page.goto(html.as_uri(), wait_until="load")
            seen["timelines"] = page.locator("svg.chart.timeline").count()
            seen["bars"] = page.locator("svg.chart.timeline path.share").count()
            seen["markers"] = page.locator("svg.chart.timeline g.marker").count()
            seen["techniques"] = page.locator("svg.chart.techniques rect.bar").count()
            seen["answer_top"] = page.locator("#answer").bounding_box()
            seen["overflow"] = page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            seen["first_screen"] = page.evaluate(
                "(() => { const r = document.querySelector('table.orders').getBoundingClientRect();"
                " return r.top; })()"
            )
            if shot is not None:
                page.screenshot(path=str(shot))
        finally:
            browser.close()
    return seen


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_page_opens_offline_with_its_charts(written: Path, width: int, height: int) -> None:
    shot = written / f"shot-{width}.png"
    seen = _open(written / "report.html", width, height, shot)
    errors = [c for c in seen["console"] if not c.startswith(("log:", "info:", "debug:"))]
    assert errors == []
    assert seen["requests"] == [(written / "report.html").as_uri()]  # the file, nothing else
    assert seen["failed"] == []
    assert seen["timelines"] == 2 and seen["bars"] == 2  # one chart per network
    assert seen["markers"] >= 3  # the case's events on the same axis
    assert seen["techniques"] == 2  # tls.reset and dns.nxdomain
    assert seen["overflow"] <= 0, "the page is wider than the screen"
    assert seen["first_screen"] < height, "the orders table starts below the first screen"
    assert shot.stat().st_size > 10_000


def _pdftotext(pdf: Path, page: int) -> str:
    done = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("utf-8", "replace")


@needs_poppler
def test_pdf_every_page_has_text_and_the_first_holds_the_answer(written: Path) -> None:
    pdf = written / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True, text=True)
    match = re.search(r"Pages:\s+(\d+)", info.stdout)
    assert match is not None
    pages = int(match.group(1))
    assert pages >= 2
    images = written / "png"
    images.mkdir()
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(images / "p")], check=True)
    assert len(list(images.glob("p-*.png"))) == pages
    for n in range(1, pages + 1):
        text = _pdftotext(pdf, n)
        assert len(text.split()) > 20, f"page {n} has no text"
        assert "SYNTHETIC" in text, f"page {n} is not labelled SYNTHETIC"
    # Compared without spaces and hyphens: the PDF breaks lines (and hyphenates) in places.
    first = re.sub(r"[\s-]", "", _pdftotext(pdf, 1))
    for needed in (
        "Blocked",
        "blocked in PK from 20240217",
        "block X",
        "restore X within a day",
        "take back the letter within 7 days",
        "Not followed",
        "Cannot tell",
        "All times are UTC",
    ):
        assert re.sub(r"[\s-]", "", needed) in first, needed
