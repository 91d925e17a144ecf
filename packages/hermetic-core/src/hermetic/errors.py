"""Exception types raised by hermetic.

This module imports nothing but the standard library and stays tiny: the bootstrap imports
it in a guarded interpreter whenever hermetic is installed there, so that a blocked action
raises the same ``PolicyViolation`` class in both delivery modes.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # no run-time import of typing: this module is on the start-up path
    pass


class HermeticError(RuntimeError):
    """Base class for every hermetic failure."""


class PolicyViolation(HermeticError):
    """Raised when a guard blocks an action.

    Attributes:
        guard: the guard that blocked it (``"network"``, ``"filesystem"``, ...), or None.
        target: what was blocked: a host or address, a path, a command line, a module.
        what: the short description of the attempted action, when a guard provides one.
    """

    guard: str | None
    target: str | None
    what: str | None = None

    def __init__(
        self,
        message: str,
        *,
        guard: str | None = None,
        target: str | None = None,
    ) -> None:
        """Create a violation for ``guard`` that blocked ``target``."""
        super().__init__(message)
        self.guard = guard
        self.target = target


class PolicyError(HermeticError, ValueError):
    """A policy that cannot be built as asked.

    Unknown options or profiles, values of the wrong type or shape, and options whose
    guard is not installed. Raised when the policy is created, never later.
    """


class GuardNotInstalled(PolicyError):
    """The policy needs a guard whose distribution is not installed."""

    def __init__(self, message: str, *, distribution: str | None = None) -> None:
        """Record the distribution that would provide the missing guard."""
        super().__init__(message)
        self.distribution = distribution


class BootstrapError(HermeticError):
    """The bootstrap for a foreign interpreter could not be built or installed."""


__all__ = [
    "BootstrapError",
    "GuardNotInstalled",
    "HermeticError",
    "PolicyError",
    "PolicyViolation",
]
