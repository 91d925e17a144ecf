"""The known-bypass catalogue: every ``@pytest.mark.bypass(...)`` case in tests/security.

Each case is one technique against one guard (or against hermetic's own ``runtime``: the
seal, the audit hook), proven both ways by its test. This module collects the cases the way
pytest sees them (``pytest --collect-only`` with a small plugin, so markers written through
a constant, on a class or on ``pytest.param`` count as well), checks them, and renders the
table that ``docs/security.md`` holds between ``<!-- catalogue:start -->`` and
``<!-- catalogue:end -->``; ``tests/security/test_catalogue.py`` fails when the two
disagree. Regenerate the table after adding or changing a case, with the interpreter of the
test environment (it needs pytest and the guards)::

    hatch run hatch-test.py3.11:python tests/security/catalogue.py --write
    hatch run hatch-test.py3.11:python tests/security/catalogue.py --check
    hatch run hatch-test.py3.11:python tests/security/catalogue.py           # print it

Rules: every collected test in ``tests/security/test_*.py`` carries exactly one bypass
marker; its guard and technique are strings and ``verdict`` and ``layer`` keywords; the
guard is a first-party guard or ``runtime``; ``verdict`` is ``blocked`` or ``residual``;
``layer`` is ``patch``, ``audit``, ``patch+audit`` or ``none``, and ``none`` exactly for
residuals; a technique of a guard belongs to one test function only (its parametrized
variants may share it).
"""

from __future__ import annotations

import io
import json
import re
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOC = REPO / "docs" / "security.md"
START = "<!-- catalogue:start -->"
END = "<!-- catalogue:end -->"

#: The order of the table. ``runtime`` is hermetic's own machinery (seal, audit hook); the
#: rest are the first-party guards (``hermetic.registry.FIRST_PARTY``, checked by a test).
GUARDS = (
    "runtime",
    "network",
    "filesystem",
    "subprocess",
    "environment",
    "imports",
    "code_exec",
    "interpreter",
)
VERDICTS = ("blocked", "residual")
LAYERS = ("patch", "audit", "patch+audit", "none")
#: Files that hold no cases (the catalogue's own tests).
NOT_CASES = frozenset({"test_catalogue.py"})


@dataclass(frozen=True)
class Case:
    """One ``@pytest.mark.bypass(guard, technique, verdict=..., layer=...)``."""

    guard: str
    technique: str
    verdict: str
    layer: str
    file: str
    test: str
    line: int

    @property
    def where(self) -> str:
        """``file::test``, as pytest names the test function."""
        return f"{self.file}::{self.test}"


@dataclass(frozen=True)
class Marked:
    """What collection found on one test item: its function and its bypass markers."""

    file: str
    test: str
    line: int
    marks: tuple[tuple[tuple[Any, ...], dict[str, Any]], ...]


class CatalogueError(Exception):
    """The markers break a rule; ``problems`` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _case(item: Marked, problems: list[str]) -> Case | None:
    where = f"{item.file}:{item.line} ({item.test})"
    if not item.marks:
        problems.append(
            f"{where}: no @pytest.mark.bypass(...) marker (every test in tests/security is a "
            "catalogue case)"
        )
        return None
    if len(item.marks) > 1:
        problems.append(f"{where}: more than one bypass marker")
        return None
    args, kwargs = item.marks[0]
    if (
        len(args) != 2
        or not all(isinstance(a, str) for a in args)
        or set(kwargs) != {"verdict", "layer"}
    ):
        problems.append(
            f"{where}: write the marker as bypass('<guard>', '<technique>', "
            "verdict='...', layer='...')"
        )
        return None
    guard, technique = args[0], " ".join(args[1].split())
    verdict, layer = kwargs["verdict"], kwargs["layer"]
    before = len(problems)
    if guard not in GUARDS:
        problems.append(f"{where}: unknown guard {guard!r} (one of {', '.join(GUARDS)})")
    if not technique:
        problems.append(f"{where}: the technique is empty")
    if verdict not in VERDICTS:
        problems.append(f"{where}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    if layer not in LAYERS:
        problems.append(f"{where}: layer {layer!r} is not one of {', '.join(LAYERS)}")
    elif verdict in VERDICTS and (layer == "none") != (verdict == "residual"):
        problems.append(
            f"{where}: layer 'none' belongs to residual cases and to no other "
            f"(verdict {verdict!r}, layer {layer!r})"
        )
    if len(problems) > before:
        return None
    return Case(guard, technique, verdict, layer, item.file, item.test, item.line)


def check(items: list[Marked]) -> list[Case]:
    """The cases of the collected ``items``, in table order; raise :class:`CatalogueError`."""
    problems: list[str] = []
    cases: list[Case] = []
    first: dict[tuple[str, str], Case] = {}
    for item in items:
        case = _case(item, problems)
        if case is None:
            continue
        key = (case.guard, case.technique.casefold())
        other = first.get(key)
        if other is None:
            first[key] = case
            cases.append(case)
        elif other.where != case.where:
            problems.append(
                f"{case.file}:{case.line}: technique {case.technique!r} of guard "
                f"{case.guard!r} is already the case {other.where}"
            )
    if problems:
        raise CatalogueError(list(dict.fromkeys(problems)))
    order = {case: i for i, case in enumerate(cases)}
    return sorted(cases, key=lambda c: (GUARDS.index(c.guard), c.file, c.line, order[c]))


class _Collector:
    """A pytest plugin that records each collected item's function and bypass markers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.items: list[Marked] = []
        self.errors: list[str] = []

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid}: could not be collected:\n{report.longreprtext}")

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            path = Path(str(item.path))
            if path.parent != self.directory or path.name in NOT_CASES:
                continue
            function = getattr(item, "function", None)
            code = getattr(function, "__code__", None)
            line = code.co_firstlineno if code is not None else item.reportinfo()[1] or 0
            test = item.nodeid.split("::", 1)[1].split("[", 1)[0]
            marks = tuple((tuple(m.args), dict(m.kwargs)) for m in item.iter_markers("bypass"))
            self.items.append(Marked(path.name, test, int(line), marks))


def collect(directory: Path = HERE) -> list[Case]:
    """Collect ``directory`` with pytest and check its cases; raise :class:`CatalogueError`."""
    import pytest

    collector = _Collector(directory.resolve())
    output = io.StringIO()
    with redirect_stdout(output), redirect_stderr(output):
        code = pytest.main(
            [str(directory), "--collect-only", "-q", "-p", "no:cacheprovider"],
            plugins=[collector],
        )
    if collector.errors or code not in (0, 5):  # 5: nothing collected
        raise CatalogueError(collector.errors or [f"pytest failed:\n{output.getvalue()}"])
    return check(collector.items)


def _cell(text: str) -> str:
    """``text`` as Markdown shows it literally in a table cell (``__exit__``, ``a|b``)."""
    for char in "\\`*_|[":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;")


def render(cases: list[Case]) -> str:
    """The generated part of docs/security.md: counts per guard, then every case."""
    lines = [
        "<!-- generated by tests/security/catalogue.py --write; do not edit by hand -->",
        "",
        "| Guard | Techniques | Blocked | Residual |",
        "|---|--:|--:|--:|",
    ]
    for guard in GUARDS:
        mine = [c for c in cases if c.guard == guard]
        if mine:
            blocked = sum(c.verdict == "blocked" for c in mine)
            lines.append(f"| {guard} | {len(mine)} | {blocked} | {len(mine) - blocked} |")
    blocked = sum(c.verdict == "blocked" for c in cases)
    lines.append(f"| **all** | **{len(cases)}** | **{blocked}** | **{len(cases) - blocked}** |")
    lines += [
        "",
        "| Guard | Technique | Verdict | Layer | Test |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        verdict = "**residual**" if case.verdict == "residual" else case.verdict
        lines.append(
            f"| {case.guard} | {_cell(case.technique)} | {verdict} | {case.layer} | "
            f"`{case.where}` |"
        )
    return "\n".join(lines)


_REGION = re.compile(re.escape(START) + r"\n(.*?)\n?" + re.escape(END), re.DOTALL)


def current(doc: str) -> str:
    """The table the document holds now (between the markers)."""
    found = _REGION.search(doc)
    if found is None:
        raise CatalogueError([f"{DOC.name} has no {START} ... {END} region"])
    return found.group(1).strip("\n")


def rewritten(doc: str, table: str) -> str:
    """``doc`` with ``table`` between the markers."""
    current(doc)  # raises if the markers are missing
    return _REGION.sub(lambda _m: f"{START}\n{table}\n{END}", doc, count=1)


def main(argv: list[str]) -> int:
    """``--write``, ``--check``, ``--json [DIR]`` or (no argument) print the table."""
    if not (argv in ([], ["--write"], ["--check"]) or (argv[:1] == ["--json"] and len(argv) <= 2)):
        print("usage: catalogue.py [--write | --check | --json [DIRECTORY]]")
        return 2
    try:
        if argv[:1] == ["--json"]:
            found = collect(Path(argv[1]) if len(argv) > 1 else HERE)
            print(json.dumps([asdict(c) for c in found]))
            return 0
        cases = collect()
        table = render(cases)
        if not argv:
            print(table)
            return 0
        doc = DOC.read_text(encoding="utf-8")
        if argv == ["--check"]:
            if current(doc) == table:
                return 0
            print(f"{DOC} is out of date: run python tests/security/{Path(__file__).name} --write")
            return 1
        DOC.write_text(rewritten(doc, table), encoding="utf-8")
        print(f"wrote the catalogue table ({len(cases)} cases) to {DOC}")
        return 0
    except CatalogueError as exc:
        print("the bypass catalogue breaks its rules:\n  " + "\n  ".join(exc.problems))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
