"""The fast schema check (`fits_schema`) never accepts what submission.schema.json refuses,
and accepts the measurements probes send (else the server would fall back to jsonschema for
every one)."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from reachwatch.web._submit import fits_schema, submission_schema

from .conftest import measurement_lines

VALIDATOR = jsonschema.Draft202012Validator(submission_schema())
BASE = orjson.loads(measurement_lines(1)[0])
KEYS = [*submission_schema()["properties"], "other"]

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["PK", "pk", "PK\n", "AS1", "AS12345678901", "AS", "2024-02-17 10:00:00",
                     "2024-02-17T10:00:00Z", "2024-2-17 10:00:00", "", "x" * 201]),
    st.lists(st.text(max_size=3), max_size=3),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), _values, max_size=4), st.sets(st.sampled_from(KEYS)))
def test_fast_path_never_accepts_what_the_schema_refuses(
    changes: dict[str, Any], removed: set[str]
) -> None:
    value = {k: v for k, v in BASE.items() if k not in removed}
    value.update(changes)
    if fits_schema(value):
        assert VALIDATOR.is_valid(value), value


def test_fast_path_accepts_the_measurements_probes_send() -> None:
    for line in measurement_lines(200):
        value = orjson.loads(line)
        assert VALIDATOR.is_valid(value) and fits_schema(value)
    assert fits_schema({**BASE, "input": None, "annotations": {}})
    assert fits_schema({**BASE, "input": ["a", "b"], "report_id": ""})
