"""Every ```python block of the docs and the README runs (see ``markdown.py``).

One fresh interpreter per page, so the examples of a page can build on each other and
nothing leaks between pages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .markdown import REPO, blocks, pages

RUNNER = (Path(__file__).parent / "runner.py").read_text(encoding="utf-8")
RUN = {page: [b for b in blocks(page) if b.lang == "python" and not b.skip] for page in pages()}
PAGES = [page for page, runnable in RUN.items() if runnable]

pytestmark = pytest.mark.slow  # the fixture guard's wheel is built for the examples


def test_there_are_examples_to_run() -> None:
    assert len(PAGES) >= 5, PAGES


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_the_examples_of_a_page_run(
    page: Path, docs_environ: dict[str, str], tmp_path: Path
) -> None:
    spec = tmp_path / "blocks.json"
    spec.write_text(json.dumps([block.runnable() for block in RUN[page]]), encoding="utf-8")
    work = tmp_path / "cwd"
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(spec)],
        cwd=str(work),
        env=docs_environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{proc.stderr}\n--- stdout:\n{proc.stdout}"
