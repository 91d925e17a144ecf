"""Named policies (profiles) and the helpers that apply them.

Profiles name option values only; they are checked against the installed guards when they
are applied, so a profile that needs a guard that is not installed fails with the name of
the distribution to install instead of running weaker than its name promises.
"""

from __future__ import annotations

from hermetic.errors import GuardNotInstalled, PolicyError
from hermetic.policy import BlockConfig
from hermetic.registry import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypeVar

    C = TypeVar("C", bound=BlockConfig)


class GuardConfig(BlockConfig):
    """A policy as the CLI builds it; the same as :class:`BlockConfig` in every respect.

    Kept under this name for the code written against hermetic-seal 1.x, which read
    ``cfg.no_network`` and friends: every alias reads as its canonical option.
    """

    __slots__ = ()


PROFILES: dict[str, GuardConfig] = {
    "block-all": GuardConfig._unchecked(
        block_network=True,
        block_subprocess=True,
        fs_readonly=True,
        block_environment=True,
        block_code_exec=True,
        block_interpreter_mutation=True,
        block_native=True,
    ),
    "net-hermetic": GuardConfig._unchecked(block_network=True, allow_localhost=True),
    "exec-deny": GuardConfig._unchecked(block_subprocess=True),
    "fs-readonly": GuardConfig._unchecked(fs_readonly=True),
    "block-native": GuardConfig._unchecked(block_native=True),
}

#: One line per profile, for ``--list-profiles`` and the docs.
DESCRIPTIONS: dict[str, str] = {
    "block-all": "every first-party guard on: no network, subprocess, writes, environment, "
    "eval/exec, interpreter mutation or native code",
    "net-hermetic": "no network except loopback (unit tests with local test servers)",
    "exec-deny": "no subprocesses, forks or exec",
    "fs-readonly": "the filesystem is read-only",
    "block-native": "no new C extensions, shared libraries or ctypes",
}


def profile(name: str) -> BlockConfig:
    """The validated policy of profile ``name``.

    Raises:
        PolicyError: the profile does not exist.
        GuardNotInstalled: the profile needs a guard that is not installed.
    """
    try:
        raw = PROFILES[name]
    except KeyError:
        raise PolicyError(
            f"unknown profile {name!r}; profiles: {', '.join(sorted(PROFILES))}"
        ) from None
    reg = registry()
    missing: dict[str, list[str]] = {}
    for key in raw.values:
        if key not in reg.options and key not in ("trace", "sealed"):
            error = reg.missing(key)
            dist = getattr(error, "distribution", None) or "an unknown distribution"
            missing.setdefault(dist, []).append(key)
    if missing:
        parts = [f"{dist} ({', '.join(keys)})" for dist, keys in missing.items()]
        dists = " ".join(d for d in missing if " " not in d)
        raise GuardNotInstalled(
            f"profile {name!r} needs guards that are not installed: {'; '.join(parts)}"
            + (f": pip install {dists}" if dists else ""),
            distribution=next(iter(missing)),
        )
    return raw.check_installed()


def apply_profile(base: C, name: str) -> C:
    """``base`` merged (stricter wins) with profile ``name``."""
    return base.merged_with(profile(name))  # type: ignore[return-value]


def apply_profiles(base: C, names: Iterable[str]) -> C:
    """``base`` merged with every profile in ``names``, in order."""
    for name in names:
        base = apply_profile(base, name)
    return base


__all__ = ["DESCRIPTIONS", "PROFILES", "GuardConfig", "apply_profile", "apply_profiles", "profile"]
