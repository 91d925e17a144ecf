"""``hermetic_blocker`` and ``with_hermetic``: activate a policy for a block of code.

Guards are process-wide: while a blocker is active, every thread of the process is under
its policy. Blockers nest; the effective policy is the stricter merge of all active ones,
and leaving a blocker restores exactly the policy that was active before it, also when the
body raises.
"""

from __future__ import annotations

import _thread

from hermetic._activation import ACTIVATION
from hermetic.policy import BlockConfig
from hermetic.profiles import apply_profile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType
    from typing import Any, Callable, TypeVar

    from hermetic._activation import Entry

    F = TypeVar("F", bound=Callable[..., Any])


class HermeticBlocker:
    """A policy you can enter: a context manager, async context manager and decorator.

    As a decorator it works on plain functions, methods, coroutine functions, generator
    and async generator functions: the policy is active while the body runs (for
    coroutines, until the coroutine finishes; other tasks on the loop are affected too).
    """

    def __init__(self, config: BlockConfig) -> None:
        """Wrap a validated ``config``."""
        self.config = config
        self._local = _thread._local()

    def _tokens(self) -> list[Entry]:
        tokens: list[Entry] | None = getattr(self._local, "tokens", None)
        if tokens is None:
            tokens = self._local.tokens = []
        return tokens

    def __enter__(self) -> HermeticBlocker:
        """Activate the policy."""
        entry = ACTIVATION.push(self.config)
        # The entries this thread pushed, innermost last: the blocker may be entered again
        # (nested, or in another thread) before it is left.
        try:
            tokens: list[Entry] = self._local.tokens
        except AttributeError:
            tokens = self._local.tokens = []
        tokens.append(entry)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Restore the policy that was active before; never suppresses the exception."""
        tokens: list[Entry] | None = getattr(self._local, "tokens", None)
        if tokens:
            ACTIVATION.pop(tokens.pop())

    async def __aenter__(self) -> HermeticBlocker:
        """Activate the policy (``async with``)."""
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Restore the previous policy (``async with``)."""
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` so the policy is active while it runs."""
        import functools
        import inspect

        target: Any = func
        if isinstance(target, (classmethod, staticmethod)):
            return type(target)(self(target.__func__))  # type: ignore[return-value]
        if isinstance(target, type):
            raise TypeError("with_hermetic decorates functions and methods, not classes")
        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(func):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)

        elif inspect.isasyncgenfunction(func):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    async for item in func(*args, **kwargs):
                        yield item

        elif inspect.isgeneratorfunction(func):

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return (yield from func(*args, **kwargs))

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return func(*args, **kwargs)

        return functools.wraps(func)(wrapper)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<hermetic blocker {self.config!r}>"


def hermetic_blocker(
    config: BlockConfig | None = None,
    /,
    *,
    profile: str | Sequence[str] | None = None,
    **options: Any,
) -> HermeticBlocker:
    """Build a blocker for a policy; enter it with ``with`` or use it as a decorator.

    Three forms, which may be combined::

        hermetic_blocker(block_network=True, allow_localhost=True)   # keywords
        hermetic_blocker(BlockConfig(block_subprocess=True))         # a config
        hermetic_blocker(profile="net-hermetic")                     # a named profile

    A config and profiles merge, stricter wins; keyword options then refine that policy
    (:meth:`BlockConfig.overlay`): ``hermetic_blocker(profile="net-hermetic",
    allow_domains=["api.example.com"])`` allows loopback and that domain.

    Options are those the installed guards declare (and their aliases, such as
    ``no_network``), plus ``trace`` and ``sealed``.

    Raises:
        hermetic.errors.PolicyError: an unknown option or profile, a malformed value, or
            an option whose guard is not installed (the message names the distribution).
    """
    if config is None:
        cfg = BlockConfig()
    elif isinstance(config, BlockConfig):
        cfg = config.check_installed()
    else:
        raise TypeError(
            f"hermetic_blocker() takes a BlockConfig positionally, not {type(config).__name__}"
        )
    names = [profile] if isinstance(profile, str) else list(profile or ())
    for name in names:
        cfg = apply_profile(cfg, name)
    if options:
        cfg = cfg.overlay(BlockConfig(**options))
    return HermeticBlocker(cfg)


def with_hermetic(
    config: BlockConfig | None = None,
    /,
    *,
    profile: str | Sequence[str] | None = None,
    **options: Any,
) -> HermeticBlocker:
    """The decorator spelling of :func:`hermetic_blocker` (same arguments)."""
    return hermetic_blocker(config, profile=profile, **options)


def active_policy() -> BlockConfig:
    """The effective policy right now: the merge of every active blocker."""
    return ACTIVATION.effective()


__all__ = ["HermeticBlocker", "active_policy", "hermetic_blocker", "with_hermetic"]
