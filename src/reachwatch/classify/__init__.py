"""classify: one set of ordered, named rules that judges every measurement reachwatch sees.

    from reachwatch.classify import classify, classify_censoredplanet, load_fingerprints

`classify(measurement)` takes an OONI-format measurement (web_connectivity, whatsapp, telegram,
signal, facebook_messenger, urlgetter, and reachwatch's own probe output) and returns a
`Classified`: per-layer verdicts with the id of the rule that fired, per-address observations
and the overall verdict. `classify_censoredplanet(record)` does the same for one Hyperquack or
Satellite record. Both are pure functions over dicts: no I/O.
"""

from reachwatch.classify._censoredplanet import classify_censoredplanet
from reachwatch.classify._errors import InvalidMeasurement, Unsupported
from reachwatch.classify._fingerprints import Fingerprints, Match, load_fingerprints
from reachwatch.classify._ooni import SUPPORTED_TESTS, classify
from reachwatch.classify._refusals import FingerprintError, MeasurementFileError
from reachwatch.classify._rules import RULES
from reachwatch.classify._view import control_broken
from reachwatch.classify.verdicts import (
    LAYERS,
    TECHNIQUES,
    Classified,
    LayerVerdict,
    Observation,
    summarize,
)

__all__ = [
    "LAYERS",
    "RULES",
    "SUPPORTED_TESTS",
    "TECHNIQUES",
    "Classified",
    "FingerprintError",
    "Fingerprints",
    "InvalidMeasurement",
    "LayerVerdict",
    "Match",
    "MeasurementFileError",
    "Observation",
    "Unsupported",
    "classify",
    "classify_censoredplanet",
    "control_broken",
    "load_fingerprints",
    "summarize",
]
