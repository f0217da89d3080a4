"""Command line entry point. Each command lives in its own module and registers on `app`."""

from __future__ import annotations

import importlib
import os

from reachwatch.cli._app import app

# Set before any command loads numpy. reachwatch does no linear algebra, so numpy's OpenBLAS
# threads would only spin after start-up: about 0.1 CPU s a process, in this one and in each
# --jobs worker it starts. A value the user set stands.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# One module per command (or command group); each attaches itself to `app` on import.
_COMMAND_MODULES = (
    "catalog_cmd",
    "control_cmd",
    "probe_cmd",
    "ingest_cmd",
    "ooni_cmd",
    "lab_cmd",
    "detect_cmd",
    "simulate_cmd",
    "case_cmd",
    "demo_cmd",
    "classify_cmd",
    "store_cmd",
    "show_cmd",
    "rejudge_cmd",
    "report_cmd",
    "serve_cmd",
    "submit_cmd",
    "watch_cmd",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"reachwatch.cli.{_name}")


def main() -> None:
    app(prog_name="reachwatch")


__all__ = ["app", "main"]
