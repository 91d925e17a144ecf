"""The site's structure: every page is reachable, the API page covers every package."""

from __future__ import annotations

import importlib
import re

import hermetic

from .markdown import REPO

#: The import package of every distribution with code (DESIGN.md section 1).
PACKAGES = (
    "hermetic",
    "hermetic_net",
    "hermetic_fs",
    "hermetic_proc",
    "hermetic_imports",
    "hermetic_cli",
)


def _directives() -> set[str]:
    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    return set(re.findall(r"(?m)^::: ([\w.]+)\s*$", text))


def test_every_page_is_in_the_navigation() -> None:
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"(?m)^\s*-\s*(?:[^:\n]+:\s*)?([\w/.-]+\.md)\s*$", config))
    pages = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    assert pages - listed == set(), "pages missing from mkdocs.yml's nav"
    assert listed - pages == set(), "nav entries without a page"


def test_the_api_page_covers_every_package() -> None:
    directives = _directives()
    for package in PACKAGES[1:]:
        assert package in directives, f"docs/api.md has no '::: {package}'"
        importlib.import_module(package)  # and it exists
    assert {d.split(".")[0] for d in directives} <= set(PACKAGES)


def test_the_api_page_covers_every_public_name_of_hermetic() -> None:
    directives = _directives()
    missing = []
    for name in hermetic.__all__:
        module = getattr(hermetic, name).__module__
        if module not in directives and f"{module}.{name}" not in directives:
            missing.append(f"{module}.{name}")
    assert missing == []
