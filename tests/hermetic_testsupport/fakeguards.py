"""Two fake guards for testing hermetic-core without depending on the real ones.

``alpha`` patches ``colorsys.rgb_to_hsv`` and listens to the audit event
``hermetic.test.alpha``; ``beta`` patches ``colorsys.hsv_to_rgb``. Their patch module is
``hermetic_testsupport.fakeguard_patch`` (stdlib only, so it also runs in the bootstrap).
Use :func:`fake_registry` to make them the only installed guards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hermetic import registry as registry_module
from hermetic.contract import AND, DEEPER, INTERSECTION, Guard, Option, define_guard
from hermetic.registry import EntryPoint, Registry

PATCH = "hermetic_testsupport.fakeguard_patch"

alpha = define_guard(
    "alpha",
    summary="Refuses colorsys.rgb_to_hsv (a stand-in for a real API).",
    patch_module=PATCH,
    options=[
        Option(
            "block_alpha",
            bool,
            flags=["--no-alpha"],
            aliases=["no_alpha"],
            help="Refuse alpha.",
            enables=True,
        ),
        Option("alpha_strict", bool, flags=["--alpha-strict"], merge=AND, help="Allow switch."),
        Option(
            "allow_alpha",
            list,
            flags=["--allow-alpha"],
            merge=INTERSECTION,
            normalize=lambda v: tuple(x.lower() for x in v),
            help="Allowed values.",
        ),
        Option("alpha_root", str, flags=["--alpha-root"], merge=DEEPER, help="A root."),
    ],
)

beta = define_guard(
    "beta",
    summary="Refuses colorsys.hsv_to_rgb.",
    patch_module=PATCH,
    options=[Option("block_beta", bool, flags=["--no-beta"], enables=True, help="Refuse beta.")],
)


def entry(name: str, attr: str, dist: str = "hermetic-fake") -> EntryPoint:
    """An entry point for ``hermetic_testsupport.fakeguards:<attr>``."""
    return EntryPoint(name, f"hermetic_testsupport.fakeguards:{attr}", dist, "/nonexistent")


@contextmanager
def fake_registry(*entries: EntryPoint) -> Iterator[Registry]:
    """Make ``entries`` (default: alpha and beta) the installed guards for a while."""
    saved = registry_module._REGISTRY
    reg = Registry(list(entries) or [entry("alpha", "alpha"), entry("beta", "beta")])
    registry_module._REGISTRY = reg
    try:
        yield reg
    finally:
        registry_module._REGISTRY = saved


not_a_guard: Any = object()
misnamed = define_guard(
    "gamma",
    summary="Registered under another name.",
    patch_module=PATCH,
    options=[Option("block_gamma", bool, enables=True)],
)
clashing = define_guard(
    "clash",
    summary="Declares an option alpha already owns.",
    patch_module=PATCH,
    options=[Option("block_alpha", bool, enables=True)],
)
reserved = define_guard(
    "reserved",
    summary="Declares a core option.",
    patch_module=PATCH,
    options=[Option("trace", bool, enables=True)],
)
broken_install = define_guard(
    "broken",
    summary="Its patch module does not exist.",
    patch_module="hermetic_testsupport.no_such_patch_module",
    options=[Option("block_broken", bool, flags=["--no-broken"], enables=True)],
)

fragile = define_guard(
    "fragile",
    summary="Its install always fails.",
    patch_module="hermetic_testsupport.fakeguard_broken_patch",
    options=[Option("block_fragile", bool, flags=["--no-fragile"], enables=True)],
)

__all__ = ["alpha", "beta", "entry", "fake_registry", "Guard"]
