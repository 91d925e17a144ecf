"""The ``hermetic`` fixture: blockers for fine-grained use inside one test."""

from __future__ import annotations

from hermetic._runtime import RUNTIME
from hermetic.blocker import HermeticBlocker, active_policy, hermetic_blocker
from hermetic.errors import HermeticError
from hermetic.pytest_plugin import PLAN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import pytest

    from hermetic.errors import PolicyViolation
    from hermetic.policy import BlockConfig


class HermeticFixture:
    """What the ``hermetic`` fixture gives a test.

    Call it like ``hermetic_blocker`` to get a blocker for a ``with`` block (or a
    decorator); :meth:`activate` enters one for the rest of the test. Every blocker made
    here is left at the test's teardown, even if the test did not leave it itself.

    Example::

        def test_download(hermetic):
            with hermetic(block_network=True, allow_domains=["pypi.org"]):
                ...
            assert not hermetic.violations

    Attributes:
        violations: every ``PolicyViolation`` made since the fixture was set up, including
            the ones the code under test caught and did not re-raise.
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        """Set up for the test of ``request``."""
        self._item = request.node
        self._blockers: list[HermeticBlocker] = []
        self.violations: list[PolicyViolation] = []
        self._observer = self.violations.append
        RUNTIME.observe(self._observer)

    @property
    def policy(self) -> BlockConfig | None:
        """The policy the plugin applies to this test (suite and markers), or None."""
        plan = self._item.stash.get(PLAN, None)
        return None if plan is None else plan.config

    def __call__(
        self,
        config: BlockConfig | None = None,
        /,
        *,
        profile: str | Sequence[str] | None = None,
        **options: Any,
    ) -> HermeticBlocker:
        """A blocker for a policy (the arguments of ``hermetic_blocker``); not yet active.

        Raises:
            hermetic.errors.PolicyError: the policy is malformed or needs a missing guard.
            hermetic.errors.HermeticError: the process is sealed and the policy would
                tighten it for good.
        """
        blocker = hermetic_blocker(config, profile=profile, **options)
        if RUNTIME.sealed:
            current = active_policy()
            if (current | blocker.config).guard_options() != current.guard_options():
                raise HermeticError(
                    "the test process is sealed: a stricter policy entered now would stay "
                    "for every test after this one; put it in the suite policy instead"
                )
        self._blockers.append(blocker)
        return blocker

    def activate(
        self,
        config: BlockConfig | None = None,
        /,
        *,
        profile: str | Sequence[str] | None = None,
        **options: Any,
    ) -> HermeticBlocker:
        """Activate a policy now, until the end of the test (teardown included)."""
        blocker = self(config, profile=profile, **options)
        blocker.__enter__()
        return blocker

    def close(self) -> None:
        """Leave every blocker made here that is still active; stop recording."""
        try:
            for blocker in reversed(self._blockers):
                while blocker._tokens():
                    blocker.__exit__(None, None, None)
        finally:
            RUNTIME.unobserve(self._observer)


__all__ = ["HermeticFixture"]
