"""Ordinary code under ``block_interpreter_mutation``: everything that only reads keeps working.

The import system reads ``sys.path``, ``sys.meta_path`` and ``sys.path_hooks`` and fills
its own caches (``sys.path_importer_cache``, a package's ``__path__``): none of that is the
program's mutation. Nor is a call that leaves a list, the working directory or the tracer
as it is. Every case must pass under the guard, in both delivery modes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

from .conftest import HELPERS, POLICY, dump, value

ORDINARY = r"""
import os, sys, importlib, pkgutil, copy, pickle, json, threading
attempt("fresh_import", lambda: __import__("colorsys"))
attempt("import_module", lambda: importlib.import_module("fractions"))
attempt("extension_import", lambda: __import__("_decimal"))
attempt("submodule_first_import", lambda: __import__("email.mime.text"))
attempt("package_and_submodule", lambda: __import__("regpkg.sub").sub.VALUE == 1 or 1/0)
attempt("namespace_package", lambda: importlib.import_module("nspkg.mod").VALUE == 2 or 1/0)
attempt("sibling_module", lambda: __import__("sibling").VALUE == 3 or 1/0)
def new_module_after_the_guard():
    with open("late_module.py", "w") as f:
        f.write("VALUE = 4\n")
    importlib.invalidate_caches()
    assert importlib.import_module("late_module").VALUE == 4
attempt("invalidate_caches_then_new_module", new_module_after_the_guard)
attempt("path_importer_cache_is_filled",
        lambda: any(k.endswith("regpkg") for k in sys.path_importer_cache) or 1/0)
attempt("iter_modules", lambda: "regpkg" in {m.name for m in pkgutil.iter_modules()} or 1/0)
attempt("walk_packages", lambda: list(pkgutil.walk_packages(["regpkg"], "regpkg.")))
def resources():
    import importlib.resources as r
    assert r.files("regpkg").joinpath("data.txt").read_text() == "package data"
attempt("importlib.resources", resources)
def metadata():
    import importlib.metadata
    list(importlib.metadata.distributions())
attempt("importlib.metadata", metadata)
def traceback_lines():
    import traceback, regpkg.sub
    try:
        regpkg.sub.boom()
    except ValueError:
        text = traceback.format_exc()
    assert "the line a traceback shows" in text, text
attempt("traceback_source_lines", traceback_lines)
def platform_calls():
    import platform
    platform.platform(); platform.uname(); platform.python_implementation(); platform.libc_ver()
attempt("platform", platform_calls)
def argparse_help():
    import argparse, io, contextlib
    p = argparse.ArgumentParser(prog="tool", description="a tool")
    p.add_argument("--level", type=int, help="how much")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            p.parse_args(["--help"])
        except SystemExit:
            pass
    assert "how much" in out.getvalue()
attempt("argparse_help", argparse_help)
attempt("decimal", lambda: str(__import__("decimal").Decimal("1.1") + 1) == "2.1" or 1/0)
def asyncio_run():
    import asyncio
    async def main():
        await asyncio.sleep(0)
        return await asyncio.to_thread(sum, [1, 2])
    assert asyncio.run(main()) == 3
attempt("asyncio.run", asyncio_run)
def logging_setup():
    import logging, logging.config, io
    stream = io.StringIO()
    logging.config.dictConfig({"version": 1, "handlers": {"s": {
        "class": "logging.StreamHandler", "stream": stream}}, "root": {"handlers": ["s"]}})
    logging.getLogger("x").warning("hello")
    assert "hello" in stream.getvalue()
attempt("logging", logging_setup)
def classes():
    import dataclasses, collections, enum, typing
    @dataclasses.dataclass(frozen=True, order=True)
    class P:
        x: int
    collections.namedtuple("N", "a b")(1, 2)
    class T(typing.NamedTuple):
        a: int
    enum.Enum("E", "A B")
    assert P(1) < P(2)
attempt("dataclass_namedtuple_enum", classes)
def mocking():
    from unittest import mock
    with mock.patch("json.dumps", return_value="patched"):
        assert json.dumps(1) == "patched"
    with mock.patch.object(os, "getcwd", return_value="/nowhere"):
        assert os.getcwd() == "/nowhere"
attempt("unittest.mock.patch", mocking)
def thread_pool():
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(abs, [-1, -2])) == [1, 2]
attempt("threads", thread_pool)
def docs():
    import doctest
    def f():
        '''
        >>> 1 + 1
        2
        '''
    doctest.run_docstring_examples(f, {})
attempt("doctest", docs)
attempt("inspect.getsource", lambda: __import__("inspect").getsource(__import__("json").dumps))
attempt("runpy.run_path_file", lambda: __import__("runpy").run_path("sibling.py"))
attempt("site.getsitepackages", lambda: __import__("site").getsitepackages())
# reading the frozen lists
attempt("copy", lambda: type(copy.copy(sys.path)) is list or 1/0)
attempt("deepcopy", lambda: copy.deepcopy(sys.meta_path))
attempt("pickle", lambda: pickle.loads(pickle.dumps(sys.path)) == sys.path or 1/0)
attempt("json", lambda: json.dumps(sys.path))
attempt("reads", lambda: (sys.path[:], list(sys.path), sys.path + [], "" in sys.path,
                          sys.path.index(sys.path[0]), sys.path.count(""), reversed(sys.path),
                          len(sys.meta_path), sys.path_hooks[0], repr(sys.path)))
# calls that change nothing pass
def no_change():
    sys.path[:] = list(sys.path)
    sys.path[0] = sys.path[0]
    sys.path += []
    sys.path.extend([])
    sys.meta_path[:] = sys.meta_path
    sys.path_hooks.extend(())
attempt("no_op_writes", no_change)
def duplicates():
    if sys.path[-1] in sys.path:  # the usual guard; and a later duplicate changes nothing
        sys.path.append(sys.path[-1])
        sys.path.pop()
    sys.meta_path.insert(0, sys.meta_path[0])
    sys.meta_path.remove(sys.meta_path[0])
attempt("duplicates", duplicates)
attempt("chdir_same_directory", lambda: (os.chdir(os.getcwd()), os.chdir(".")))
attempt("tracing_off", lambda: (sys.settrace(None), sys.setprofile(None),
                                threading.settrace(None), threading.setprofile(None)))
attempt("tracer_kept", lambda: sys.settrace(sys.gettrace()))
def children():
    import subprocess
    out = subprocess.run([sys.executable, "-c", "import sys, sibling; print(sibling.VALUE)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "3", out
attempt("subprocess_python", children)
def spawned():
    import multiprocessing
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]
attempt("multiprocessing_spawn", spawned)
report("lists_after", [type(getattr(sys, a)).__name__ for a in ("path", "meta_path", "path_hooks")])
"""

NAMES = [line.split('"')[1] for line in ORDINARY.splitlines() if line.startswith("attempt(")]


def project(root: Path) -> None:
    """Modules the body imports from its working directory (``sys.path[0]`` for ``-c``)."""
    (root / "regpkg").mkdir()
    (root / "regpkg" / "__init__.py").write_text("")
    (root / "regpkg" / "sub.py").write_text(
        "VALUE = 1\ndef boom():\n    raise ValueError('x')  # the line a traceback shows\n"
    )
    (root / "regpkg" / "data.txt").write_text("package data")
    (root / "nspkg").mkdir()
    (root / "nspkg" / "mod.py").write_text("VALUE = 2\n")
    (root / "sibling.py").write_text("VALUE = 3\n")


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_ordinary_code_keeps_working(
    guarded: Callable[..., GuardedRun], tmp_path: Path, probe: Path, mode: str
) -> None:
    project(tmp_path)
    body = HELPERS.format(probe=str(probe)) + ORDINARY
    run = guarded(mode, POLICY, body, env={"PYTHONDONTWRITEBYTECODE": "1"})
    failed = {n: run.outcomes.get(n) for n in NAMES if run.status(n) != "ok"}
    assert not failed, dump(run)
    assert value(run, "lists_after") == ["GuardedList"] * 3
    assert "hermetic: blocked" not in run.stderr, run.stderr
