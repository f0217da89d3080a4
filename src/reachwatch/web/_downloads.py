"""The report and the signed evidence bundle of a case, made by the server from its store.

A reader of the dashboard expects the report of what the dashboard shows now, so both are
generated from the store on request, through the report and evidence packages (the same code
as `reachwatch report`), once per store generation: a commit to the store makes new ones.
The report is served as the self-contained HTML page (the PDF needs chromium and seconds of
printing; `reachwatch report` makes it). A bundle must be signed: only a server started with
a private key makes one, and it never writes into the store or next to it, only into its own
temporary folder, removed when the server stops.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reachwatch.cases import Case, resolve_case
from reachwatch.evidence import fingerprint, write_bundle
from reachwatch.report import HTML_NAME, Report, build_report, write_report
from reachwatch.web._context import WebContext

NO_KEY = (
    "This server has no signing key, so it makes no evidence bundle: start it with "
    "`reachwatch serve --key FILE` (a key from `reachwatch keys generate`), or run "
    "`reachwatch report CASE --bundle FILE.zip`."
)


def case_text(case: Case) -> str:
    """The case's YAML as it was loaded: its file, or the shipped case of its name."""
    if case.path and Path(case.path).is_file():
        return resolve_case(case.path)[0]
    return resolve_case(case.id)[0]


class Downloads:
    """Reports and bundles of the context's cases, one per case and store generation."""

    def __init__(self, ctx: WebContext, signing_key: Ed25519PrivateKey | None) -> None:
        self._ctx = ctx
        self._key = signing_key
        self._signer = fingerprint(signing_key.public_key()) if signing_key else None
        self._folder: Path | None = None
        self._lock = threading.Lock()

    @property
    def can_sign(self) -> bool:
        return self._key is not None

    def report(self, case: Case) -> Report:
        """The report of `case` on the store as it is now (the page and the facts under it)."""
        return self._ctx.cached(
            ("page-report", case.id),
            lambda: build_report(case, self._ctx.cursor(), signer=self._signer),
        )

    def bundle(self, case: Case) -> Path:
        """A signed bundle of `case` on the store as it is now. Only call when `can_sign`."""
        key = self._key
        assert key is not None
        generation = self._ctx.generation

        def make() -> Path:
            work = self._workdir()
            for old in work.glob(f"{case.id}-*"):  # an earlier generation's bundle
                shutil.rmtree(old, ignore_errors=True)
            folder = work / f"{case.id}-{generation}"
            report_dir = folder / "report"
            report = self.report(case)
            write_report(report, report_dir, pdf=False)
            path = folder / f"{case.id}-evidence.zip"
            write_bundle(
                path,
                report=report,
                report_dir=report_dir,
                case=case,
                case_text=case_text(case),
                con=self._ctx.cursor(),
                key=key,
            )
            (report_dir / HTML_NAME).unlink(missing_ok=True)
            return path

        return self._ctx.cached(("page-bundle", case.id), make)

    def _workdir(self) -> Path:
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="reachwatch-serve-"))
            return self._folder

    def close(self) -> None:
        """Remove the generated bundles (the folder is this server's own)."""
        with self._lock:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None
