"""``block_native``: no new native code loads, and what loads it is refused, in both modes.

"Not loaded" is checked for real: the module is not in ``sys.modules`` and the shared
library is not mapped into the process (``/proc/self/maps``); without the guard the same
code loads it and it is mapped.
"""

from __future__ import annotations

import sys

import pytest

from .conftest import ACCELERATOR, EXTENSION, Run, Tree, statuses, value

MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
NATIVE = {"block_native": True}


@MODES
def test_ctypes_and_its_relatives_are_refused(run: Run, mode: str) -> None:
    body = """
    import sys
    report('preloaded', sorted(m for m in ('ctypes', '_ctypes') if m in sys.modules))
    attempt('import ctypes', lambda: exec('import ctypes', {}))
    attempt('import _ctypes', lambda: exec('import _ctypes', {}))
    attempt('ctypes.util', lambda: exec('import ctypes.util', {}))
    attempt('from ctypes import CDLL', lambda: exec('from ctypes import CDLL', {}))
    attempt('import_module', lambda: __import__('importlib').import_module('ctypes.wintypes'))
    report('loaded', sorted(m for m in sys.modules if 'ctypes' in m))
    """
    plain = run(mode, {}, body)
    assert statuses(plain) == {
        "import ctypes": "ok",
        "import _ctypes": "ok",
        "ctypes.util": "ok",
        "from ctypes import CDLL": "ok",
        # ctypes.wintypes needs Windows types: imported, then refused by ctypes itself
        "import_module": plain.status("import_module"),
    }
    guarded = run(mode, NATIVE, body)
    assert value(guarded, "preloaded") == []
    for label in statuses(plain):
        assert (guarded.status(label), guarded.guard(label)) == ("blocked", "imports"), label
    assert value(guarded, "loaded") == []


@MODES
def test_extension_modules_from_outside_the_standard_library_are_refused(
    run: Run, tree: Tree, mode: str
) -> None:
    body = f"""
    import sys, importlib.util, importlib.machinery
    report('preloaded', {EXTENSION!r} in sys.modules)
    SO = {str(tree.ext_file)!r}
    sys.path.insert(0, 'ext')
    attempt('import', lambda: __import__({EXTENSION!r}))
    report('after import', [{EXTENSION!r} in sys.modules, mapped(SO)])
    sys.modules.pop({EXTENSION!r}, None)
    def by_hand():
        loader = importlib.machinery.ExtensionFileLoader({EXTENSION!r}, SO)
        spec = importlib.util.spec_from_file_location({EXTENSION!r}, SO, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module
    attempt('ExtensionFileLoader by hand', by_hand)
    def spec_only():
        spec = importlib.util.spec_from_file_location({EXTENSION!r}, SO)
        importlib.util.module_from_spec(spec)
    attempt('spec_from_file_location', spec_only)
    report('mapped', mapped(SO))
    """
    plain = run(mode, {}, body)
    assert set(statuses(plain).values()) == {"ok"}, plain.stderr
    assert value(plain, "after import") == [True, True]
    guarded = run(mode, NATIVE, body)
    assert value(guarded, "preloaded") is False
    for label in statuses(plain):
        assert (guarded.status(label), guarded.guard(label)) == ("blocked", "imports"), label
    assert value(guarded, "after import") == [False, False]
    assert value(guarded, "mapped") is False  # the library never loaded
    assert guarded.outcomes["import"][3] == EXTENSION  # the target is the module


@MODES
def test_a_refused_accelerator_falls_back_to_pure_python(run: Run, mode: str) -> None:
    # decimal tries _decimal and falls back to _pydecimal on ImportError: a _decimal from
    # outside the standard library is refused, and decimal keeps working without it.
    body = f"""
    import sys
    report('preloaded', [m for m in ('decimal', {ACCELERATOR!r}) if m in sys.modules])
    sys.path.insert(0, 'ext')
    import decimal
    report('result', str(decimal.Decimal(1) / decimal.Decimal(8)))
    report('accelerated', {ACCELERATOR!r} in sys.modules)
    """
    plain = run(mode, {}, body)
    assert (value(plain, "result"), value(plain, "accelerated")) == ("0.125", True)
    guarded = run(mode, NATIVE, body)
    assert value(guarded, "preloaded") == []
    assert (value(guarded, "result"), value(guarded, "accelerated")) == ("0.125", False)


@MODES
def test_a_compiled_module_with_its_source_next_to_it_loads_from_the_source(
    run: Run, mode: str
) -> None:
    body = f"""
    import sys
    sys.path.insert(0, 'ext_with_source')
    import {EXTENSION} as module
    report('file', module.__file__.rpartition('.')[2])
    report('source', getattr(module, 'SOURCE', False))
    """
    plain = run(mode, {}, body)
    assert (value(plain, "file"), value(plain, "source")) == ("so", False)
    guarded = run(mode, NATIVE, body)
    assert (value(guarded, "file"), value(guarded, "source")) == ("py", True), guarded.stderr


@MODES
def test_the_standard_library_s_own_extensions_load(run: Run, mode: str) -> None:
    names = ["_decimal", "math", "select", "_socket", "_sqlite3", "_json", "_heapq", "array"]
    names += ["unicodedata", "zlib", "_struct", "binascii", "_contextvars", "_opcode"]
    body = f"""
    import importlib, sys
    report('fresh', [n for n in {names!r} if n not in sys.modules])
    for name in {names!r}:
        attempt(name, lambda: importlib.import_module(name))
    attempt('reload', lambda: importlib.reload(importlib.import_module('_heapq')))
    """
    guarded = run(mode, NATIVE, body)
    assert set(statuses(guarded).values()) == {"ok"}, guarded.stdout + guarded.stderr
    assert "_sqlite3" in value(guarded, "fresh")


def test_extensions_loaded_before_the_guard_keep_working(run: Run) -> None:
    setup = f"""
    import sys, importlib
    sys.path.insert(0, 'ext')
    import {EXTENSION}
    """
    body = f"""
    attempt('import again', lambda: __import__({EXTENSION!r}))
    attempt('use', lambda: list({EXTENSION}.reader(['a,b'])))
    attempt('reload', lambda: importlib.reload({EXTENSION}))
    del sys.modules[{EXTENSION!r}]
    attempt('import after del sys.modules', lambda: __import__({EXTENSION!r}))
    report('file', sys.modules[{EXTENSION!r}].__file__.startswith(
        __import__('os').path.realpath('ext')))
    """
    guarded = run("inprocess", NATIVE, body, setup=setup)
    assert set(statuses(guarded).values()) == {"ok"}, guarded.stderr
    assert value(guarded, "file") is True


def test_cffi_is_refused(run: Run) -> None:
    # cffi is a test dependency: importable in this environment, so both modes run here
    body = """
    import sys
    report('preloaded', [m for m in ('cffi', '_cffi_backend') if m in sys.modules])
    attempt('cffi', lambda: __import__('cffi'))
    attempt('backend', lambda: __import__('_cffi_backend'))
    report('loaded', [m for m in ('cffi', '_cffi_backend') if m in sys.modules])
    """
    for mode in ("inprocess", "bootstrap"):
        plain = run(mode, {}, body, python=sys.executable)
        assert set(statuses(plain).values()) == {"ok"}, plain.stderr
        guarded = run(mode, NATIVE, body, python=sys.executable)
        assert value(guarded, "preloaded") == []
        assert statuses(guarded) == {"cffi": "blocked", "backend": "blocked"}
        assert value(guarded, "loaded") == []


def test_requests_imports_under_block_native(run: Run) -> None:
    """requests needs charset_normalizer, whose mypyc-compiled modules ship their source."""
    body = """
    import sys
    attempt('requests', lambda: __import__('requests'))
    report('md', getattr(sys.modules.get('charset_normalizer.md'), '__file__', ''))
    """
    for mode in ("inprocess", "bootstrap"):
        guarded = run(mode, NATIVE, body, python=sys.executable)
        assert guarded.status("requests") == "ok", guarded.stderr
        assert value(guarded, "md").endswith("md.py")
