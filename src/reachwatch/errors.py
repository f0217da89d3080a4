"""reachwatch's exception family.

Every stage raises its own subclass of `ReachwatchError` (`StoreError`, `CaseError`, ...) for
what a user can cause: bad input, a refused request, a missing environment. The message is one
line that says what is wrong; the library never prints it. Only the command line (`reachwatch.cli`)
turns these into `reachwatch: error: ...` and an exit code, and only it raises `UserError`.
"""


class ReachwatchError(Exception):
    """Bad input or a refused request; the message is one line, shown as is."""

    exit_code = 2


class EnvironmentMissing(ReachwatchError):
    """The work needs something this machine lacks (network, root, a tool)."""

    exit_code = 3


class UserError(ReachwatchError):
    """Bad usage of the command line; raised by `reachwatch.cli` only."""
