"""What the API refuses and how: one JSON error body for everything, filters that never become
SQL, nothing written, headers set on purpose, loopback by default."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from reachwatch.store import open_store
from reachwatch.web import CSP, create_app

from .conftest import Running, WebStore, serve

API = "/api/v1"
REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))


def _error(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert "\n" not in body["message"] and "Traceback" not in body["message"]
    assert body["message"]
    if code is not None:
        assert body["error"] == code
    return str(body["message"])


def test_unknown_path_is_a_json_404(client: httpx.Client) -> None:
    assert "/api/v1/nothing" in _error(client.get(f"{API}/nothing"), 404, "not_found")
    _error(client.get("/nothing/at/all"), 404, "not_found")


def test_a_browser_asking_for_a_page_that_does_not_exist_gets_a_page(
    client: httpx.Client,
) -> None:
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    answer = client.get("/nothing/at/all", headers=html)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "There is no page at /nothing/at/all." in answer.text
    _error(client.get(f"{API}/nothing", headers=html), 404, "not_found")  # the API stays JSON


def test_pages_name_the_store_without_its_path_on_the_server(
    client: httpx.Client, web_store: WebStore
) -> None:
    text = client.get("/").text
    assert f"<code>{web_store.db.name}</code>" in text
    assert str(web_store.db.parent) not in text


def test_unknown_measurement_case_and_incident_are_json_404(client: httpx.Client) -> None:
    assert "no-such-id" in _error(client.get(f"{API}/measurements/no-such-id"), 404, "not_found")
    _error(client.get(f"{API}/measurements/no-such-id/raw"), 404, "not_found")
    _error(client.get(f"{API}/cases/no-such-case"), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_nothing_can_be_written(client: httpx.Client, method: str) -> None:
    for path in ("/overview", "/measurements", "/incidents", "/cases/web-x", "/catalog"):
        response = client.request(method, API + path, content=b"{}")
        assert method in _error(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"cc": "PAK"}, "cc"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"verdict": "maybe"}, "verdict"),
        ({"ongoing": "perhaps"}, "ongoing"),
        ({"format": "xml"}, "format"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),  # base64 of [], a cursor of the wrong shape
        ({"platform": "no-such-platform"}, "platform"),
    ],
)
def test_a_parameter_that_does_not_validate_is_a_json_422(
    client: httpx.Client, params: dict[str, str], name: str
) -> None:
    message = _error(client.get(f"{API}/measurements", params=params), 422, "invalid_parameter")
    assert message.startswith(name)


INJECTIONS = [
    "PK' OR '1'='1",
    "x'; DROP TABLE measurements; --",
    "1) OR (1=1",
    "AS1 UNION SELECT * FROM evidence",
    "'; COPY measurements TO '/tmp/pwned.csv'; --",
    "dns.nxdomain' OR ''='",
    "%' OR 1=1 --",
]


# Each list endpoint's filters (an unknown parameter is ignored, as HTTP APIs do).
FILTERS = {
    "/measurements": (
        "cc",
        "platform",
        "network",
        "technique",
        "verdict",
        "rule",
        "since",
        "cursor",
    ),
    "/incidents": ("cc", "platform", "network", "technique", "since", "until", "ongoing"),
    "/series": ("cc", "platform", "network", "since", "until", "bucket"),
}


def _store_state(db: Path) -> dict[str, str]:
    return {
        str(p.relative_to(db)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_shaped_filters_select_nothing_and_change_nothing(
    client: httpx.Client, web_store: WebStore, value: str
) -> None:
    before = _store_state(web_store.db)
    for path, names in FILTERS.items():
        for name in names:
            response = client.get(API + path, params={name: value})
            if response.status_code == 200:
                assert response.json()["items"] == [], (path, name)
            else:
                _error(response, 422, "invalid_parameter")
    # By id, the value is looked up as an id: absent.
    _error(client.get(f"{API}/measurements/{value.replace('/', '')}"), 404, "not_found")
    assert _store_state(web_store.db) == before
    con = open_store(web_store.db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM measurements").fetchone() != (0,)
    finally:
        con.close()
    assert not Path("/tmp/pwned.csv").exists()


def test_the_service_reads_through_a_read_only_duckdb(running: Running, tmp_path: Path) -> None:
    """Were SQL text ever to reach it, the service's own DuckDB connection refuses writes,
    files outside the store, and a change of those settings."""
    import duckdb

    con = running.app.state.ctx.cursor()
    for statement in (
        "DELETE FROM measurements",
        "CREATE TABLE t AS SELECT 1",
        f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
        "SELECT * FROM read_text('/etc/hostname')",
        "SET enable_external_access = true",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    assert not (tmp_path / "out.csv").exists()
    assert con.execute("SELECT count(*) FROM measurements").fetchone() != (0,)


# --- an unexpected fault ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty(web_store: WebStore) -> Iterator[Running]:
    """The real app with one more route that fails the way a bug would."""
    app: FastAPI = create_app(web_store.db, cases=[web_store.case], warm_caches=False)

    def broken() -> None:
        raise RuntimeError("a bug\nwith a second line and a secret path /etc/shadow")

    app.add_api_route(f"{API}/broken", broken)
    run = serve(app)
    yield run
    run.stop()


def test_an_unexpected_fault_is_a_json_500_without_a_traceback(faulty: Running) -> None:
    with faulty.client() as client:
        response = client.get(f"{API}/broken")
        message = _error(response, 500, "internal_error")
        assert "shadow" not in response.text and "RuntimeError" not in response.text
        assert "logged" in message
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == CSP
        # The server goes on answering.
        assert client.get(f"{API}/catalog").status_code == 200


# --- headers ---------------------------------------------------------------------------------


SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    "path", [f"{API}/overview", f"{API}/nothing", f"{API}/docs", f"{API}/openapi.json", "/nothing"]
)
def test_security_headers_on_every_answer(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    for name, value in SECURITY.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_cors_allows_any_origin_to_read_the_api_and_nothing_else(client: httpx.Client) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    assert (
        client.get(f"{API}/overview", headers=origin).headers["access-control-allow-origin"] == "*"
    )
    assert (
        client.head(f"{API}/catalog", headers=origin).headers["access-control-allow-origin"] == "*"
    )
    # Not outside the API, and never for a write.
    assert "access-control-allow-origin" not in client.get("/nothing", headers=origin).headers
    posted = client.post(f"{API}/overview", headers=origin)
    assert "access-control-allow-origin" not in posted.headers
    read = client.options(
        f"{API}/measurements", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert read.status_code == 204
    assert read.headers["access-control-allow-origin"] == "*"
    assert read.headers["access-control-allow-methods"] == "GET, HEAD"
    write = client.options(
        f"{API}/measurements", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in write.headers
    _error(write, 405)


# --- docs ------------------------------------------------------------------------------------


def test_the_docs_page_is_rendered_here_and_loads_nothing_from_elsewhere(
    client: httpx.Client,
) -> None:
    page = client.get(f"{API}/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html.lower()
    links = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert links and all(link.startswith(("/", "#")) for link in links), links
    spec = client.get(f"{API}/openapi.json").json()
    for path in spec["paths"]:
        assert path in html
    for link in links:
        if link.startswith("/"):
            assert client.get(link).status_code == 200, link
    # FastAPI's own CDN-loading pages are not served.
    _error(client.get("/docs"), 404)
    _error(client.get("/redoc"), 404)


# --- the command ---------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REACHWATCH, *args], capture_output=True, text=True, timeout=120)


def test_serve_binds_loopback_by_default(web_store: WebStore) -> None:
    shown = _run("serve", "--help")
    assert "127.0.0.1" in shown.stdout and "--db" in shown.stdout and "--port" in shown.stdout
    proc = subprocess.Popen(
        [REACHWATCH, "serve", "--db", str(web_store.db), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        address = None
        while address is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(r"Uvicorn running on http://([0-9.]+):(\d+)", line)
            if found:
                address = (found.group(1), int(found.group(2)))
        assert address is not None, "serve did not say where it listens"
        assert address[0] == "127.0.0.1"
        with httpx.Client(trust_env=False, timeout=30) as client:
            response = client.get(f"http://127.0.0.1:{address[1]}{API}/catalog")
        assert response.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("what", ["missing", "a-file", "empty-folder"])
def test_serve_refuses_what_is_not_a_store_in_one_line(tmp_path: Path, what: str) -> None:
    db = tmp_path / what
    if what == "a-file":
        db.write_text("not a store\n")
    elif what == "empty-folder":
        db.mkdir()
    result = _run("serve", "--db", str(db), "--port", "0")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("reachwatch: error: "), result.stderr
    assert str(db) in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_serve_refuses_a_bad_port_in_one_line() -> None:
    result = _run("serve", "--port", "70000")
    assert result.returncode == 2
    assert result.stderr.startswith("reachwatch: error: ") and "--port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
