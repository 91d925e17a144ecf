"""hermetic: run Python code with chosen APIs switched off; fail loudly when it reaches for one.

The public face::

    from hermetic import hermetic_blocker, with_hermetic, BlockConfig, PolicyViolation

    with hermetic_blocker(block_network=True, allow_localhost=True):
        ...

Importing this package is cheap (it loads only ``hermetic.errors``); the rest is imported
on first use, so libraries and the bootstrap can import hermetic on their start-up path.
"""

from __future__ import annotations

from hermetic.errors import BootstrapError, HermeticError, PolicyError, PolicyViolation

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hermetic.blocker import HermeticBlocker, active_policy, hermetic_blocker, with_hermetic
    from hermetic.contract import Guard, Option, define_guard
    from hermetic.policy import BlockConfig

_LAZY = {
    "hermetic_blocker": "hermetic.blocker",
    "with_hermetic": "hermetic.blocker",
    "HermeticBlocker": "hermetic.blocker",
    "active_policy": "hermetic.blocker",
    "BlockConfig": "hermetic.policy",
    "Guard": "hermetic.contract",
    "Option": "hermetic.contract",
    "define_guard": "hermetic.contract",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from hermetic.contract import _import_module  # every lazy name's module imports it

        value: object = getattr(_import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from hermetic.registry import distribution_version

        return distribution_version("hermetic-core") or "0.0.0"
    raise AttributeError(f"module 'hermetic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})


__all__ = [
    "BlockConfig",
    "BootstrapError",
    "Guard",
    "HermeticBlocker",
    "HermeticError",
    "Option",
    "PolicyError",
    "PolicyViolation",
    "active_policy",
    "define_guard",
    "hermetic_blocker",
    "with_hermetic",
]
