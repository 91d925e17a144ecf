"""Ordinary code under the imports guard, in both modes: false positives are bugs.

The body imports fresh modules (from the tree and the standard library, several of them
C extensions), uses relative imports, package data, tracebacks, dataclasses, decimal,
platform, argparse help and asyncio, and checks that the sibling of a denied name stays
importable. Every attempt must succeed under each policy.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Run, statuses

ORDINARY = """
import importlib, importlib.util, os, sys
attempt("fresh import", lambda: __import__("allowed_pkg"))
attempt("from package import submodule", lambda: exec("from allowed_pkg import sub", {}))
attempt("relative imports", lambda: importlib.import_module("allowed_pkg.rel"))
attempt("import_module relative", lambda: importlib.import_module(".sub", "allowed_pkg"))
attempt("sibling of a denied name", lambda: __import__("denied_pkg_toolbelt"))
attempt("import os.path", lambda: __import__("os.path"))
attempt("find_spec", lambda: importlib.util.find_spec("allowed_pkg") or 1 / 0)
attempt("reload", lambda: importlib.reload(sys.modules["allowed_pkg"]))
def resources():
    import importlib.resources
    text = importlib.resources.files("allowed_pkg").joinpath("data.txt").read_text()
    assert text == "package data", text
attempt("importlib.resources", resources)
def source_lines():
    import traceback, inspect, allowed_pkg.boom
    try:
        allowed_pkg.boom.boom()
    except ValueError:
        text = traceback.format_exc()
    assert "the source line a traceback must show" in text, text
    assert "def boom" in inspect.getsource(allowed_pkg.boom)
attempt("tracebacks with source lines", source_lines)
def classes():
    import dataclasses, collections, enum, typing
    @dataclasses.dataclass(frozen=True, order=True)
    class Point:
        x: int
        y: int = 0
    assert Point(1) < Point(2)
    assert collections.namedtuple("P", "a b")(1, 2).b == 2
    class Colour(enum.Enum):
        RED = 1
    class Named(typing.NamedTuple):
        a: int
    assert Named(1).a == 1
attempt("dataclasses, namedtuple, enum", classes)
def arithmetic():
    import decimal, fractions, statistics
    assert str(decimal.Decimal("1.1") + decimal.Decimal("2.2")) == "3.3"
    assert fractions.Fraction(1, 3) * 3 == 1
    assert statistics.mean([1, 2, 3]) == 2
attempt("decimal", arithmetic)
def platform_info():
    import platform
    assert platform.system() and platform.python_version() and platform.platform()
attempt("platform", platform_info)
def argparse_help():
    import argparse, contextlib, io
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--flag", help="a flag")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            parser.parse_args(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
    assert "a flag" in out.getvalue()
attempt("argparse help", argparse_help)
def event_loop():
    import asyncio
    async def main():
        await asyncio.sleep(0)
        reader, writer = await asyncio.open_connection(sock=__import__("socket").socketpair()[0])
        writer.close()
        return 42
    assert asyncio.run(main()) == 42
attempt("asyncio.run", event_loop)
def stdlib():
    import json, re, pickle, hashlib, uuid, random, datetime, tempfile, subprocess
    import sqlite3, zipfile, csv, logging, unittest, shutil, socket, ssl, zlib, bz2, lzma
    assert json.loads(json.dumps({"a": [1]})) == {"a": [1]}
    assert pickle.loads(pickle.dumps(datetime.date(2020, 1, 1))).year == 2020
    assert hashlib.sha256(b"x").hexdigest() and uuid.uuid4() and random.random() < 1
    assert sqlite3.connect(":memory:").execute("select 1").fetchone() == (1,)
    assert list(csv.reader(["a,b"])) == [["a", "b"]]
    logging.getLogger("ordinary").debug("fine")
attempt("standard library", stdlib)
def a_thread():
    import threading
    found = []
    thread = threading.Thread(target=lambda: found.append(__import__("allowed_pkg.sub")))
    thread.start(); thread.join()
    assert found
attempt("threads", a_thread)
def run_path():
    import runpy
    assert runpy.run_path("allowed_pkg/sub.py")["VALUE"] == "allowed sub"
attempt("runpy.run_path", run_path)
attempt("exec and eval", lambda: exec("x = eval('1 + 1')", {}))
attempt("pkgutil", lambda: [m.name for m in __import__("pkgutil").iter_modules(["."])])
"""

POLICIES: dict[str, dict[str, Any]] = {
    "deny_imports": {"deny_imports": ["denied_pkg", "xml.dom", "ctypes"]},
    "block_native": {"block_native": True},
    "both": {"deny_imports": ["denied_pkg", "xml.dom"], "block_native": True},
}


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_ordinary_code_keeps_working(run: Run, mode: str, policy: str) -> None:
    guarded = run(mode, POLICIES[policy], ORDINARY)
    failed = {k: v for k, v in guarded.outcomes.items() if v[1] != "ok"}
    assert not failed, guarded.stderr
    assert len(statuses(guarded)) == ORDINARY.count("attempt(")


def test_modules_imported_before_the_guard_keep_working(run: Run) -> None:
    setup = "import json, allowed_pkg.sub, denied_pkg\n"
    body = """
    attempt('json', lambda: json.dumps([1]))
    attempt('an allowed module', lambda: allowed_pkg.sub.VALUE)
    attempt('a denied module object', lambda: denied_pkg.VALUE)
    attempt('importing the denied one again', lambda: exec('import denied_pkg', {}))
    """
    guarded = run("inprocess", {"deny_imports": ["denied_pkg"]}, body, setup=setup)
    assert statuses(guarded) == {
        "json": "ok",
        "an allowed module": "ok",
        "a denied module object": "ok",  # a reference held before the guard: documented
        "importing the denied one again": "blocked",
    }
