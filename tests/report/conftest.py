"""A small synthetic case, simulated and ingested once for the report and evidence tests:
two networks, one blocked for good and one restored late, and a court directive whose
deadline falls after the data ends."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from reachwatch.cases import Case, load_case
from reachwatch.ingest import ingest
from reachwatch.simulate import scenario_from_case, write_corpus

CASE_TEXT = """
id: tiny-x
title: A tiny synthetic X case
scope: {cc: PK, platform: x, networks: [AS17557, AS135407]}
events:
  - {id: letter, date: 2024-02-17, kind: letter, actor: Ministry, summary: Block X.,
     label: block X, requires: blocked, sources: [A letter]}
  - {id: order, date: 2024-02-18, kind: court_directive, actor: High Court, summary: Restore X.,
     label: restore X within a day, requires: accessible, within_days: 1, sources: [A report]}
  - {id: later, date: 2024-02-25, kind: court_directive, actor: High Court,
     summary: Take the letter back., label: take back the letter within 7 days,
     requires: accessible, within_days: 7, sources: [{name: A paper, url: "https://example.org/x"}]}
simulation:
  start: 2024-02-16
  end: 2024-02-21
  measurements_per_hour: 2
  blocks:
    - {start: "2024-02-17T15:00:00", technique: tls.reset, networks: [AS17557]}
    - {start: "2024-02-17T12:00:00", end: "2024-02-20T08:00:00", technique: dns.nxdomain,
       networks: [AS135407]}
"""


@dataclass(frozen=True)
class SmallStore:
    case: Case
    case_file: Path
    db: Path
    corpus: Path


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> SmallStore:
    root = tmp_path_factory.mktemp("tiny-x")
    case_file = root / "tiny-x.yaml"
    case_file.write_text(CASE_TEXT, encoding="utf-8")
    case = load_case(case_file)
    corpus = write_corpus(scenario_from_case(case), root / "sim", seed=3)
    ingest([corpus.corpus], root / "db")
    return SmallStore(case, case_file, root / "db", corpus.corpus)


def copy_store(store: SmallStore, dest: Path) -> SmallStore:
    """A private copy of the store and its corpus (for tests that damage one)."""
    shutil.copytree(store.corpus.parent, dest / "sim")
    ingest([dest / "sim" / store.corpus.name], dest / "db")
    return SmallStore(store.case, store.case_file, dest / "db", dest / "sim" / store.corpus.name)


needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (make unit / .ci/run install it as root)",
)
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) is not installed",
)
