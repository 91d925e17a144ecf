"""The guard's declaration, its one option, its patch module and its messages."""

from __future__ import annotations

import os
import site
import sys
import threading

import pytest

import hermetic_imports
from hermetic import BlockConfig, PolicyViolation, hermetic_blocker
from hermetic.contract import OR
from hermetic.errors import PolicyError
from hermetic.registry import registry

from .conftest import POLICY

HINT = "or leave out --no-interpreter-mutation / block_interpreter_mutation=True"


def test_the_guard_is_registered_with_its_option() -> None:
    guard = registry().guards["interpreter"]
    assert guard is hermetic_imports.interpreter_guard
    assert guard.distribution == "hermetic-imports"
    assert guard.patch_module == "hermetic_imports._interpreter_patch"
    (option,) = guard.options
    assert (option.name, option.type, option.flags, option.aliases) == (
        "block_interpreter_mutation",
        bool,
        ("--no-interpreter-mutation",),
        ("no_interpreter_mutation",),
    )
    assert option.enables and option.merge == OR


def test_the_alias_and_bad_values() -> None:
    assert BlockConfig(no_interpreter_mutation=True).guard_options() == {
        "interpreter": {"block_interpreter_mutation": True}
    }
    with pytest.raises(PolicyError):
        BlockConfig(block_interpreter_mutation="yes")
    merged = BlockConfig(block_interpreter_mutation=True) | BlockConfig(block_network=True)
    assert merged.guard_options()["interpreter"] == {"block_interpreter_mutation": True}


#: The index of an entry that occurs once in this process's sys.path: dropping one of two
#: copies of an entry (xdist workers start with the rootdir twice) changes nothing, so passes.
UNIQUE = min(
    (i for i, entry in enumerate(sys.path) if sys.path.count(entry) == 1),
    key=lambda i: len(sys.path[i]),  # the shortest: messages shorten long paths
)


def refusal(change: object) -> PolicyViolation:
    with hermetic_blocker(**POLICY), pytest.raises(PolicyViolation) as info:
        change()  # type: ignore[operator]
    return info.value


def tracer(frame: object, event: str, arg: object) -> None:
    return None


@pytest.mark.parametrize(
    ("change", "target", "message"),
    [
        (
            lambda: sys.path.insert(0, "/opt/plugins"),
            "sys.path",
            "sys.path.insert(0, '/opt/plugins') (set import paths before the guard starts, "
            f"e.g. with PYTHONPATH; {HINT})",
        ),
        (
            lambda: sys.path.__setitem__(slice(0, 1), ["/x"]),
            "sys.path",
            "sys.path[0:1] = ['/x'] (",
        ),
        (lambda: sys.path.__delitem__(UNIQUE), "sys.path", f"del sys.path[{UNIQUE}] ("),
        (lambda: sys.meta_path.clear(), "sys.meta_path", "sys.meta_path.clear() (install import"),
        (lambda: sys.path_hooks.pop(), "sys.path_hooks", "sys.path_hooks.pop() (install path"),
        (
            lambda: os.chdir("/"),
            "/",
            f"os.chdir('/') (use absolute paths, or cwd= for a child process; {HINT})",
        ),
        (
            lambda: sys.settrace(tracer),
            "sys.settrace",
            "sys.settrace(tracer) (start tracers, profilers and debuggers before the guard; "
            + HINT
            + ")",
        ),
        (
            lambda: threading.setprofile(tracer),
            "threading.setprofile",
            "threading.setprofile(tracer)",
        ),
        (
            lambda: site.addsitedir("/opt/site"),
            "/opt/site",
            "site.addsitedir('/opt/site') (add site directories before the guard starts, "
            f"e.g. with PYTHONPATH; {HINT})",
        ),
    ],
)
def test_messages(change: object, target: str, message: str) -> None:
    violation = refusal(change)
    assert violation.guard == "interpreter"
    assert violation.target == target
    assert str(violation).startswith("interpreter state is frozen: " + message), str(violation)


def test_a_replacement_is_described_by_what_it_changes() -> None:
    def replace() -> None:
        sys.path = ["/opt/plugins", *(p for i, p in enumerate(sys.path) if i != UNIQUE)]
        sys.modules.pop("colorsys", None)
        import colorsys  # noqa: F401

    violation = refusal(replace)
    assert str(violation).startswith(
        "interpreter state is frozen: sys.path replaced by a list that adds '/opt/plugins' and "
        f"drops {sys.path[UNIQUE]!r} (the change was undone; "
    ), str(violation)
