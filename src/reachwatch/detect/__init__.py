"""detect stage: hourly series per (country, network, platform, layer), online CUSUM alerts,
offline change points, and incidents per (country, platform) with per-network detail."""

from reachwatch.detect._changepoints import (
    best_split,
    default_penalty,
    pelt,
    prepare_search,
    split_interval,
)
from reachwatch.detect._cusum import Alert, CusumParams, cusum_alerts
from reachwatch.detect._detect import Detection, detect
from reachwatch.detect._incidents import (
    Incident,
    NetworkIncident,
    incident_json,
    iso,
    measurement_ids,
)
from reachwatch.detect._incremental import IncrementalDetect, RunWork
from reachwatch.detect._kept_rows import default_rows_file
from reachwatch.detect._local import country_rows, reads_files
from reachwatch.detect._series import ALL_LAYERS, Series, SeriesKey, load_series
from reachwatch.detect._timeline import Boundary, DetectParams, Gap, Period, Timeline
from reachwatch.detect._volume import VolumeCollapse, volume_collapses

__all__ = [
    "ALL_LAYERS",
    "Alert",
    "Boundary",
    "CusumParams",
    "DetectParams",
    "Detection",
    "Gap",
    "Incident",
    "IncrementalDetect",
    "NetworkIncident",
    "Period",
    "RunWork",
    "Series",
    "SeriesKey",
    "Timeline",
    "VolumeCollapse",
    "best_split",
    "country_rows",
    "cusum_alerts",
    "default_penalty",
    "default_rows_file",
    "detect",
    "incident_json",
    "iso",
    "load_series",
    "measurement_ids",
    "pelt",
    "prepare_search",
    "reads_files",
    "split_interval",
    "volume_collapses",
]
