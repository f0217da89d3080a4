"""Build hook: compiles ingest's hot path (classify, the OONI envelope, the pipeline, the
store writer) to C with mypyc, from the same typed sources. Everything else stays plain Python.

Set REACHWATCH_PURE_PYTHON=1 to build without compiling: the package then runs the same code
interpreted (classifying about three times slower, `reachwatch ingest` as a whole about 1.6
times). Project metadata lives in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup

# Modules that run once per measurement or per observation during ingest. A compiled module
# is a C extension: it cannot be monkeypatched, and its annotations are checked at run time.
COMPILED = [
    "reachwatch/classify/_censoredplanet.py",
    "reachwatch/classify/_combine.py",
    "reachwatch/classify/_dns.py",
    "reachwatch/classify/_errors.py",
    "reachwatch/classify/_fingerprints.py",
    "reachwatch/classify/_http.py",
    "reachwatch/classify/_net.py",
    "reachwatch/classify/_ooni.py",
    "reachwatch/classify/_quic_rate.py",
    "reachwatch/classify/_rules.py",
    "reachwatch/classify/_transfer.py",
    "reachwatch/classify/_transport.py",
    "reachwatch/classify/_view.py",
    "reachwatch/classify/verdicts.py",
    "reachwatch/formats/ooni.py",
    "reachwatch/ingest/_facts.py",
    "reachwatch/ingest/_judge.py",
    "reachwatch/ingest/_lines.py",
    "reachwatch/ingest/_pipeline.py",
    "reachwatch/net/_failures.py",
    "reachwatch/net/_names.py",
    "reachwatch/net/_reserved.py",
    "reachwatch/store/_chunk.py",
    "reachwatch/store/_writer.py",
]


def _ext_modules() -> list[object]:
    if os.environ.get("REACHWATCH_PURE_PYTHON"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        # A plain `pip install .` builds in an isolated environment without mypy (and without
        # the dependencies mypyc type-checks against): it gets the interpreted package. `make`
        # builds with both, and tests/test_build.py fails if the result is not compiled.
        print("reachwatch: mypyc is not installed; building without compiling", file=sys.stderr)
        return []

    return list(mypycify([str(Path("src") / m) for m in COMPILED], opt_level="3"))


def _options() -> dict[str, dict[str, str]]:
    # The interpreted build stages its files apart from the compiled one's, so that neither
    # install picks up the other's leftovers (setuptools copies its whole staging folder).
    if os.environ.get("REACHWATCH_PURE_PYTHON"):
        return {"build": {"build_base": "build/pure"}}
    return {}


setup(ext_modules=_ext_modules(), options=_options())
