"""Command line entry point. Each command lives in its own module and registers on `app`."""

from __future__ import annotations

import importlib

from reachwatch.cli._app import app

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
