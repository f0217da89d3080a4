"""Wall time of the whole censorship-lab matrix against the 3-minute target.

    sudo python bench/lab.py

Builds the lab, runs every shipped scenario through `reachwatch probe`, tears down, and prints
the wall time, the per-scenario times, the accuracy and the ratio to the target.
"""

from __future__ import annotations

import sys
import time

from reachwatch.lab import load_scenarios, run_lab, unavailable_reason

TARGET_SECONDS = 180.0


def figure(name: str, value: float, unit: str) -> None:
    # bench/_common.py's layout, inlined: mypy cannot follow a sys.path import of it.
    print(f"{name:48} {value:12.3f} {unit}")


def main() -> int:
    reason = unavailable_reason()
    if reason is not None:
        print(f"lab benchmark skipped: {reason}")
        return 0
    started = time.monotonic()
    report = run_lab(load_scenarios())
    wall = time.monotonic() - started
    for scenario in report.scenarios:
        figure(f"scenario {scenario.name}", scenario.seconds, "s")
    figure("lab matrix wall time", wall, "s")
    figure("target", TARGET_SECONDS, "s")
    figure("wall time / target (<= 1 is on target)", wall / TARGET_SECONDS, "x")
    figure("accuracy", report.accuracy * 100, "%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
