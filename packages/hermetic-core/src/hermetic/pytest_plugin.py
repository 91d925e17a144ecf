"""hermetic's pytest plugin: hermetic tests by command line, ini file, marker or fixture.

pytest loads this module through the ``pytest11`` entry point wherever hermetic-core is
installed. It does nothing unless asked: with no hermetic option, ini key or marker, it
registers no per-test hook and installs no guard; it only declares its options, its two
markers and the ``hermetic`` fixture. Importing it imports pytest and ``hermetic.errors``
(through the package); the rest of hermetic is imported when pytest calls the hooks below.

* Options: every installed guard's flags with a ``hermetic-`` prefix
  (``--hermetic-no-network``, ``--hermetic-allow-domain D``, ...), ``--hermetic-profile``,
  ``--hermetic-trace``, ``--hermetic-seal``, ``--hermetic-scope`` and ``--hermetic-off``; the
  same keys in the ini file (``hermetic_profile = net-hermetic``).
* Markers: ``@pytest.mark.hermetic(*profiles, **options)`` merges (stricter wins) with the
  suite policy; ``@pytest.mark.hermetic_off(*guards)`` opts a test out of the suite policy
  (of some guards only, if named), refused under a sealed policy.
* Fixture: ``hermetic``, a blocker factory for fine-grained use (see docs/pytest.md).
"""

from __future__ import annotations

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

    from hermetic._pytest_fixture import HermeticFixture
    from hermetic._pytest_plan import ItemPlan, Suite
    from hermetic._pytest_session import State

#: The run's plugin state (``hermetic._pytest_session.State``), once something asked for it.
STATE: pytest.StashKey[State] = pytest.StashKey()
#: Each test's plan (``hermetic._pytest_plan.ItemPlan``), computed at collection.
PLAN: pytest.StashKey[ItemPlan] = pytest.StashKey()

MARKERS = (
    "hermetic(*profiles, **policy): run this test under a hermetic policy (profiles by name, "
    "options such as block_network=True), merged stricter-wins with the suite policy",
    "hermetic_off(*guards): run this test without the suite's hermetic policy (of the named "
    "guards only, if any); refused when the suite policy is sealed",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the options of the installed guards, prefixed ``--hermetic-``."""
    from hermetic._pytest_options import add_options

    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; if a suite policy is configured, get ready to apply it."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    from hermetic._pytest_options import read_settings

    settings = read_settings(config)
    if settings.empty and not settings.off and not xdist_controller(config):
        # Unconfigured: nothing more is imported or registered unless a marker or the
        # fixture asks for it. (An xdist controller cannot see the workers' markers, so
        # it always gets ready to receive their violations.)
        return
    from hermetic._pytest_plan import build_suite

    _state(config, build_suite(settings)).start()


def xdist_controller(config: pytest.Config) -> bool:
    """Whether this process is an xdist controller handing tests to workers."""
    if hasattr(config, "workerinput"):
        return False
    option = config.option
    return getattr(option, "dist", "no") != "no" and bool(
        getattr(option, "numprocesses", None) or getattr(option, "tx", None)
    )


def _state(config: pytest.Config, suite: Suite | None = None) -> State:
    from hermetic._pytest_session import State

    state = config.stash.get(STATE, None)
    if state is None:
        if suite is None:
            from hermetic._pytest_options import read_settings
            from hermetic._pytest_plan import build_suite

            suite = build_suite(read_settings(config))
        state = config.stash[STATE] = State(config, suite)
    return state


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Plan every test's policy once, after every other plugin changed the items."""
    state = config.stash.get(STATE, None)
    if state is None:
        if not any_marked(items):
            return
        state = _state(config)
    state.plan_items(items)


def any_marked(items: Iterable[pytest.Item]) -> bool:
    """Whether a hermetic marker sits on any item or any of its parents (memoised walk)."""
    names = ("hermetic", "hermetic_off")
    visited: set[int] = set()
    for item in items:
        node: Any = item
        while node is not None and id(node) not in visited:
            if node is not item:
                visited.add(id(node))
            for mark in node.own_markers:
                if mark.name in names:
                    return True
            node = node.parent
    return False


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which hermetic policy the suite runs under (nothing when unconfigured)."""
    state = config.stash.get(STATE, None)
    return None if state is None else state.header()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove every guard the plugin installed (a sealed policy stays: it is sealed)."""
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()


@pytest.fixture
def hermetic(request: pytest.FixtureRequest) -> Iterator[HermeticFixture]:
    """Give the test blockers for fine-grained use.

    ``with hermetic(block_network=True): ...`` runs a block under a policy;
    ``hermetic.activate(**policy)`` activates a policy until the test ends;
    ``hermetic.policy`` is the policy the plugin applies to the test (or None);
    ``hermetic.violations`` lists the violations made since the fixture was set up.
    """
    from hermetic._pytest_fixture import HermeticFixture

    _state(request.config).ensure_recorder()
    fixture = HermeticFixture(request)
    try:
        yield fixture
    finally:
        fixture.close()
