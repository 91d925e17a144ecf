"""Fixtures for the filesystem guard's tests: a small tree to read, write and escape from.

``layout`` builds, under the test's ``tmp_path``::

    work/root/            the fs_root of read tests (also the working directory of runs)
        data.txt          "inside"
        sub/
        rootmod.py        a module whose function raises (tracebacks with source lines)
        pkgdata/          a package with a data file (importlib.resources)
        to_outside        -> ../outside          (a directory symlink leaving the root)
        secret_link       -> ../outside/secret.txt
    work/outside/         nothing under a root may read here
        secret.txt        "secret"
        db.sqlite         an SQLite database
    work/allowed/         the allow_write directory
        to_target         -> ../target            (a symlink leaving the allowed directory)
    work/target/          writes here must be refused

and :func:`snapshot` records everything under a directory, so a test can prove that a
refused operation changed nothing on the disk (and that, unguarded, it did).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOTMOD = """\
def boom():
    raise ValueError("boom from rootmod")  # the source line a traceback must show
"""


@dataclass
class Layout:
    """The paths of the tree ``layout`` builds (all real, absolute)."""

    work: Path
    root: Path
    outside: Path
    allowed: Path
    target: Path


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    """Build the tree described in this module's docstring."""
    work = Path(os.path.realpath(tmp_path)) / "work"
    root, outside, allowed, target = (work / n for n in ("root", "outside", "allowed", "target"))
    for d in (root / "sub", root / "pkgdata", outside, allowed, target):
        d.mkdir(parents=True)
    (root / "data.txt").write_text("inside")
    (root / "rootmod.py").write_text(ROOTMOD)
    (root / "pkgdata" / "__init__.py").write_text("")
    (root / "pkgdata" / "data.txt").write_text("package data")
    (root / "to_outside").symlink_to("../outside")
    (root / "secret_link").symlink_to("../outside/secret.txt")
    (outside / "secret.txt").write_text("secret")
    with sqlite3.connect(str(outside / "db.sqlite")) as db:
        db.execute("create table t (x)")
    db.close()
    (allowed / "to_target").symlink_to("../target")
    return Layout(work, root, outside, allowed, target)


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
        return {n: os.getxattr(path, n, follow_symlinks=False) for n in names}
    except OSError:
        return {}


def snapshot(top: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``top``: mode, size, mtime, xattrs and content or link target."""
    found: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.path.islink(path):
                extra: object = os.readlink(path)
            elif os.path.isfile(path):
                extra = Path(path).read_bytes()
            else:
                extra = None
            key = os.path.relpath(path, top)
            found[key] = (st.st_mode, st.st_size, st.st_mtime_ns, _xattrs(path), extra)
    return found
