"""Operator names for networks, from the small table shipped in data/operators.csv."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

OPERATORS_FILE = "operators.csv"


@cache
def operators() -> dict[str, str]:
    """AS number ('AS17557') to the operator's registered name, for the networks listed."""
    text = (resources.files("reachwatch.report") / "data" / OPERATORS_FILE).read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {row["asn"].strip().upper(): row["operator"].strip() for row in rows}


def operators_source() -> str:
    """The table's own account of where its names come from (its leading comment)."""
    text = (resources.files("reachwatch.report") / "data" / OPERATORS_FILE).read_text("utf-8")
    comment = [line.lstrip("# ").rstrip() for line in text.splitlines() if line.startswith("#")]
    return " ".join(comment)


def network_label(asn: str) -> str:
    """'AS17557 (Pakistan Telecommunication Company Limited (PTCL))', or the bare AS number
    of a network the table does not list."""
    name = operators().get(asn.upper())
    return f"{asn} ({name})" if name else asn
