"""Patch module of the fake guards: standard library only, like every patch module.

The installed options are recorded in ``INSTALLS`` so tests can see which layers exist.
"""

from __future__ import annotations

import colorsys
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

INSTALLS: list[tuple[str, dict[str, Any]]] = []


def install(options: dict[str, Any], runtime: Any) -> None:
    """Patch the colorsys function of this guard and subscribe to its audit event."""
    name = runtime.name
    allowed = set(options.get("allow_alpha", ()))
    record = (name, dict(options))
    INSTALLS.append(record)

    def check(*args: Any, **kwargs: Any) -> None:
        label = str(args[0]) if args else ""
        if label in allowed:
            return
        runtime.deny(f"call {name} with {label}", target=label, reason=f"{name} disabled")

    target = "rgb_to_hsv" if name == "alpha" else "hsv_to_rgb"
    runtime.check_before(colorsys, target, check)
    runtime.on_audit("hermetic.test." + name, lambda event, args: check(*args))
    runtime.installs_record = record


def uninstall(runtime: Any) -> None:
    """Forget this layer's record (the handle restores the patch itself)."""
    record = getattr(runtime, "installs_record", None)
    if record in INSTALLS:
        INSTALLS.remove(record)


def audit(name: str, value: object) -> None:
    """Fire the fake audit event (what a C-level path would do)."""
    sys.audit("hermetic.test." + name, value)
