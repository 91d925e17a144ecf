"""The one error type of the command line: hermetic will not run the target as asked."""

from __future__ import annotations


class CLIError(Exception):
    """A usage error or a refused target; reported as ``hermetic: <message>``, exit code 2.

    Args:
        message: what is wrong, and where possible how to fix it.
        usage: also point at ``hermetic --help`` (for errors in hermetic's own flags).
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        """Record the message and whether to point at ``--help``."""
        super().__init__(message)
        self.usage = usage


__all__ = ["CLIError"]
