"""web: the `reachwatch serve` service; here measurement uploads.

`open_submissions(db, limits)` takes the store's writer lock, stores what an earlier run left
in the upload spool and starts the one writer thread; its `router()` serves
`POST /api/v1/measurements` and `GET /api/v1/submissions/{receipt}`; `TokenStore` keeps the
upload tokens, hashed.
"""

from reachwatch.web._limits import SubmitLimits
from reachwatch.web._queue import Job, Outcome, QueueClosed, Replayed, WriteQueue
from reachwatch.web._spool import SpoolError
from reachwatch.web._submit import Submissions, open_submissions, submissions_router
from reachwatch.web._tokens import TokenError, TokenInfo, TokenStore

__all__ = [
    "Job",
    "Outcome",
    "QueueClosed",
    "Replayed",
    "SpoolError",
    "Submissions",
    "SubmitLimits",
    "TokenError",
    "TokenInfo",
    "TokenStore",
    "WriteQueue",
    "open_submissions",
    "submissions_router",
]
