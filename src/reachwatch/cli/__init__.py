"""Command line entry point. Each command lives in its own module, imported when it runs, and
registers on `app`."""

from __future__ import annotations

import os

from reachwatch.cli._app import app

# Set before any command loads numpy. reachwatch does no linear algebra, so numpy's OpenBLAS
# threads would only spin after start-up: about 0.1 CPU s a process, in this one and in each
# --jobs worker it starts. A value the user set stands.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    app(prog_name="reachwatch")


__all__ = ["app", "main"]
