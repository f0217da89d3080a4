"""report.pdf: the report page printed by Debian's chromium, headless, from the local file.
The page makes no request, and chromium runs with a throw-away profile and its background
networking off, so printing fetches nothing either."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from reachwatch.errors import EnvironmentMissing
from reachwatch.report._errors import ReportError

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # run as root in CI and in containers, where the sandbox cannot start
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)


def find_chromium() -> str | None:
    """REACHWATCH_CHROMIUM when set, else Debian's `chromium` on the PATH."""
    given = os.environ.get("REACHWATCH_CHROMIUM")
    return given or shutil.which("chromium")


def html_to_pdf(html: Path, pdf: Path, *, timeout: float = 120.0) -> None:
    chromium = find_chromium()
    if chromium is None:
        raise EnvironmentMissing(
            "chromium not found: the PDF is printed by Debian's chromium package "
            "(apt-get install chromium), or set REACHWATCH_CHROMIUM"
        )
    with tempfile.TemporaryDirectory(prefix="reachwatch-chromium-") as profile:
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise ReportError(
                f"{pdf}: chromium did not finish printing in {timeout:.0f} s"
            ) from None
        except OSError as exc:
            raise EnvironmentMissing(f"{chromium}: cannot run ({exc.strerror})") from None
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ReportError(f"{pdf}: chromium could not print the report ({tail[0][:200]})")
