"""What importing hermetic pulls in: the start-up path must stay free of costly modules.

No timings here (those live in benchmarks/); these tests pin the structure that keeps
``import hermetic`` and a guard package's import cheap: typing alone costs ~10 ms here and
importlib.metadata 35-65 ms.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hermetic_testsupport.runs import modules_imported_by

COSTLY = {"typing", "importlib.metadata", "threading", "inspect", "dataclasses", "contextlib"}


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
    assert modules_imported_by(statement) & COSTLY == set()


def test_the_first_blocker_imports_neither_importlib_nor_warnings() -> None:
    # importlib.import_module would import both (about 0.5 ms) for every guarded program
    statement = (
        "from hermetic import hermetic_blocker\nwith hermetic_blocker(block_network=True): pass"
    )
    assert modules_imported_by(statement) & {"importlib", "warnings"} == set()


def test_the_runtime_imports_only_what_it_needs() -> None:
    assert modules_imported_by("import hermetic._runtime") <= {
        "hermetic",
        "hermetic._runtime",
        "hermetic.errors",
        "__future__",
    }


#: What a guard's bootstrap must not import for the program: each costs milliseconds of
#: every guarded start-up (socket with selectors and enum cost 6 ms), and a guard that
#: patches one of them does so when the program imports it.
BOOTSTRAP_COSTLY = {
    "socket",
    "selectors",
    "enum",
    "collections",
    "re",
    "typing",
    "threading",
    "subprocess",
    "signal",
    "functools",
    "contextlib",
    "dataclasses",
    "inspect",
    "importlib.metadata",
    "importlib.util",
}
EVERY_GUARD: dict[str, object] = {
    "block_network": True,
    "fs_readonly": True,
    "block_subprocess": True,
    "block_environment": True,
    "deny_imports": ["wave"],
    "block_interpreter_mutation": True,
}


@pytest.mark.parametrize(
    "policy",
    [*({name: value} for name, value in EVERY_GUARD.items()), EVERY_GUARD],
    ids=[*EVERY_GUARD, "every-guard"],
)
def test_the_bootstrap_imports_nothing_costly(
    policy: dict[str, object], bare_python: str, tmp_path: Path
) -> None:
    from hermetic.bootstrap import materialize
    from hermetic.policy import BlockConfig

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def modules(statement: str = "pass", **extra: str) -> set[str]:
        code = f"{statement}; import sys; print(sorted(sys.modules))"
        out = subprocess.run(
            [bare_python, "-c", code], env={**env, **extra}, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return set(ast.literal_eval(out.stdout))

    plain = modules()
    assert "socket" not in plain
    if sys.version_info < (3, 10) and "fs_readonly" in policy:
        # Known: on 3.9 the filesystem guard imports pathlib (with re, enum, functools and
        # collections), which must take the real os.open before the guard patches it.
        plain = modules("import pathlib")
    guarded = modules(PYTHONPATH=materialize(BlockConfig(**policy), root=str(tmp_path)))
    assert "sitecustomize" in guarded  # the bootstrap really ran
    assert (guarded - plain) & BOOTSTRAP_COSTLY == set()
