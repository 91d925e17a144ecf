"""Install and remove the discovered guards without a ``with`` block.

``install_all(**options)`` activates a policy until ``uninstall_all()``; both work over
whatever guards are installed in the environment (see ``hermetic.registry``).
"""

from __future__ import annotations

from hermetic._activation import ACTIVATION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def install_all(**options: Any) -> None:
    """Activate a policy (the same options as ``hermetic_blocker``) until ``uninstall_all``."""
    from hermetic.blocker import hermetic_blocker

    ACTIVATION.push(hermetic_blocker(**options).config)


def uninstall_all() -> None:
    """Remove every active policy and guard (a no-op in a sealed process)."""
    ACTIVATION.clear()


def installed() -> dict[str, dict[str, Any]]:
    """``{guard name: options}`` for the guards installed right now."""
    return ACTIVATION.installed()


__all__ = ["install_all", "installed", "uninstall_all"]
