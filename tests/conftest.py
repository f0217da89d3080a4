"""Fixtures every test folder may use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _reference_dir() -> Path:
    override = os.environ.get("REACHWATCH_REFERENCE")
    return Path(override) if override else REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference (real third-party data, never copied into the repo)."""
    path = _reference_dir()
    if not path.is_dir():
        pytest.skip(f"reference data not found at {path} (set REACHWATCH_REFERENCE)")
    return path
