"""simulate stage: labelled synthetic OONI corpora with ground truth, from a case's scenario
or one built directly."""

from reachwatch.simulate._corpora import CORPUS_KINDS, detection_corpus
from reachwatch.simulate._errors import SimulationError
from reachwatch.simulate._generate import (
    CORPUS_DIR,
    MAX_SEED,
    MIN_SEED,
    TRUTH_FILE,
    CorpusSummary,
    Simulated,
    generate,
    write_corpus,
)
from reachwatch.simulate._memory_store import memory_store
from reachwatch.simulate._ooni import OUTCOMES, SOFTWARE_NAME, Probe, web_connectivity
from reachwatch.simulate._scenario import (
    PLATFORM_HOSTS,
    Block,
    Noise,
    Scenario,
    scenario_from_case,
)

__all__ = [
    "CORPUS_DIR",
    "CORPUS_KINDS",
    "MAX_SEED",
    "MIN_SEED",
    "OUTCOMES",
    "PLATFORM_HOSTS",
    "SOFTWARE_NAME",
    "TRUTH_FILE",
    "Block",
    "CorpusSummary",
    "Noise",
    "Probe",
    "Scenario",
    "Simulated",
    "SimulationError",
    "detection_corpus",
    "generate",
    "memory_store",
    "scenario_from_case",
    "web_connectivity",
    "write_corpus",
]
