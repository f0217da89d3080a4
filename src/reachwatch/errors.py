"""Errors a user can cause: the CLI prints them as one line, never as a traceback."""


class UserError(Exception):
    """Bad input, bad usage or a missing environment; the message is shown as is."""

    exit_code = 2


class EnvironmentMissing(UserError):
    """The work needs something this machine lacks (network, root, a tool)."""

    exit_code = 3
