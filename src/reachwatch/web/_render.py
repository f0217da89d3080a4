"""Server-rendered pages: the Jinja2 templates shipped beside this module, autoescaped, and the
response headers every page carries.

A page needs no script and makes no request to any other host: its stylesheet and icon come
from this server, its charts are inline SVG, and the Content-Security-Policy says so to the
browser, which refuses anything else (a stray CDN link would show up as an error, not load).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape

from reachwatch.report import SYNTHETIC_TEXT

# No script at all; styles and images from this server only (charts are inline SVG markup,
# styled by classes, so no inline style is needed either).
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The main navigation: (section key, label, path).
NAV = (
    ("overview", "Overview", "/"),
    ("measurements", "Measurements", "/measurements"),
    ("cases", "Cases", "/cases"),
)


def _template_source(name: str) -> str:
    return (resources.files("reachwatch.web") / "templates" / name).read_text("utf-8")


@cache
def environment() -> Environment:
    return Environment(
        loader=FunctionLoader(_template_source),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name is an error in the tests, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )


def root_path(request: Request) -> str:
    """The prefix the app is served under (empty at the root), for every link a page makes."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def page(
    request: Request,
    template: str,
    *,
    title: str,
    section: str = "",
    store: str,
    synthetic: bool = False,
    crumbs: tuple[tuple[str, str | None], ...] = (),
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """`template` rendered with the values every page uses (navigation, the SYNTHETIC banner,
    the root path) and `values`."""
    html = (
        environment()
        .get_template(template)
        .render(
            title=title,
            section=section,
            nav=NAV,
            root=root_path(request),
            store=store,
            synthetic=synthetic,
            synthetic_text=SYNTHETIC_TEXT,
            crumbs=crumbs,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})


def static_file(name: str) -> bytes:
    """A file of static/ (the stylesheet, the icon)."""
    return (resources.files("reachwatch.web") / "static" / name).read_bytes()
