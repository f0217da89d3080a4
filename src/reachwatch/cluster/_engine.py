"""The engine a run uses, and a checked connection to a Dask cluster."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Literal

from reachwatch.errors import ReachwatchError

if TYPE_CHECKING:
    from distributed import Client

EngineKind = Literal["embedded", "dask"]
_CONNECT_SECONDS = 10


class ClusterError(ReachwatchError):
    """The cluster cannot be used: not reachable, no workers, or workers that differ."""


@dataclass(frozen=True, slots=True)
class Engine:
    """`embedded`: this machine's worker processes (`jobs` of them). `dask`: the cluster whose
    scheduler is at `scheduler`, or, without one, a `LocalCluster` of `jobs` worker processes
    on loopback."""

    kind: EngineKind = "embedded"
    scheduler: str | None = None
    jobs: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("embedded", "dask"):
            raise ValueError(f"unknown engine {self.kind!r}")
        if self.kind == "embedded" and self.scheduler is not None:
            raise ValueError("a scheduler address needs the dask engine")
        if self.jobs < 1:
            raise ValueError("jobs must be at least 1")

    @property
    def on_dask(self) -> bool:
        return self.kind == "dask"


@cache
def code_identity() -> str:
    """SHA-256 of the installed reachwatch's Python sources (and the Python version they run
    on): two processes with the same identity judge and write alike."""
    digest = hashlib.sha256(sys.version.encode())
    root = resources.files("reachwatch")
    stack = [root]
    files = []
    while stack:
        folder = stack.pop()
        for item in folder.iterdir():
            if item.is_dir():
                if item.name != "__pycache__":
                    stack.append(item)
            elif item.name.endswith((".py", ".yaml", ".json", ".csv", ".sql")):
                files.append(item)
    prefix = len(str(root))
    for item in sorted(files, key=str):
        digest.update(str(item)[prefix:].encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def dask_client(engine: Engine) -> Iterator[Client]:
    """A client of the engine's cluster, whose every worker runs this reachwatch; a cluster
    started here (no scheduler address) is closed on the way out."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a dependency
        raise ClusterError("the dask engine needs distributed: pip install "
                           "distributed") from None  # fmt: skip
    # What goes wrong in the cluster reaches the command as an exception and is said in one
    # line. distributed's own log lines would only interleave with the command's output, and
    # at ERROR they include tracebacks of races in a clean shutdown (a worker's heartbeat cut
    # by the scheduler closing first), printed after a run that succeeded.
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        if engine.scheduler is None:
            with (
                LocalCluster(
                    n_workers=engine.jobs,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    # Its web pages too stay on loopback, on ports nobody else holds.
                    dashboard_address="127.0.0.1:0",
                    worker_dashboard_address="127.0.0.1:0",
                    silence_logs=logging.CRITICAL,  # its workers' logs too
                ) as cluster,
                Client(cluster) as client,
            ):
                _check_workers(client)
                yield client
        else:
            client = _connect(engine.scheduler)
            with client:
                _check_workers(client)
                yield client
    finally:
        quiet.setLevel(level)


def _connect(address: str) -> Client:
    from distributed import Client

    try:
        return Client(address, timeout=_CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} ({one_line(exc)}): start it "
            "with `dask scheduler` and give its address as tcp://HOST:PORT"
        ) from None


def _check_workers(client: Client) -> None:
    """Refuse a cluster without workers, or with one that runs other code than this process."""
    try:
        client.wait_for_workers(1, timeout=_CONNECT_SECONDS)
    except TimeoutError:
        raise ClusterError(
            f"the Dask scheduler has had no worker for {_CONNECT_SECONDS} s: start some "
            "with `dask worker SCHEDULER_ADDRESS`"
        ) from None
    ours = code_identity()
    theirs = client.run(_worker_identity)
    for address, identity in sorted(theirs.items()):
        if identity != ours:
            raise ClusterError(
                f"the Dask worker at {address} runs another reachwatch (or Python) than this "
                "process: install the same release on every worker"
            )


def _worker_identity() -> str:
    # Sent by reference (a module's function), so each worker runs its own installed code.
    return code_identity()


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (a cluster's errors span several), or its type's name."""
    return " ".join(str(exc).split()) or type(exc).__name__
