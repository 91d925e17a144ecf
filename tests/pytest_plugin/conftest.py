"""Fixtures for the pytest plugin's tests: a loopback counter and a guard made on the spot."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermetic._activation import ACTIVATION
from hermetic._runtime import RUNTIME
from hermetic.registry import refresh
from hermetic_testsupport.servers import TCPCounter

TESTS = Path(__file__).parents[1]
REPO = TESTS.parent
DEMO_GUARD_SRC = TESTS / "fixtures" / "thirdparty-guard" / "src"

COLORS_GUARD = '''
"""A guard written for these tests: one option of every kind the contract knows."""

from hermetic.contract import AND, INTERSECTION, Option, define_guard

guard = define_guard(
    "colors",
    summary="Refuses colorsys.rgb_to_hsv except for the allowed values.",
    patch_module="pt_colors_guard._patch",
    options=[
        Option("block_colors", bool, flags=["--no-colors"], aliases=["no_colors"],
               enables=True, help="Refuse colorsys.rgb_to_hsv."),
        Option("allow_colors", list, flags=["--allow-color"], merge=INTERSECTION,
               metavar="VALUE", help="A value rgb_to_hsv may take."),
        Option("colors_lenient", bool, flags=["--colors-lenient"], merge=AND,
               help="Allow negative values."),
        Option("colors_label", str, help="A label; no flag, so the plugin derives one."),
        Option("colors_scope", bool, flags=["--scope"], help="Clashes with --hermetic-scope."),
    ],
)
'''

COLORS_PATCH = """
import colorsys

INSTALLS = []  # one entry per install: how often the plugin really installed the guard


def install(options, runtime):
    INSTALLS.append(dict(options))
    allowed = set(options["allow_colors"])
    lenient = options["colors_lenient"]

    def check(r, *args, **kwargs):
        if str(r) in allowed or (lenient and r < 0):
            return
        runtime.deny(f"convert {r}", target=str(r), reason="colors disabled",
                     hint="use --allow-color or allow_colors=[...]")

    runtime.check_before(colorsys, "rgb_to_hsv", check)
"""


def write_guard_site(root: Path) -> Path:
    """A directory that, on ``sys.path``, installs the ``colors`` and ``webbrowser`` guards."""
    package = root / "pt_colors_guard"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(COLORS_GUARD))
    (package / "_patch.py").write_text(textwrap.dedent(COLORS_PATCH))
    for dist, entry in (
        ("pt_colors_guard", "colors = pt_colors_guard:guard"),
        ("hermetic_demo_guard", "webbrowser = hermetic_demo_guard:guard"),
    ):
        meta = root / f"{dist}-0.1.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n\n")
        (meta / "entry_points.txt").write_text(f"[hermetic.guards]\n{entry}\n")
    return root


@pytest.fixture
def extra_guards(tmp_path: Path) -> Iterator[list[str]]:
    """Install the ``colors`` guard and the demo ``webbrowser`` guard for this test.

    Yields the directories to put on ``PYTHONPATH`` for a subprocess run.
    """
    # Imported here, so that pytester's inline runs (which forget the modules a run
    # imported) patch the same module object the tests call.
    import colorsys  # noqa: F401
    import webbrowser  # noqa: F401

    site = str(write_guard_site(tmp_path / "guard-site"))
    paths = [site, str(DEMO_GUARD_SRC)]
    sys.path[:0] = paths
    refresh()
    try:
        yield paths
    finally:
        for path in paths:
            while path in sys.path:
                sys.path.remove(path)
        for name in [n for n in sys.modules if n.split(".")[0] in ("pt_colors_guard",)]:
            del sys.modules[name]
        refresh()


@pytest.fixture(autouse=True)
def _nothing_kept_or_observed() -> Iterator[None]:
    """Every inline pytest run must leave no parked layer, keeper or observer behind.

    (Parked layers report as not installed, so the suite-wide leak check cannot see them.)
    """
    yield
    assert ACTIVATION._keep == 0, "a keep_installed(True) was not released"
    assert ACTIVATION._parked is None, "layers were left parked"
    assert RUNTIME._observers == (), "a violation observer was left registered"


@pytest.fixture
def counter() -> Iterator[TCPCounter]:
    """A loopback TCP server counting the connections that reach it."""
    with TCPCounter() as server:
        yield server
