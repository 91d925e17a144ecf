"""The fenced code blocks of the documentation, as the docs tests see them.

The convention every page follows:

* every ```` ```python ```` block runs; the blocks of one page in order, in one namespace,
  in a fresh interpreter where every guard is installed, with a temporary directory as cwd;
* a block whose previous non-blank line is ``<!-- docs-test: skip -->`` is not run;
* ```` ```console ```` blocks are not run, but the ``hermetic`` and ``pytest --hermetic-*``
  flags they show must exist.

A block that is one ``--8<-- "path"`` line (a pymdownx.snippets include, paths relative to
the repository root as in mkdocs.yml) stands for the file it includes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP = "<!-- docs-test: skip -->"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
_SNIPPET = re.compile(r'^\s*-{1,}8<-{1,}\s+"(?P<path>[^"]+)"\s*$')


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text, whether it is marked skip."""

    page: Path
    line: int  # the line of the block's first content line, 1-based
    lang: str
    source: str
    skip: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    def runnable(self) -> tuple[str, str, int]:
        """``(source, filename, first line)`` to compile: an include becomes its file."""
        match = _SNIPPET.match(self.source.strip()) if self.source.count("\n") <= 1 else None
        if match:
            path = REPO / match["path"]
            return path.read_text(encoding="utf-8"), str(path), 1
        return self.source, str(self.page), self.line


def pages() -> list[Path]:
    """Every page of the site, and the README."""
    return [*sorted((REPO / "docs").rglob("*.md")), REPO / "README.md"]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    previous = ""
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            j += 1
        found.append(
            Block(
                page=page,
                line=i + 2,
                lang=opening["info"].lower(),
                source="\n".join(body) + "\n",
                skip=previous == SKIP,
            )
        )
        previous = ""
        i = j + 1
    return found


__all__ = ["REPO", "SKIP", "Block", "blocks", "pages"]
