"""The catalogue of known bypasses and the table in docs/security.md agree, and obey the rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from security import catalogue
from security.catalogue import Case, CatalogueError, collect, current, read_source, render

from hermetic.registry import FIRST_PARTY


def test_the_catalogue_obeys_its_rules() -> None:
    cases = collect()  # raises CatalogueError listing every problem
    assert cases
    for guard in ("runtime", "network", "filesystem"):
        mine = [c for c in cases if c.guard == guard]
        assert {c.verdict for c in mine} == {"blocked", "residual"}, guard


def test_docs_security_md_holds_the_catalogue_table() -> None:
    doc = catalogue.DOC.read_text(encoding="utf-8")
    assert current(doc) == render(collect()), (
        "docs/security.md is out of date: run python tests/security/catalogue.py --write"
    )


def test_the_guards_are_the_first_party_guards_and_the_runtime() -> None:
    assert ("runtime", *(row[1] for row in FIRST_PARTY)) == catalogue.GUARDS


def test_the_command_checks_and_prints() -> None:
    script = str(catalogue.HERE / "catalogue.py")
    check = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    shown = subprocess.run([sys.executable, script], capture_output=True, text=True)
    assert shown.stdout.strip() == render(collect())


GOOD = """
import pytest

@pytest.mark.bypass("network", "one", verdict="blocked", layer="audit")
def test_one(): ...

@pytest.mark.parametrize("x", [
    pytest.param(1, marks=pytest.mark.bypass("network", "two", verdict="residual", layer="none")),
    pytest.param(2, marks=pytest.mark.bypass("network", "three", verdict="blocked", layer="patch")),
])
def test_params(x): ...

class TestGroup:
    @pytest.mark.bypass("filesystem", "one", verdict="blocked", layer="patch+audit")
    def test_method(self): ...

def helper(): ...
"""


def test_markers_are_read_from_decorators_params_and_classes() -> None:
    problems: list[str] = []
    cases = read_source(GOOD, "test_x.py", problems)
    assert problems == []
    assert [(c.guard, c.technique, c.verdict, c.layer, c.test) for c in cases] == [
        ("network", "one", "blocked", "audit", "test_one"),
        ("network", "two", "residual", "none", "test_params"),
        ("network", "three", "blocked", "patch", "test_params"),
        ("filesystem", "one", "blocked", "patch+audit", "TestGroup::test_method"),
    ]


BAD = {
    "no marker": "def test_x(): ...",
    "unknown guard": '@pytest.mark.bypass("nets", "t", verdict="blocked", layer="audit")\n'
    "def test_x(): ...",
    "bad verdict": '@pytest.mark.bypass("network", "t", verdict="stopped", layer="audit")\n'
    "def test_x(): ...",
    "bad layer": '@pytest.mark.bypass("network", "t", verdict="blocked", layer="kernel")\n'
    "def test_x(): ...",
    "residual with a layer": (
        '@pytest.mark.bypass("network", "t", verdict="residual", layer="audit")\ndef test_x(): ...'
    ),
    "blocked by no layer": (
        '@pytest.mark.bypass("network", "t", verdict="blocked", layer="none")\ndef test_x(): ...'
    ),
    "not literal": 'T = "t"\n@pytest.mark.bypass("network", T, verdict="blocked", layer="audit")\n'
    "def test_x(): ...",
    "positional verdict": '@pytest.mark.bypass("network", "t", "blocked", "audit")\n'
    "def test_x(): ...",
    "two markers": (
        '@pytest.mark.bypass("network", "t", verdict="blocked", layer="audit")\n'
        '@pytest.mark.bypass("network", "u", verdict="blocked", layer="audit")\n'
        "def test_x(): ..."
    ),
    "module-wide": (
        'pytestmark = pytest.mark.bypass("network", "t", verdict="blocked", layer="audit")\n'
        '@pytest.mark.bypass("network", "u", verdict="blocked", layer="audit")\n'
        "def test_x(): ..."
    ),
}


@pytest.mark.parametrize("mistake", list(BAD))
def test_each_mistake_is_reported(mistake: str) -> None:
    problems: list[str] = []
    read_source("import pytest\n" + BAD[mistake], "test_x.py", problems)
    assert len(problems) == 1, problems
    assert problems[0].startswith("test_x.py:")


def test_a_technique_twice_for_one_guard_is_reported(tmp_path: Path) -> None:
    where = tmp_path
    marker = '@pytest.mark.bypass("network", "{}", verdict="blocked", layer="audit")\n'
    (where / "test_a.py").write_text(
        f"import pytest\n{marker.format('Same  thing')}def test_a(): ...\n"
    )
    (where / "test_b.py").write_text(
        "import pytest\n"
        + marker.format("same thing")
        + "def test_b(): ...\n"
        + marker.replace("network", "filesystem").format("same thing")
        + "def test_c(): ...\n"
    )
    with pytest.raises(CatalogueError) as caught:
        collect(where)
    assert len(caught.value.problems) == 1
    assert "already the case test_a.py::test_a" in caught.value.problems[0]


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
