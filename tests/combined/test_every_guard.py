"""Every first-party guard at once (the ``block-all`` profile) over ordinary code.

Each guard's own tests show what it keeps working alone; together they must not trip over
each other: one guard's patch module must load while another guard is installed, and the
standard library's everyday machinery must pass all seven at once, in both delivery modes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hermetic.profiles import PROFILES
from hermetic_testsupport.runs import GuardedRun

EVERY_GUARD: dict[str, Any] = PROFILES["block-all"].values

ORDINARY = """
import argparse, asyncio, collections, dataclasses, decimal, enum, json, logging, platform
import sqlite3, statistics, traceback, typing

@dataclasses.dataclass(frozen=True, order=True)
class Point:
    x: int
    y: int = 2

class Pair(typing.NamedTuple):
    a: int
    b: str

async def answer():
    await asyncio.sleep(0)
    return 42

def formatted_traceback():
    import tb_probe  # a module with a source file (a -c body has none to show)

    text = tb_probe.formatted()
    assert "1 / 0" in text, text  # the source line is there

attempt("dataclass", lambda: Point(1) < Point(2) or 1 / 0)
attempt("namedtuple", lambda: collections.namedtuple("T", "a b")(1, 2))
attempt("typing.NamedTuple", lambda: Pair(1, "x"))
attempt("enum", lambda: enum.Enum("Color", "RED GREEN").RED)
attempt("decimal", lambda: decimal.Decimal("1.1") + 2 == decimal.Decimal("3.1") or 1 / 0)
attempt("platform", lambda: (platform.platform(), platform.architecture()))
attempt("asyncio", lambda: asyncio.run(answer()) == 42 or 1 / 0)
attempt("argparse", lambda: argparse.ArgumentParser(prog="x").format_help())
attempt("traceback", formatted_traceback)
attempt("logging", lambda: logging.getLogger("x").warning("logged"))
attempt("json", lambda: json.loads(json.dumps({"a": [1, 2]})))
attempt("statistics", lambda: statistics.mean([1, 2, 3]))
attempt("sqlite in memory", lambda: sqlite3.connect(":memory:").execute("select 1").fetchone())
attempt("fresh import", lambda: __import__("colorsys").rgb_to_hsv(0.1, 0.2, 0.3))
attempt("eval", lambda: eval("6 * 7"))
attempt("subprocess", lambda: __import__("subprocess").run(["true"]))
"""

WORKS = [
    "dataclass",
    "namedtuple",
    "typing.NamedTuple",
    "enum",
    "decimal",
    "platform",
    "asyncio",
    "argparse",
    "traceback",
    "logging",
    "json",
    "statistics",
    "sqlite in memory",
    "fresh import",
]


TB_PROBE = """
import traceback

def formatted():
    try:
        1 / 0
    except ZeroDivisionError:
        return traceback.format_exc()
"""


def test_every_guard_at_once_keeps_ordinary_code_working(
    guarded: Callable[..., GuardedRun], mode: str, tmp_path: Path
) -> None:
    (tmp_path / "tb_probe.py").write_text(TB_PROBE)  # the runs' working directory
    run = guarded(mode, EVERY_GUARD, ORDINARY)
    assert {label: run.status(label) for label in WORKS} == dict.fromkeys(WORKS, "ok"), (
        run.stdout + run.stderr
    )
    # ...and what they are for is still refused, by the guard it belongs to.
    assert (run.status("eval"), run.guard("eval")) == ("blocked", "code_exec")
    assert (run.status("subprocess"), run.guard("subprocess")) == ("blocked", "subprocess")


def test_the_profile_in_a_fresh_process_installs_every_guard(
    guarded: Callable[..., GuardedRun],
) -> None:
    # No patch module is imported before the blocker: each one loads while none of the
    # others is installed yet (a guard installed first must not refuse the next one's load).
    body = (
        "from hermetic.guards import installed\n"
        "attempt('all', lambda: len(installed()) == 7 or 1 / 0)\n"
    )
    run = guarded("inprocess", {"profile": "block-all"}, body)
    assert run.status("all") == "ok", run.stdout + run.stderr


def test_a_guard_added_by_an_inner_blocker_loads_under_the_outer_ones(
    guarded: Callable[..., GuardedRun],
) -> None:
    # The inner guard's patch module is imported while code_exec and imports are installed.
    body = """
from hermetic import hermetic_blocker
from hermetic.guards import installed
def inner():
    with hermetic_blocker(block_interpreter_mutation=True, block_environment=True):
        assert len(installed()) == 4, installed()
attempt("inner", inner)
"""
    policy = {"block_code_exec": True, "deny_imports": ["nothere"]}
    run = guarded("inprocess", policy, body)
    assert run.status("inner") == "ok", run.stdout + run.stderr
