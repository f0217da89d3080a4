"""The probe: measures a platform's reachability from this network, against a control.

    targets = expand_targets(["x"])                   # or URLs
    run = asyncio.run(probe(targets, ProbeOptions(control_url=...)))
    run.measurements   # docs/measurement-format.md lines, judged by reachwatch.classify
    run.verdicts       # one Classified per measurement
    run.no_network     # nothing answered at all: every verdict is inconclusive

`upload(url, token, lines)` sends measurement lines to a `reachwatch serve`.
The individual steps (shared with the control) are in `reachwatch.probe.steps`.
"""

from reachwatch.probe._engine import DEFAULT_DOH_URL, NO_CONTROL, ProbeOptions
from reachwatch.probe._run import ProbeRun, check_control, is_no_network, judge, probe
from reachwatch.probe._targets import Target, TargetError, check_url, expand_targets
from reachwatch.probe._upload import UploadError, UploadSummary, submit_url, upload

__all__ = [
    "DEFAULT_DOH_URL",
    "NO_CONTROL",
    "ProbeOptions",
    "ProbeRun",
    "Target",
    "TargetError",
    "UploadError",
    "UploadSummary",
    "check_control",
    "check_url",
    "expand_targets",
    "is_no_network",
    "judge",
    "probe",
    "submit_url",
    "upload",
]
