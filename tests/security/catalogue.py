"""The known-bypass catalogue: every ``@pytest.mark.bypass(...)`` case in tests/security.

Each case is one technique against one guard (or against hermetic's own ``runtime``: the
seal, the audit hook), proven both ways by its test. This module reads the markers
statically (``ast``) from ``tests/security/test_*.py``, checks them, and renders the table
that ``docs/security.md`` holds between ``<!-- catalogue:start -->`` and
``<!-- catalogue:end -->``; ``tests/security/test_catalogue.py`` fails when the two
disagree. Regenerate the table after adding or changing a case::

    python tests/security/catalogue.py --write   # rewrite the table in docs/security.md
    python tests/security/catalogue.py --check   # exit 1 if it is out of date
    python tests/security/catalogue.py           # print it

Rules checked: every test function in those files carries a marker (one directly, or one
per ``pytest.param``); the guard, technique, verdict and layer are literal strings; the
guard is a first-party guard or ``runtime``; ``verdict`` is ``blocked`` or ``residual``;
``layer`` is ``patch``, ``audit``, ``patch+audit`` or ``none``, and ``none`` exactly for
residuals; a technique appears once per guard.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "security.md"
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
        """``file::test``, as pytest names it."""
        return f"{self.file}::{self.test}"


class CatalogueError(Exception):
    """The markers break a rule; ``problems`` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _is_bypass(node: ast.AST) -> bool:
    """Whether ``node`` is a call of ``pytest.mark.bypass``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "bypass"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "mark"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "pytest"
    )


def _text(node: ast.AST | None) -> str | None:
    """A string literal's value (implicitly concatenated ones included), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _read(call: ast.Call, file: str, test: str, problems: list[str]) -> Case | None:
    where = f"{file}:{call.lineno} ({test})"
    keywords = {k.arg: k.value for k in call.keywords}
    args = [_text(a) for a in call.args]
    if len(call.args) != 2 or None in args or set(keywords) != {"verdict", "layer"}:
        problems.append(
            f"{where}: write the marker as bypass('<guard>', '<technique>', "
            "verdict='...', layer='...') with literal strings"
        )
        return None
    guard, technique = str(args[0]), " ".join(str(args[1]).split())
    verdict, layer = _text(keywords["verdict"]), _text(keywords["layer"])
    ok = True
    if guard not in GUARDS:
        problems.append(f"{where}: unknown guard {guard!r} (one of {', '.join(GUARDS)})")
        ok = False
    if not technique:
        problems.append(f"{where}: the technique is empty")
        ok = False
    if verdict not in VERDICTS:
        problems.append(f"{where}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        ok = False
    if layer not in LAYERS:
        problems.append(f"{where}: layer {layer!r} is not one of {', '.join(LAYERS)}")
        ok = False
    elif verdict in VERDICTS and (layer == "none") != (verdict == "residual"):
        problems.append(
            f"{where}: layer 'none' belongs to residual cases and to no other "
            f"(verdict {verdict!r}, layer {layer!r})"
        )
        ok = False
    if not ok:
        return None
    assert verdict is not None and layer is not None
    return Case(guard, technique, verdict, layer, file, test, call.lineno)


def _tests(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Module-level test functions and test methods of ``Test*`` classes, with their names."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("test"):
                found.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    item.name.startswith("test")
                ):
                    found.append((f"{node.name}::{item.name}", item))
    return found


def read_source(source: str, file: str, problems: list[str]) -> list[Case]:
    """The cases in one test file's ``source``; rule breaks are appended to ``problems``."""
    tree = ast.parse(source, filename=file)
    cases: list[Case] = []
    seen: set[int] = set()
    for name, func in _tests(tree):
        direct = [d for d in func.decorator_list if _is_bypass(d)]
        nested = [
            node
            for d in func.decorator_list
            if not _is_bypass(d)
            for node in ast.walk(d)
            if _is_bypass(node)
        ]
        calls = [c for c in (*direct, *nested) if isinstance(c, ast.Call)]
        seen.update(id(c) for c in calls)
        if not calls:
            problems.append(
                f"{file}:{func.lineno}: {name} has no @pytest.mark.bypass(...) marker "
                "(every test in tests/security is a catalogue case)"
            )
        elif len(direct) > 1:
            problems.append(f"{file}:{func.lineno}: {name} has more than one bypass marker")
        for call in calls:
            case = _read(call, file, name, problems)
            if case is not None:
                cases.append(case)
    for node in ast.walk(tree):
        if _is_bypass(node) and id(node) not in seen:
            problems.append(
                f"{file}:{getattr(node, 'lineno', '?')}: a bypass marker outside a test's "
                "decorators (module-wide pytestmark, a helper) is not read"
            )
    return cases


def files(directory: Path = HERE) -> list[Path]:
    """The test files that hold catalogue cases."""
    return sorted(p for p in directory.glob("test_*.py") if p.name not in NOT_CASES)


def collect(directory: Path = HERE) -> list[Case]:
    """Every case under ``directory``, in table order; raise :class:`CatalogueError`."""
    problems: list[str] = []
    cases: list[Case] = []
    for path in files(directory):
        cases.extend(read_source(path.read_text(encoding="utf-8"), path.name, problems))
    first: dict[tuple[str, str], Case] = {}
    for case in cases:
        key = (case.guard, case.technique.casefold())
        if key in first:
            problems.append(
                f"{case.file}:{case.line}: technique {case.technique!r} of guard "
                f"{case.guard!r} is already the case {first[key].where}"
            )
        else:
            first[key] = case
    if problems:
        raise CatalogueError(problems)
    return sorted(cases, key=lambda c: (GUARDS.index(c.guard), c.file, c.line))


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
    """``--write``, ``--check`` or (no argument) print the table."""
    try:
        table = render(collect())
        if not argv:
            print(table)
            return 0
        doc = DOC.read_text(encoding="utf-8")
        if argv == ["--check"]:
            if current(doc) == table:
                return 0
            print(f"{DOC} is out of date: run python {Path(__file__).name} --write")
            return 1
        if argv == ["--write"]:
            DOC.write_text(rewritten(doc, table), encoding="utf-8")
            print(f"wrote the catalogue table ({table.count(chr(10)) + 1} lines) to {DOC}")
            return 0
    except CatalogueError as exc:
        print("the bypass catalogue breaks its rules:\n  " + "\n  ".join(exc.problems))
        return 1
    print("usage: catalogue.py [--write | --check]")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
