"""What a refusal says and is: the message, the target, the exception's kinds, trace."""

from __future__ import annotations

import ctypes
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation

from .conftest import EXTENSION, Run, Tree

DENY_HINT = (
    "denied_pkg is in deny_imports; to allow it, drop --deny-import denied_pkg "
    "or remove 'denied_pkg' from deny_imports"
)


def refusal(code: str, **policy: object) -> PolicyViolation:
    with hermetic_blocker(**policy), pytest.raises(PolicyViolation) as info:  # type: ignore[arg-type]
        exec(code, {})
    assert info.value.guard == "imports"
    return info.value


def test_a_denied_import(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tree.root))
    exc = refusal("import denied_pkg.sub", deny_imports=["denied_pkg"])
    assert str(exc) == f"import denied: import denied_pkg.sub ({DENY_HINT})"
    assert (exc.target, exc.what) == ("denied_pkg.sub", "import denied_pkg.sub")
    assert isinstance(exc, ModuleNotFoundError)
    assert (exc.name, exc.path) == ("denied_pkg.sub", None)
    assert "denied_pkg" not in sys.modules


def test_a_denied_file_run_under_another_name(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tree.root))
    path = str(tree.root / "denied_pkg" / "sub.py")
    code = (
        "import importlib.util as u\n"
        f"spec = u.spec_from_file_location('innocent', {path!r})\n"
        "spec.loader.exec_module(u.module_from_spec(spec))\n"
    )
    exc = refusal(code, deny_imports=["denied_pkg"])
    assert str(exc) == f"import denied: run the code of denied_pkg.sub from {path} ({DENY_HINT})"
    assert (exc.target, getattr(exc, "path", None)) == ("denied_pkg.sub", path)


def test_a_native_gateway() -> None:
    exc = refusal("import ctypes.util", block_native=True)
    assert str(exc) == (
        "native code blocked: import ctypes.util (ctypes loads and calls native libraries; "
        "to allow it, drop --block-native or block_native=True)"
    )
    assert isinstance(exc, ModuleNotFoundError)
    assert (exc.target, exc.name) == ("ctypes.util", "ctypes.util")


def test_an_extension_module(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tree.ext))
    monkeypatch.delitem(sys.modules, EXTENSION, raising=False)
    exc = refusal(f"import {EXTENSION}", block_native=True)
    assert str(exc) == (
        f"native code blocked: load the C extension {EXTENSION} ({tree.ext_file}) "
        "(block_native loads only the standard library's extensions and those already "
        "loaded; import it before the guard starts, or drop --block-native or "
        "block_native=True)"
    )
    assert isinstance(exc, ModuleNotFoundError)
    assert (exc.target, exc.name, exc.path) == (EXTENSION, EXTENSION, str(tree.ext_file))
    assert sys.modules.get(EXTENSION) is None


def test_a_shared_library() -> None:
    with hermetic_blocker(block_native=True), pytest.raises(OSError) as info:
        ctypes.CDLL("libc.so.6")
    exc = info.value
    assert isinstance(exc, PolicyViolation)
    assert str(exc) == (
        "native code blocked: load the shared library libc.so.6 with ctypes (no new shared "
        "library may load; to allow it, drop --block-native or block_native=True)"
    )
    assert exc.target == "libc.so.6"
    with hermetic_blocker(block_native=True), pytest.raises(OSError) as info:
        ctypes.CDLL(None)
    assert str(info.value).startswith(
        "native code blocked: open the program's own symbols with ctypes (dlopen(NULL))"
    )
    assert info.value.target == "<main program>"  # type: ignore[attr-defined]


def test_a_symbol() -> None:
    libc = ctypes.CDLL(None)
    with hermetic_blocker(block_native=True):
        assert not hasattr(libc, "getppid")  # a lookup refused as a missing symbol
        with pytest.raises(AttributeError) as info:
            libc.getppid  # noqa: B018
    exc = info.value
    assert isinstance(exc, PolicyViolation)
    assert str(exc) == (
        "native code blocked: look up the native function getppid with ctypes (no new "
        "native function may be reached; to allow it, drop --block-native or "
        "block_native=True)"
    )
    assert exc.target == "getppid"
    assert libc.getppid() > 0  # after the blocker


def test_trace_reports_each_refusal() -> None:
    code = (
        "from hermetic import hermetic_blocker\n"
        "with hermetic_blocker(deny_imports=['colorsys'], block_native=True, trace=True):\n"
        "    for name in ('colorsys', 'ctypes'):\n"
        "        try:\n"
        "            __import__(name)\n"
        "        except ImportError:\n"
        "            pass\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.splitlines() == [
        "hermetic: blocked imports: import colorsys",
        "hermetic: blocked imports: import ctypes",
    ]


def test_the_bootstrap_raises_hermetic_s_own_class_when_it_is_importable(
    run: Run, tree: Tree
) -> None:
    body = """
    import hermetic.errors
    try:
        import denied_pkg
    except hermetic.errors.PolicyViolation as exc:
        report('caught', [str(exc), exc.target, isinstance(exc, ModuleNotFoundError)])
    """
    for mode in ("inprocess", "bootstrap"):
        guarded = run(mode, {"deny_imports": ["denied_pkg"]}, body, python=sys.executable)
        assert guarded.outcomes["caught"][2] == [
            f"import denied: import denied_pkg ({DENY_HINT})",
            "denied_pkg",
            True,
        ], guarded.stderr


def test_an_uncaught_refusal_under_the_bootstrap_names_the_guard(tmp_path: Path) -> None:
    from hermetic.bootstrap import materialize
    from hermetic.policy import BlockConfig

    directory = materialize(
        BlockConfig(deny_imports=["colorsys"]), root=str(tmp_path), violation_exit_code=99
    )
    env = {"PYTHONPATH": directory, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", "import colorsys"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 99
    assert proc.stderr == "hermetic: blocked imports: import colorsys\n"
    assert importlib.import_module("colorsys")
