"""What the docs show of the command line and the pytest plugin exists, as shown.

The flags in every ```console block (of ``hermetic`` and of ``pytest``), the ini keys in
```ini / ```toml blocks, and the command-line reference (docs/cli.md) are checked against
the real ``hermetic --help`` and ``pytest --help`` of an environment with every guard.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator

import pytest

from hermetic.contract import patch_module_problems

from .conftest import Run
from .markdown import REPO, Block, blocks, pages

pytestmark = pytest.mark.slow  # the fixture guard's wheel is built for the environment

_OPERATORS = {"--", "&&", "||", "|", ";", "&"}


@pytest.fixture(scope="module")
def cli_help(run_in_docs_env: Run) -> str:
    proc = run_in_docs_env(sys.executable, "-m", "hermetic_cli", "--help")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def cli_flags(cli_help: str) -> set[str]:
    """Every flag the real ``hermetic --help`` lists (only loaded guards list flags)."""
    flags: set[str] = set()
    for line in cli_help.splitlines():
        column = re.match(r"^  (-\S.*?)(?:\s{2,}|$)", line)
        if column:
            flags.update(re.split(r"[\[= ]", part)[0] for part in column[1].split(", "))
    return flags


@pytest.fixture(scope="module")
def pytest_help(run_in_docs_env: Run) -> tuple[set[str], set[str]]:
    """The ``--hermetic-*`` flags and ``hermetic_*`` ini keys of the real ``pytest --help``."""
    proc = run_in_docs_env(sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider")
    assert proc.returncode == 0, proc.stderr
    flags = set(re.findall(r"(?m)^  (--hermetic-[\w-]+)", proc.stdout))
    ini = set(re.findall(r"(?m)^  (hermetic_\w+) \(", proc.stdout))
    return flags, ini


def _blocks(*langs: str) -> Iterator[Block]:
    for page in pages():
        yield from (block for block in blocks(page) if block.lang in langs)


def _commands(block: Block) -> Iterator[list[str]]:
    """The command lines of a console block (``$`` lines if it has any), split as words."""
    lines = block.source.replace("\\\n", " ").splitlines()
    prompted = [line[2:] for line in lines if line.startswith("$ ")]
    for line in prompted or lines:
        try:
            yield shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote in prose-like output
            yield line.split()


def _flags_of(words: list[str], program: str) -> Iterator[str]:
    """The flags given to each ``program`` in ``words`` (up to ``--`` or a shell operator)."""
    for i, word in enumerate(words):
        if word != program and not word.endswith("/" + program):
            continue
        for arg in words[i + 1 :]:
            if arg in _OPERATORS or arg[:1] in "<>":
                break
            arg = arg.strip("[]")
            if arg.startswith("-"):
                yield arg.split("=", 1)[0]


def test_console_blocks_show_only_real_flags(
    cli_flags: set[str], pytest_help: tuple[set[str], set[str]]
) -> None:
    pytest_flags, _ini = pytest_help
    wrong = []
    for block in _blocks("console", "bash", "sh", "shell"):
        for words in _commands(block):
            wrong += [(block.where, f) for f in _flags_of(words, "hermetic") if f not in cli_flags]
            for flag in _flags_of(words, "pytest"):
                if flag.startswith("--hermetic") and flag not in pytest_flags:
                    wrong.append((block.where, flag))
    assert wrong == []


def test_config_blocks_show_only_real_ini_keys(pytest_help: tuple[set[str], set[str]]) -> None:
    _flags, ini = pytest_help
    wrong = [
        (block.where, key)
        for block in _blocks("ini", "toml", "cfg")
        for key in re.findall(r"(?m)^\s*(hermetic_\w+)\s*=", block.source)
        if key not in ini
    ]
    assert wrong == []


def test_the_cli_reference_documents_every_real_flag_and_no_other(cli_flags: set[str]) -> None:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text))
    assert cli_flags - documented == set(), "flags of hermetic --help missing from docs/cli.md"
    tables = "\n".join(line for line in text.splitlines() if line.startswith("|"))
    in_tables = set(re.findall(r"`(--[a-z][\w-]*)", tables))
    assert in_tables - cli_flags == set(), "flags in docs/cli.md's tables that do not exist"


def test_the_cli_reference_synopsis_is_the_real_usage(cli_help: str) -> None:
    usage = cli_help.split("\n\n", 1)[0].replace("usage: ", "       ", 1).splitlines()
    (synopsis, *_rest) = [b for b in blocks(REPO / "docs" / "cli.md") if b.lang == "console"]
    assert synopsis.source.splitlines() == [line.strip() for line in usage]


def test_the_third_party_guard_page_shows_what_really_happens(run_in_docs_env: Run) -> None:
    page = REPO / "docs" / "third-party-guards.md"
    (transcript,) = [b for b in blocks(page) if b.lang == "console"]
    lines = transcript.source.splitlines()
    listed = run_in_docs_env(sys.executable, "-m", "hermetic_cli", "--list-guards")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("webbrowser ")]
    assert row.split() == lines[lines.index("$ hermetic --list-guards") + 1].split()
    (command,) = [line for line in lines if line.startswith("$ hermetic --no-webbrowser")]
    words = shlex.split(command[2:])
    proc = run_in_docs_env(sys.executable, "-m", "hermetic_cli", *words[1:])
    assert proc.returncode == 97, proc.stderr
    assert proc.stderr == lines[lines.index(command) + 1] + "\n"
    # the page tells authors to check their patch module with this: the demo's passes
    patch = REPO / "tests/fixtures/thirdparty-guard/src/hermetic_demo_guard/_patch.py"
    problems = patch_module_problems(patch.read_text(), own_package="hermetic_demo_guard")
    assert problems == []
