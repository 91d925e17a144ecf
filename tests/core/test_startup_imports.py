"""What importing hermetic pulls in: the start-up path must stay free of costly modules.

No timings here (those live in benchmarks/); these tests pin the structure that keeps
``import hermetic`` and a guard package's import cheap: typing alone costs ~10 ms here and
importlib.metadata 35-65 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COSTLY = {"typing", "importlib.metadata", "threading", "inspect", "dataclasses", "contextlib"}


def imported_by(statement: str) -> set[str]:
    code = (
        "import sys, json; before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize(
    "statement",
    [
        "import hermetic",
        "import hermetic.errors",
        "import hermetic.contract",
        "from hermetic.registry import registry; registry()",
    ],
)
def test_start_up_path_avoids_costly_modules(statement: str) -> None:
    assert imported_by(statement) & COSTLY == set()


def test_the_runtime_imports_only_what_it_needs() -> None:
    assert imported_by("import hermetic._runtime") <= {
        "hermetic",
        "hermetic._runtime",
        "hermetic.errors",
        "__future__",
    }
