"""Running the kernel's tools (ip, iptables, tc) and telling why the lab cannot run here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from reachwatch.errors import EnvironmentMissing

_TOOLS = ("ip", "iptables", "tc")


class CommandFailed(Exception):
    """A setup command failed; the message carries the command and its stderr."""


def unavailable_reason() -> str | None:
    """Why the lab cannot run on this machine, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"the lab needs Linux network namespaces (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, iptables and tc); run it with sudo"
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return f"the lab needs {', '.join(missing)} (apt-get install iproute2 iptables)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"network namespaces are not available: {probe.stderr.strip()}"
    return None


def require_lab_environment() -> None:
    reason = unavailable_reason()
    if reason is not None:
        raise EnvironmentMissing(reason)


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> str:
    """Run a command, return its stdout; raise CommandFailed with stderr when it fails."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, check=False, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(f"{' '.join(argv)}: {exc}") from None
    if check and done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def in_ns(namespace: str, *argv: str) -> list[str]:
    """The command line that runs argv inside a network namespace."""
    return ["ip", "netns", "exec", namespace, *argv]
