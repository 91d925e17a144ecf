"""Child Pythons of a program run by the ``hermetic`` command inherit its guards.

The command puts its bootstrap directory on ``PYTHONPATH``, in both of its modes (the
target in hermetic's own process, or a foreign interpreter with the bootstrap), so every
child Python the target starts is guarded too: that is what ``hermetic_blocker`` alone does
not do. A child started so that the bootstrap is skipped (``python -I``, or an environment
without ``PYTHONPATH``) is not guarded: the subprocess guard is what refuses such children.
Each child reports its own ``attempt`` lines on the output it inherits.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from security.support import Ports, hermetic_command, outcomes_of

from hermetic_testsupport.runs import PRELUDE

CHILD = """
import socket
attempt(NAME + ":net", lambda: socket.create_connection(ADDRESSES[NAME + ":net"], 5).close())
attempt(NAME + ":fs", lambda: open(OUT + "/" + NAME + ".txt", "w").close())
"""

PARENT = """
import os, subprocess, sys
def child(name, *flags, env=None):
    code = PRELUDE + HEAD + "NAME = %r\\n" % name + CHILD
    subprocess.run([sys.executable, *flags, "-c", code], env=env, check=False)
child("inherited")
child("isolated", "-I")
child("cleaned", env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
"""

CHILDREN = ("inherited", "isolated", "cleaned")


def run_parent(bare_python: str, tmp_path: Path, how: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Run the parent program ``how`` ("plain", "inprocess", "bootstrap"); return outcomes."""
    out = tmp_path / how / "out"
    out.mkdir(parents=True)
    target = tmp_path / how / "parent.py"
    with Ports(f"{name}:net" for name in CHILDREN) as ports:
        head = f"ADDRESSES = {ports.addresses!r}\nOUT = {str(out)!r}\n"
        target.write_text(f"PRELUDE = {PRELUDE!r}\nHEAD = {head!r}\nCHILD = {CHILD!r}\n" + PARENT)
        if how == "plain":
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            proc = subprocess.run(
                [bare_python, str(target)], capture_output=True, text=True, env=env, timeout=60
            )
        else:
            argv = [str(target)] if how == "inprocess" else [bare_python, str(target)]
            proc = hermetic_command(["--no-network", "--fs-readonly", "--", *argv], tmp_path)
        reached = ports.settle()
    found: dict[str, Any] = outcomes_of(proc.stdout)
    found["_output"] = proc.stdout + proc.stderr
    found["_written"] = sorted(os.listdir(out))
    return found, reached


@pytest.fixture(scope="module")
def children(
    bare_python: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    tmp = tmp_path_factory.mktemp("cli-children")
    return {how: run_parent(bare_python, tmp, how) for how in ("plain", "inprocess", "bootstrap")}


def status(found: dict[str, Any], label: str) -> tuple[str, Any]:
    record = found.get(label)
    assert record is not None, (label, found["_output"])
    return record[1], record[2] if record[1] == "blocked" else None


def check(children: dict[str, Any], name: str, aspect: str, *, guarded: bool) -> None:
    """``aspect`` "net" (a connection) or "fs" (a write) of child ``name``, both ways."""
    label = f"{name}:{aspect}"
    guard = {"net": "network", "fs": "filesystem"}[aspect]

    def arrived(found: dict[str, Any], reached: dict[str, int]) -> bool:
        if aspect == "net":
            return reached[label] == 1
        return f"{name}.txt" in found["_written"]

    plain, reached = children["plain"]
    assert status(plain, label) == ("ok", None), plain["_output"]
    assert arrived(plain, reached)
    for how in ("inprocess", "bootstrap"):
        found, reached = children[how]
        expected = ("blocked", guard) if guarded else ("ok", None)
        assert status(found, label) == expected, (how, found["_output"])
        assert arrived(found, reached) is not guarded, how


@pytest.mark.bypass(
    "network",
    "a child Python started under the hermetic command",
    verdict="blocked",
    layer="patch+audit",
)
def test_network_in_a_child_python_under_the_command(children: dict[str, Any]) -> None:
    check(children, "inherited", "net", guarded=True)


@pytest.mark.bypass(
    "filesystem",
    "a child Python started under the hermetic command",
    verdict="blocked",
    layer="patch+audit",
)
def test_writes_in_a_child_python_under_the_command(children: dict[str, Any]) -> None:
    check(children, "inherited", "fs", guarded=True)


@pytest.mark.bypass(
    "network",
    "a child Python that skips the bootstrap (python -I, PYTHONPATH removed)",
    verdict="residual",
    layer="none",
)
def test_known_gap_network_in_a_child_that_skips_the_bootstrap(children: dict[str, Any]) -> None:
    check(children, "isolated", "net", guarded=False)
    check(children, "cleaned", "net", guarded=False)


@pytest.mark.bypass(
    "filesystem",
    "a child Python that skips the bootstrap (python -I, PYTHONPATH removed)",
    verdict="residual",
    layer="none",
)
def test_known_gap_writes_in_a_child_that_skips_the_bootstrap(children: dict[str, Any]) -> None:
    check(children, "isolated", "fs", guarded=False)
    check(children, "cleaned", "fs", guarded=False)
