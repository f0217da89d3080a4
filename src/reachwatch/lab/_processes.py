"""Long-running processes inside a namespace: started, awaited until ready, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from reachwatch.lab._system import CommandFailed, in_ns

READY_TIMEOUT = 20.0


def reachwatch_command() -> list[str]:
    """How to run the `reachwatch` command users run, from this same installation."""
    script = Path(sys.executable).with_name("reachwatch")
    if script.exists():
        return [str(script)]
    found = shutil.which("reachwatch")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from reachwatch.cli import main; main()"]


class NamespaceProcess:
    """A process in `namespace`, considered ready when a stdout line contains `ready_marker`.

    Its stdin stays an open pipe: lab nodes exit when it closes, even if the lab is killed.
    """

    def __init__(
        self, namespace: str, argv: Sequence[str], *, ready_marker: str, log: Path
    ) -> None:
        self.namespace = namespace
        self.argv = list(argv)
        self.ready_marker = ready_marker
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            # `ip netns exec` execs the command, so the pid is the process itself.
            self._process = subprocess.Popen(
                in_ns(self.namespace, *self.argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        seen = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
                if self.ready_marker.encode() in seen:
                    return
        self.stop()
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        raise CommandFailed(
            f"{' '.join(self.argv[:4])} in {self.namespace} did not start: {' | '.join(tail)}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
