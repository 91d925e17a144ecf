"""Ordinary code under ``fs_readonly``: reads anywhere, imports, tracebacks, allowed writes.

The bytecode tests clear ``PYTHONDONTWRITEBYTECODE`` (set on this machine): importing a
module that has no cached bytecode must work under a read-only policy, leave no
``__pycache__`` behind, and still cache bytecode where writes are allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

from .conftest import Layout, snapshot

MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])

ORDINARY = """
import os, sys, subprocess, tempfile, pathlib, sqlite3, mmap, shutil, zipfile, logging
attempt("read_anywhere", lambda: open(SECRET).read() == "secret" or 1/0)
attempt("listdir_anywhere", lambda: os.listdir(os.path.dirname(SECRET)))
attempt("walk_anywhere", lambda: list(os.walk(os.path.dirname(SECRET))))
attempt("fresh_import", lambda: __import__("colorsys"))
def traceback_lines():
    import traceback, rootmod
    try:
        rootmod.boom()
    except ValueError:
        text = traceback.format_exc()
    assert "the source line a traceback must show" in text, text
attempt("traceback_source_lines", traceback_lines)
attempt("print", lambda: print("printed"))
attempt("dev_null", lambda: open(os.devnull, "w").write("x"))
attempt("dev_stdout", lambda: open("/dev/stdout", "w").write(""))
attempt("wrap_an_open_descriptor", lambda: open(os.dup(1), "w").close())
attempt("subprocess_devnull", lambda: subprocess.run(
    [sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL, check=True))
attempt("makedirs_existing", lambda: os.makedirs(os.path.dirname(SECRET), exist_ok=True))
attempt("path_mkdir_existing", lambda: pathlib.Path(ALLOWED).parent.mkdir(exist_ok=True))
def temporary_directory():
    with tempfile.TemporaryDirectory(dir=ALLOWED) as d:
        pathlib.Path(d, "a", "b").mkdir(parents=True)
        pathlib.Path(d, "a", "b", "f").write_text("x")
        os.symlink(SECRET, os.path.join(d, "ln"))
    assert not os.path.exists(d)
attempt("temporary_directory_in_allowed", temporary_directory)
attempt("copy_into_allowed", lambda: shutil.copyfile(SECRET, ALLOWED + "/copy"))
attempt("remove_symlink_in_allowed", lambda: os.remove(ALLOWED + "/to_target"))
attempt("sqlite_memory", lambda: sqlite3.connect(":memory:").execute("create table t (x)"))
attempt("sqlite_read_only_uri", lambda: sqlite3.connect(
    "file:" + os.path.dirname(SECRET) + "/db.sqlite?mode=ro", uri=True).execute("select 1"))
def mmap_read():
    with open(SECRET, "rb") as f:
        assert mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)[:6] == b"secret"
attempt("mmap_read", mmap_read)
attempt("zipfile_read_missing", lambda: zipfile.is_zipfile(SECRET) and 1/0)
attempt("stat", lambda: os.stat(SECRET))
attempt("logging", lambda: logging.getLogger("x").warning("logged"))
"""


@MODES
def test_ordinary_code_keeps_working_under_fs_readonly(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    code = f"SECRET = {str(layout.outside / 'secret.txt')!r}; ALLOWED = {str(layout.allowed)!r}\n"
    run = guarded(
        mode,
        {"fs_readonly": True, "allow_write": [str(layout.allowed)]},
        code + ORDINARY,
        cwd=layout.root,
    )
    failed = {k: v for k, v in run.outcomes.items() if v[1] != "ok"}
    assert not failed, run.stderr
    assert "printed" in run.stdout
    assert (layout.allowed / "copy").read_text() == "secret"
    assert not (layout.allowed / "to_target").exists()
    assert layout.target.is_dir()  # removing the link left what it pointed to alone


def make_modules(where: Path) -> None:
    where.mkdir(exist_ok=True)
    (where / "fresh_top.py").write_text("VALUE = 1\n")
    (where / "fresh_pkg").mkdir()
    (where / "fresh_pkg" / "__init__.py").write_text("")
    (where / "fresh_pkg" / "sub.py").write_text("VALUE = 2\n")
    (where / "fresh_cwd.py").write_text("VALUE = 3\n")


IMPORTS = """
import sys
assert not sys.dont_write_bytecode
sys.path.insert(0, MODULES)
attempt("top", lambda: __import__("fresh_top").VALUE == 1 or 1/0)
attempt("package_submodule", lambda: __import__("fresh_pkg.sub").sub.VALUE == 2 or 1/0)
attempt("from_the_working_directory", lambda: __import__("fresh_cwd").VALUE == 3 or 1/0)
"""


def caches(where: Path) -> list[str]:
    return sorted(str(p.relative_to(where)) for p in where.rglob("__pycache__"))


def import_fresh(
    guarded: Callable[..., GuardedRun], mode: str, policy: dict[str, object], where: Path
) -> GuardedRun:
    run = guarded(
        mode,
        policy,
        f"MODULES = {str(where)!r}\n" + IMPORTS,
        cwd=where,
        env={"PYTHONDONTWRITEBYTECODE": ""},
    )
    assert {k: v[1] for k, v in run.outcomes.items()} == dict.fromkeys(
        ("top", "package_submodule", "from_the_working_directory"), "ok"
    ), run.stderr
    return run


@MODES
def test_a_module_without_bytecode_imports_and_leaves_no_pycache(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    make_modules(layout.target)
    import_fresh(guarded, mode, {"fs_readonly": True}, layout.target)
    assert caches(layout.target) == []


@MODES
def test_no_pycache_under_a_root_either(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    make_modules(layout.root)
    import_fresh(guarded, mode, {"fs_root": str(layout.root)}, layout.root)
    assert caches(layout.root) == []


@MODES
def test_bytecode_is_still_cached_inside_allow_write(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    make_modules(layout.allowed)
    policy = {"fs_readonly": True, "allow_write": [str(layout.allowed)]}
    import_fresh(guarded, mode, policy, layout.allowed)
    assert caches(layout.allowed) == ["__pycache__", "fresh_pkg/__pycache__"]


def test_without_the_guard_the_same_imports_write_bytecode(
    guarded: Callable[..., GuardedRun], layout: Layout
) -> None:
    make_modules(layout.target)
    import_fresh(guarded, "inprocess", {}, layout.target)
    assert caches(layout.target) == ["__pycache__", "fresh_pkg/__pycache__"]


@MODES
def test_a_refused_bytecode_write_outside_the_import_system_is_still_refused(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    """py_compile writes a .pyc on purpose: that is a write like any other."""
    make_modules(layout.target)
    before = snapshot(layout.target)
    run = guarded(
        mode,
        {"fs_readonly": True},
        f"import py_compile\nattempt('py_compile', lambda: py_compile.compile("
        f"{str(layout.target / 'fresh_top.py')!r}, doraise=True))\n",
        cwd=layout.target,
        env={"PYTHONDONTWRITEBYTECODE": ""},
    )
    assert run.status("py_compile") == "blocked"
    assert snapshot(layout.target) == before
