"""web: the `reachwatch serve` service. A read-only JSON API under /api/v1/ (OpenAPI at
/api/v1/openapi.json, its docs page at /api/v1/docs) over a store.

    from reachwatch.web import create_app
    app = create_app(Path("reachwatch-db"))     # run with uvicorn

`WebContext` holds the store opened read-only and the answers cached per store generation;
the query functions (`reachwatch.web.queries`) are what the API and
the pages ask.

Uploads: `open_submissions(db, limits)` takes the store's writer lock, stores what an earlier
run left in the upload spool and starts the one writer thread; `Submissions.attach(app)`
serves `POST /api/v1/measurements` and `GET /api/v1/submissions/{receipt}` on the app and
closes the writer when it stops; `TokenStore` keeps the upload tokens, hashed.
"""

from reachwatch.web import _queries as queries
from reachwatch.web._api import api_router
from reachwatch.web._app import create_app, default_cases
from reachwatch.web._context import Read, WebContext
from reachwatch.web._errors import ErrorBody, InvalidParameter, NotFound, WebError
from reachwatch.web._limits import SubmitLimits
from reachwatch.web._queries import Filters, Page
from reachwatch.web._queue import Job, Outcome, QueueClosed, Replayed, WriteQueue
from reachwatch.web._security import CSP, SECURITY_HEADERS
from reachwatch.web._spool import SpoolError
from reachwatch.web._submit import Submissions, open_submissions, submissions_router
from reachwatch.web._tokens import TokenError, TokenInfo, TokenStore

__all__ = [
    "CSP",
    "SECURITY_HEADERS",
    "ErrorBody",
    "Filters",
    "InvalidParameter",
    "Job",
    "NotFound",
    "Outcome",
    "Page",
    "QueueClosed",
    "Read",
    "Replayed",
    "SpoolError",
    "Submissions",
    "SubmitLimits",
    "TokenError",
    "TokenInfo",
    "TokenStore",
    "WebContext",
    "WebError",
    "WriteQueue",
    "api_router",
    "create_app",
    "default_cases",
    "open_submissions",
    "queries",
    "submissions_router",
]
