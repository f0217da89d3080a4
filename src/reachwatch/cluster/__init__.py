"""Where the work runs: this machine's processes, or a Dask cluster.

`Engine` names it; `dask_client(engine)` connects to a scheduler (or starts a `LocalCluster`
on loopback) and checks that every worker runs the same reachwatch as this process, since a
verdict must not depend on which machine judged it.
"""

from reachwatch.cluster._engine import (
    ClusterError,
    Engine,
    code_identity,
    dask_client,
    one_line,
)

__all__ = ["ClusterError", "Engine", "code_identity", "dask_client", "one_line"]
