"""web: the `reachwatch serve` service. A read-only JSON API under /api/v1/ (OpenAPI at
/api/v1/openapi.json, its docs page at /api/v1/docs) over a store.

    from reachwatch.web import create_app
    app = create_app(Path("reachwatch-db"))     # run with uvicorn

`WebContext` holds the store opened read-only and the answers cached per store generation;
the query functions (`reachwatch.web.queries`) are what the API and
the pages ask.
"""

from reachwatch.web import _queries as queries
from reachwatch.web._api import api_router
from reachwatch.web._app import create_app, default_cases
from reachwatch.web._context import Read, WebContext
from reachwatch.web._errors import ErrorBody, InvalidParameter, NotFound, WebError
from reachwatch.web._queries import Filters, Page
from reachwatch.web._security import CSP, SECURITY_HEADERS

__all__ = [
    "CSP",
    "SECURITY_HEADERS",
    "ErrorBody",
    "Filters",
    "InvalidParameter",
    "NotFound",
    "Page",
    "Read",
    "WebContext",
    "WebError",
    "api_router",
    "create_app",
    "default_cases",
    "queries",
]
