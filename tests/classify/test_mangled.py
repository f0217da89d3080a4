"""Mangled real measurements: classify() judges them or refuses them cleanly, never crashes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reachwatch.classify import (
    Classified,
    InvalidMeasurement,
    Unsupported,
    classify,
    classify_censoredplanet,
)

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["1.2.3.4", "::1", "127.0.0.1", "dns_nxdomain_error", "connection_reset"]),
    st.lists(st.none() | st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.none() | st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:4]):
            out += _paths(item, (*prefix, index))
    return out


@pytest.fixture(scope="module")
def samples(reference_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    ooni = reference_dir / "ooni"
    out: list[tuple[str, dict[str, Any]]] = []
    for name in (
        "web_connectivity_ir_fp.json",
        "web_connectivity_b64_hdr.json",
        "report2.json",
        "signal_2627.json",
        "whatsapp.json",
    ):
        out.append(("ooni", orjson.loads((ooni / "fastpath-samples" / name).read_bytes())))
    out.append(
        (
            "ooni",
            orjson.loads((ooni / "minipipeline-manual/dnsgoogle80/measurement.json").read_bytes()),
        )
    )
    for path in sorted((reference_dir / "censoredplanet" / "e2e_test_data").glob("*/*_v2.json")):
        out.append(("cp", orjson.loads(path.read_text().splitlines()[-1])))
    return out


@pytest.mark.reference
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mangled_samples_are_judged_or_refused(
    samples: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    kind, sample = data.draw(st.sampled_from(samples))
    record = copy.deepcopy(sample)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(record)[1:]))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = data.draw(ODD_VALUES)
    judge = classify if kind == "ooni" else classify_censoredplanet
    try:
        result = judge(record)
    except (Unsupported, InvalidMeasurement):
        return
    assert isinstance(result, Classified)
    assert result.verdict in ("accessible", "blocked", "down", "inconclusive")
    orjson.dumps(result.to_json())
