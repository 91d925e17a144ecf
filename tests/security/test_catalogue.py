"""The catalogue of known bypasses and the table in docs/security.md agree, and obey the rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from security import catalogue
from security.catalogue import Case, CatalogueError, Marked, check, current, render

from hermetic.registry import FIRST_PARTY

SCRIPT = str(catalogue.HERE / "catalogue.py")


def command(*args: str, plugins: bool = True) -> subprocess.CompletedProcess[str]:
    """``catalogue.py *args`` (it collects with pytest, so never inside this pytest run)."""
    env = dict(os.environ)
    if not plugins:  # made-up cases need no plugin, and pytest starts faster without them
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, cwd=catalogue.REPO, env=env
    )


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    proc = command("--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the rules' problems, listed
    return [Case(**row) for row in json.loads(proc.stdout)]


def test_the_catalogue_obeys_its_rules(cases: list[Case]) -> None:
    assert cases
    for guard in ("runtime", "network", "filesystem"):
        mine = [c for c in cases if c.guard == guard]
        assert {c.verdict for c in mine} == {"blocked", "residual"}, guard


def test_docs_security_md_holds_the_catalogue_table(cases: list[Case]) -> None:
    doc = catalogue.DOC.read_text(encoding="utf-8")
    assert current(doc) == render(cases), (
        "docs/security.md is out of date: run python tests/security/catalogue.py --write"
    )


def test_the_guards_are_the_first_party_guards_and_the_runtime() -> None:
    assert ("runtime", *(row[1] for row in FIRST_PARTY)) == catalogue.GUARDS


# -- what collection reads, on a directory of made-up cases --------------------------------

MADE_UP = """
import pytest

GUARD = "network"
MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])

@MODES
@pytest.mark.bypass(GUARD, "through a constant", verdict="blocked", layer="audit")
def test_constant(mode): ...

TABLE = {"two": ("residual", "none"), "three": ("blocked", "patch")}

def param(label):
    verdict, layer = TABLE[label]
    return pytest.param(label, marks=pytest.mark.bypass("network", label, verdict=verdict,
                                                        layer=layer))

@pytest.mark.parametrize("label", [param(label) for label in TABLE])
def test_from_a_table(label): ...

@pytest.mark.bypass("filesystem", "on a class", verdict="blocked", layer="patch+audit")
class TestGroup:
    def test_method(self): ...
"""


def test_collection_reads_constants_params_and_classes(tmp_path: Path) -> None:
    (tmp_path / "test_made_up.py").write_text(MADE_UP)
    (tmp_path / "test_catalogue.py").write_text("def test_not_a_case(): ...\n")
    proc = command("--json", str(tmp_path), plugins=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = [
        (c["guard"], c["technique"], c["verdict"], c["layer"], c["test"])
        for c in json.loads(proc.stdout)
    ]
    assert found == [
        ("network", "through a constant", "blocked", "audit", "test_constant"),
        ("network", "two", "residual", "none", "test_from_a_table"),
        ("network", "three", "blocked", "patch", "test_from_a_table"),
        ("filesystem", "on a class", "blocked", "patch+audit", "TestGroup::test_method"),
    ]


def test_collection_reports_a_module_that_does_not_import(tmp_path: Path) -> None:
    (tmp_path / "test_broken.py").write_text("import no_such_module_anywhere\n")
    proc = command("--json", str(tmp_path), plugins=False)
    assert proc.returncode == 1
    assert "test_broken.py: could not be collected" in proc.stdout


# -- the rules, on made-up collection results -------------------------------------------------


def marked(*marks: tuple[tuple[Any, ...], dict[str, Any]], test: str = "test_x") -> Marked:
    return Marked("test_x.py", test, 3, marks)


def mark(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


GOOD = {"verdict": "blocked", "layer": "audit"}
BAD: dict[str, Marked] = {
    "no marker": marked(),
    "two markers": marked(mark("network", "t", **GOOD), mark("network", "u", **GOOD)),
    "unknown guard": marked(mark("nets", "t", **GOOD)),
    "empty technique": marked(mark("network", "  ", **GOOD)),
    "bad verdict": marked(mark("network", "t", verdict="stopped", layer="audit")),
    "bad layer": marked(mark("network", "t", verdict="blocked", layer="kernel")),
    "residual with a layer": marked(mark("network", "t", verdict="residual", layer="audit")),
    "blocked by no layer": marked(mark("network", "t", verdict="blocked", layer="none")),
    "positional verdict": marked(mark("network", "t", "blocked", "audit")),
    "not a string": marked(mark("network", 7, **GOOD)),
}


@pytest.mark.parametrize("mistake", list(BAD))
def test_each_mistake_is_reported(mistake: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        check([BAD[mistake]])
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith("test_x.py:3 (test_x): ")


def test_a_technique_of_one_guard_belongs_to_one_test() -> None:
    same = mark("network", "Same  thing", **GOOD)
    items = [
        marked(same, test="test_a"),
        marked(same, test="test_a"),  # a parametrized variant of the same test: fine
        marked(mark("filesystem", "same thing", **GOOD), test="test_b"),  # another guard
        marked(mark("network", "same thing", **GOOD), test="test_c"),
    ]
    with pytest.raises(CatalogueError) as caught:
        check(items)
    assert caught.value.problems == [
        "test_x.py:3: technique 'same thing' of guard 'network' is already the case "
        "test_x.py::test_a"
    ]
    assert len(check(items[:3])) == 2


def test_the_table_counts_per_guard() -> None:
    cases = [
        Case("network", "a | b", "blocked", "audit", "test_n.py", "test_a", 1),
        Case("network", "c_d <e>", "residual", "none", "test_n.py", "test_c", 2),
        Case("runtime", "d", "blocked", "patch+audit", "test_r.py", "test_d", 1),
    ]
    table = render(cases)
    assert "| network | 2 | 1 | 1 |" in table
    assert "| runtime | 1 | 1 | 0 |" in table
    assert "| **all** | **3** | **2** | **1** |" in table
    assert "| network | a \\| b | blocked | audit | `test_n.py::test_a` |" in table
    assert "| network | c\\_d &lt;e> | **residual** | none | `test_n.py::test_c` |" in table


def test_rewriting_keeps_everything_around_the_table() -> None:
    doc = textwrap.dedent(
        f"""\
        # head
        {catalogue.START}
        old
        {catalogue.END}
        tail
        """
    )
    new = catalogue.rewritten(doc, "new table")
    assert new == doc.replace("old", "new table")
    assert current(new) == "new table"
    with pytest.raises(CatalogueError):
        current("no markers here")
