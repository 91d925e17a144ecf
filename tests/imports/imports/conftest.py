"""Fixtures of the imports guard's tests: a tree of packages to import, and guarded runs.

``tree`` builds, under the test's ``tmp_path`` (the working directory of every run, so
the packages are importable there in both modes)::

    denied_pkg/            __init__.py (__all__ names sub), sub.py, leaf.py (imports nothing),
                           thing.py (a class), rel.py (imports sub relatively)
    denied_pkg_toolbelt/   __init__.py       a sibling name that must stay importable
    allowed_pkg/           __init__.py, sub.py, rel.py (relative imports), boom.py (raises),
                           lazy.py (imports denied_pkg inside a function), data.txt
    ext/                   copies of two of the standard library's C extensions (_csv and
                           _decimal): outside the standard library, so block_native must
                           refuse them
    ext_with_source/       the same copy plus a Python module of the same name next to it

Every module of the tree appends its name to ``ran.log`` when its code runs, so a test
proves that a refused import really ran nothing; ``ran()`` in a body reads that log.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic.policy import BlockConfig
from hermetic_testsupport.runs import PRELUDE, GuardedRun, write_bootstrap

#: Extra helpers for bodies: ``ran()`` (modules of the tree that ran), ``report(label,
#: value)`` (a value next to the attempts), ``mapped(path)`` (is a file mapped into the
#: process: a shared library that really loaded).
HELPERS = """
import os as _os
if _os.path.exists("ran.log"):
    _os.remove("ran.log")
def ran():
    try:
        with open("ran.log") as f:
            return f.read().split()
    except FileNotFoundError:
        return []
def report(label, value):
    _sys.stdout.write("@@" + _json.dumps([label, "value", value]) + "\\n")
    _sys.stdout.flush()
def mapped(path):
    import os as _os
    real = _os.path.realpath(path)
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(real) for line in f)
"""


def _marker(name: str) -> str:
    return f"with open('ran.log', 'a') as _f:\n    _f.write({name!r} + '\\n')\n"


#: The extension module copied out of the standard library (one no run imports at start).
EXTENSION = "_csv"
#: Another copied one, whose pure-Python fallback the standard library knows (decimal).
ACCELERATOR = "_decimal"


@dataclass
class Tree:
    """Paths of the tree ``tree`` builds."""

    root: Path
    ext: Path  # the directory holding the copied extension
    ext_file: Path  # the copied extension itself
    ext_with_source: Path


def extension_file(name: str) -> Path:
    """The file of the standard library's C extension ``name`` (without importing it)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin and spec.origin.endswith(".so"), spec
    return Path(spec.origin)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """Build the tree described in this module's docstring."""
    root = Path(os.path.realpath(tmp_path))
    files = {
        "denied_pkg/__init__.py": _marker("denied_pkg")
        + "VALUE = 'denied'\n__all__ = ['VALUE', 'sub', 'leaf']\n",
        "denied_pkg/rel.py": _marker("denied_pkg.rel") + "from . import sub\n",
        "denied_pkg/sub.py": _marker("denied_pkg.sub") + "VALUE = 'sub'\n",
        "denied_pkg/leaf.py": _marker("denied_pkg.leaf"),
        "denied_pkg/thing.py": _marker("denied_pkg.thing") + "class Thing:\n    pass\n",
        "denied_pkg_toolbelt/__init__.py": _marker("denied_pkg_toolbelt") + "VALUE = 'tb'\n",
        "allowed_pkg/__init__.py": _marker("allowed_pkg") + "VALUE = 'allowed'\n",
        "allowed_pkg/sub.py": _marker("allowed_pkg.sub") + "VALUE = 'allowed sub'\n",
        "allowed_pkg/rel.py": _marker("allowed_pkg.rel")
        + "from . import sub\nfrom .sub import VALUE\nfrom . import sub as again\n",
        "allowed_pkg/boom.py": "def boom():\n"
        "    raise ValueError('boom')  # the source line a traceback must show\n",
        "allowed_pkg/lazy.py": _marker("allowed_pkg.lazy")
        + "def later():\n    import denied_pkg\n    return denied_pkg.VALUE\n",
        "allowed_pkg/data.txt": "package data",
        "ext_with_source/" + EXTENSION + ".py": _marker(EXTENSION + ".py") + "SOURCE = True\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    original = extension_file(EXTENSION)
    (root / "ext").mkdir()
    shutil.copy(original, root / "ext" / original.name)
    shutil.copy(extension_file(ACCELERATOR), root / "ext")
    shutil.copy(original, root / "ext_with_source" / original.name)
    return Tree(root, root / "ext", root / "ext" / original.name, root / "ext_with_source")


def run_with(
    mode: str,
    policy: dict[str, Any],
    body: str,
    *,
    bare_python: str,
    cwd: Path,
    setup: str = "",
    python: str | None = None,
    env: dict[str, str] | None = None,
) -> GuardedRun:
    """Run ``body`` under ``policy`` in a fresh interpreter, with :data:`HELPERS`.

    In-process, ``setup`` runs before the blocker is entered (what a program did before the
    guard); in the bootstrap nothing can run before the guard, so ``setup`` runs under it.
    ``python`` replaces the bare interpreter of the bootstrap (this test environment's, to
    have hermetic or third-party packages importable there).
    """
    head = HELPERS + textwrap.dedent(setup) + "\n"
    body = textwrap.dedent(body)
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    full_env.update(env or {})
    if mode == "inprocess":
        code = (
            PRELUDE
            + head
            + "from hermetic import hermetic_blocker as _hb\n"
            + f"with _hb(**{policy!r}):\n"
            + textwrap.indent(body or "pass", "    ")
        )
        argv = [sys.executable, "-c", code]
    elif mode == "bootstrap":
        full_env["PYTHONPATH"] = write_bootstrap(BlockConfig(**policy), cwd / ".hermetic-cache")
        argv = [python or bare_python, "-c", PRELUDE + head + body]
    else:
        raise ValueError(f"unknown mode {mode!r}")
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=full_env, cwd=str(cwd), timeout=120
    )
    return GuardedRun.of(proc)


Run = Callable[..., GuardedRun]


@pytest.fixture
def run(bare_python: str, tree: Tree) -> Run:
    """``run(mode, policy, body, setup="")``: a guarded run in the tree (see ``run_with``)."""

    def go(mode: str, policy: dict[str, Any], body: str, **kwargs: Any) -> GuardedRun:
        return run_with(mode, policy, body, bare_python=bare_python, cwd=tree.root, **kwargs)

    return go


def value(run: GuardedRun, label: str) -> Any:
    """The value a body reported under ``label``."""
    if label not in run.outcomes:
        raise AssertionError(f"no report {label!r}; stdout={run.stdout!r} stderr={run.stderr!r}")
    return run.outcomes[label][2]


def statuses(run: GuardedRun) -> dict[str, str]:
    """``{label: "ok" | "blocked" | "error"}`` of every attempt (reports left out)."""
    return {k: v[1] for k, v in run.outcomes.items() if v[1] != "value"}
