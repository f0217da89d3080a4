"""A tcp_connect port that no integer can stand for is an invalid measurement, not a crash."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import InvalidMeasurement, classify


@pytest.mark.parametrize("port", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_port_is_invalid(healthy: Any, port: float) -> None:
    m: dict[str, Any] = healthy().build()
    m["test_keys"]["tcp_connect"][0]["port"] = port
    with pytest.raises(InvalidMeasurement, match="port"):
        classify(m)
