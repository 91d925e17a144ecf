"""A patch module whose install fails: the bootstrap must refuse to run the target."""

from __future__ import annotations


def install(options: object, runtime: object) -> None:
    """Fail the way a guard that cannot patch its target would."""
    raise RuntimeError("cannot patch the target API")
