"""Property-based requests from the published OpenAPI document against the running service:
no answer is a server error, every answer conforms to the schema (status documented, content
type documented, body valid against its schema).

Each operation is driven through schemathesis's Python API (its pytest plugin does not load
with this pytest), with a bounded number of generated cases: the file runs in well under two
minutes on the development machine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Err

from .conftest import Running

MAX_EXAMPLES = 40
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(running: Running) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{running.url}/api/v1/openapi.json")


def test_every_operation_is_exercised(api_schema: schemathesis.BaseSchema) -> None:
    paths = {_operation(op).path for op in api_schema.get_all_operations()}
    assert {
        "/api/v1/overview", "/api/v1/incidents", "/api/v1/incidents/{incident_id}",
        "/api/v1/measurements",
        "/api/v1/measurements/{measurement_id}", "/api/v1/measurements/{measurement_id}/raw",
        "/api/v1/series", "/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/catalog",
    } <= paths  # fmt: skip


def _operation(result: Any) -> Any:
    """The operation of a loaded entry (a schema that did not load fails the test here)."""
    if isinstance(result, Err):
        raise AssertionError(f"the OpenAPI document has an invalid operation: {result.err()}")
    return result.ok()


def _exercise(
    api_schema: schemathesis.BaseSchema, url: str, mode: GenerationMode
) -> dict[str, Counter[int]]:
    """Every operation with up to MAX_EXAMPLES generated cases; the statuses seen, by label."""
    seen: dict[str, Counter[int]] = {}
    for result in api_schema.get_all_operations():
        operation = _operation(result)
        statuses = seen.setdefault(operation.label, Counter())
        _runner(operation.as_strategy(generation_mode=mode), url, statuses)()
    return seen


def _runner(
    strategy: st.SearchStrategy[schemathesis.Case[Any]], url: str, statuses: Counter[int]
) -> Callable[[], None]:
    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
        database=None,
    )
    def exercise(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(base_url=url, checks=CHECKS)
        statuses[response.status_code] += 1

    return exercise


def test_valid_requests_conform_to_the_openapi_document(
    api_schema: schemathesis.BaseSchema, running: Running
) -> None:
    seen = _exercise(api_schema, running.url, GenerationMode.POSITIVE)
    assert len(seen) >= 9 and all(seen.values()), seen
    assert seen["GET /api/v1/measurements"][200] > 0
    assert seen["GET /api/v1/incidents"][200] > 0


def test_invalid_requests_are_refused_as_documented(
    api_schema: schemathesis.BaseSchema, running: Running
) -> None:
    seen = _exercise(api_schema, running.url, GenerationMode.NEGATIVE)
    refused = sum(n for statuses in seen.values() for s, n in statuses.items() if s == 422)
    assert refused > 0, seen
    assert not any(s >= 500 for statuses in seen.values() for s in statuses), seen
