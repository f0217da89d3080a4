"""watch stage: sync → ingest → detect on a schedule, and a report of each new or ended
incident (callbacks, a JSON lines file, a webhook), with the state that keeps a restart from
announcing them again."""

from reachwatch.watch._changes import ENDED, NEW, Change, changes, incident_id
from reachwatch.watch._errors import WatchError
from reachwatch.watch._every import parse_every
from reachwatch.watch._state import KnownIncident, WatchState, load_state, state_path
from reachwatch.watch._watch import (
    Callbacks,
    RoundReport,
    Watch,
    WatchConfig,
    event_json,
    run_watch,
)
from reachwatch.watch._webhook import Delivery, check_webhook, post_json

__all__ = [
    "ENDED",
    "NEW",
    "Callbacks",
    "Change",
    "Delivery",
    "KnownIncident",
    "RoundReport",
    "Watch",
    "WatchConfig",
    "WatchError",
    "WatchState",
    "changes",
    "check_webhook",
    "event_json",
    "incident_id",
    "load_state",
    "parse_every",
    "post_json",
    "run_watch",
    "state_path",
]
