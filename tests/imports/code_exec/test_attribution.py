"""How a call is attributed: the program, the interpreter's machinery, or a trusted module.

Each test runs the same body with and without the guard, in both delivery modes.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from .conftest import BLOCK, Guarded, body, check, hits, value

GEN_CORE = """
SCALE = 10

def evaluate(text):
    local = 5
    return eval(text)  # no namespaces: this function's globals and locals

def define(source):
    namespace = {}
    exec(source, namespace)
    return sorted(k for k in namespace if not k.startswith("__"))

def compiled(source):
    return type(compile(source, "<gen>", "exec")).__name__
"""

GEN_FUTURE = """
from __future__ import annotations

def annotations_of(source):
    namespace = {}
    exec(source, namespace)
    return namespace["f"].__annotations__

def compiled_annotations_of(source):
    namespace = {}
    exec(compile(source, "<gen>", "exec"), namespace)
    return namespace["f"].__annotations__

def evaluate_here(text):
    local = 3
    return eval(text)  # compiled with this module's flags, in this function's namespaces
"""

GENERATOR_CALLS = """
import gen_lib.core, gen_lib.future, gen_library
def outcome(label, fn):
    def run():
        report("=" + label, fn())
    attempt(label, run)
outcome("core.evaluate", lambda: gen_lib.core.evaluate("SCALE * local"))
outcome("core.define", lambda: gen_lib.core.define("a = 1\\nb = 2"))
outcome("core.compiled", lambda: gen_lib.core.compiled("x = 1"))
outcome("future.exec", lambda: gen_lib.future.annotations_of("def f(x: int) -> str: pass"))
outcome("future.compile", lambda: gen_lib.future.compiled_annotations_of("def f(y: bytes): pass"))
outcome("future.eval", lambda: gen_lib.future.evaluate_here("  local * 2"))
outcome("gen_library", lambda: gen_library.evaluate("1"))
"""


def write_generators(where: Path) -> None:
    package = where / "gen_lib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text(GEN_CORE)
    (package / "future.py").write_text(GEN_FUTURE)
    # A name that starts like the trusted one is another module, not a submodule.
    (where / "gen_library.py").write_text("def evaluate(text):\n    return eval(text)\n")


def test_a_trusted_module_runs_its_code_as_without_the_guard(
    guarded: Guarded, mode: str, tmp_path: Path
) -> None:
    write_generators(tmp_path)
    source = body(GENERATOR_CALLS)
    labels = ["core.evaluate", "core.define", "core.compiled"]
    labels += ["future.exec", "future.compile", "future.eval"]
    plain = check(guarded(mode, {}, source))
    expected: dict[str, Any] = {label: value(plain, "=" + label) for label in labels}
    assert expected == {
        "core.evaluate": 50,
        "core.define": ["a", "b"],
        "core.compiled": "code",
        # gen_lib.future has `from __future__ import annotations`: so has its generated code
        "future.exec": {"x": "int", "return": "str"},
        "future.compile": {"y": "bytes"},
        "future.eval": 6,
    }

    refused = check(guarded(mode, BLOCK, source))
    assert {label: refused.status(label) for label in [*labels, "gen_library"]} == dict.fromkeys(
        [*labels, "gen_library"], "blocked"
    )

    trusted = check(guarded(mode, {**BLOCK, "allow_code_exec_from": ["gen_lib"]}, source))
    for label in labels:
        assert trusted.status(label) == "ok", trusted.outcomes[label]
        assert value(trusted, "=" + label) == expected[label], label
    assert trusted.status("gen_library") == "blocked"

    one = check(guarded(mode, {**BLOCK, "allow_code_exec_from": ["gen_lib.future"]}, source))
    assert [one.status(label) for label in labels] == ["blocked"] * 3 + ["ok"] * 3


SPOOFS = """
import importlib.util, os, sys
sys.path.insert(0, "spoof")

def _create_fn(text):
    exec(text)

__name__ = "dataclasses"  # while the call is made, this module claims the name
attempt("spoofed module name", lambda: _create_fn("HITS.append('spoofed module name')"))
__name__ = "__main__"

# a file named dataclasses.py outside the standard library, loaded as "dataclasses"
path = os.path.join("spoof", "dataclasses.py")
spec = importlib.util.spec_from_file_location("dataclasses", path)
fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)
fake.HITS = HITS
label = "a dataclasses.py elsewhere"
attempt(label, lambda: fake._create_fn(f"HITS.append({label!r})"))
"""


def test_a_frame_is_trusted_by_its_file_not_by_the_name_it_claims(
    guarded: Guarded, mode: str, tmp_path: Path
) -> None:
    (tmp_path / "spoof").mkdir()
    (tmp_path / "spoof" / "dataclasses.py").write_text("def _create_fn(text):\n    exec(text)\n")
    source = body(SPOOFS)
    plain = check(guarded(mode, {}, source))
    assert hits(plain) == ["a dataclasses.py elsewhere", "spoofed module name"]
    run = check(guarded(mode, BLOCK, source))
    assert hits(run) == []
    assert (
        run.status("spoofed module name") == run.status("a dataclasses.py elsewhere") == "blocked"
    )


LOADER = """
import importlib.machinery

class Loader(importlib.machinery.SourceFileLoader):
    '''A third-party style loader: runs the module body itself.'''

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)

class Elsewhere(Loader):
    def exec_module(self, module):
        exec(self.get_code(module.__name__), {"HITS": module.HITS})
"""

LOADING = """
import builtins, importlib.util, sys
import my_loader

def load(name, loader_class, register):
    loader = loader_class(name, name + ".py")
    spec = importlib.util.spec_from_file_location(name, name + ".py", loader=loader)
    module = importlib.util.module_from_spec(spec)
    module.HITS = HITS
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)

def original_exec():
    for cell in getattr(builtins.exec, "__closure__", None) or ():
        if type(cell.cell_contents).__name__ == "_Patch":
            return cell.cell_contents.previous
    return builtins.exec

class AroundThePatch(my_loader.Loader):
    def exec_module(self, module):
        original_exec()(self.get_code(module.__name__), module.__dict__)

attempt("into its module", lambda: load("body_a", my_loader.Loader, True))
attempt("around the patch", lambda: load("body_d", AroundThePatch, True))
attempt("into an unregistered module", lambda: load("body_b", my_loader.Loader, False))
attempt("into another dict", lambda: load("body_c", my_loader.Elsewhere, True))
"""


def test_a_module_body_run_into_its_module_by_a_loader_is_importing(
    guarded: Guarded, mode: str, tmp_path: Path
) -> None:
    (tmp_path / "my_loader.py").write_text(textwrap.dedent(LOADER))
    for name in ("body_a", "body_b", "body_c", "body_d"):
        (tmp_path / f"{name}.py").write_text(f"HITS.append({name!r})\n")
    source = body(LOADING)
    assert hits(check(guarded(mode, {}, source))) == ["body_a", "body_b", "body_c", "body_d"]
    run = check(guarded(mode, BLOCK, source))
    assert hits(run) == ["body_a"]
    assert run.status("into an unregistered module") == "blocked"
    assert run.status("into another dict") == "blocked"
    # the audit layer alone cannot see the namespace: fail closed
    assert (run.status("around the patch"), run.outcomes["around the patch"][3]) == (
        "blocked",
        "exec",
    )


def test_parsing_only_is_allowed_by_the_patch_and_refused_around_it(
    guarded: Guarded, mode: str
) -> None:
    source = body(
        """
        import ast, builtins
        def original_compile():
            for cell in getattr(builtins.compile, "__closure__", None) or ():
                if type(cell.cell_contents).__name__ == "_Patch":
                    return cell.cell_contents.previous
            return builtins.compile
        attempt("patched", lambda: compile("x + 1", "f", "eval", ast.PyCF_ONLY_AST))
        attempt("original", lambda: original_compile()("x + 1", "f", "eval", ast.PyCF_ONLY_AST))
        """
    )
    plain = check(guarded(mode, {}, source))
    assert plain.status("patched") == plain.status("original") == "ok"
    run = check(guarded(mode, BLOCK, source))
    assert (run.status("patched"), run.status("original")) == ("ok", "blocked")


def test_the_stdlib_directory_check_accepts_its_real_path() -> None:
    from hermetic_imports._code_exec_patch import file_matches, stdlib_dirs

    stdlib = stdlib_dirs()
    real = os.path.realpath(os.path.dirname(os.__file__))
    assert real in stdlib
    assert file_matches("dataclasses", os.path.join(real, "dataclasses.py"), stdlib)
    assert file_matches("collections", os.path.join(real, "collections", "__init__.py"), stdlib)
    assert file_matches("_frozen_importlib", "<frozen importlib._bootstrap>", stdlib)
    assert not file_matches("_frozen_importlib", "<frozen _frozen_importlib>", stdlib)
    assert not file_matches("dataclasses", "/elsewhere/dataclasses.py", stdlib)
    assert not file_matches("dataclasses", os.path.join(real, "xdataclasses.py"), stdlib)
    assert file_matches("attr._make", "/site/attr/_make.py", None)
    assert not file_matches("attr._make", "/site/attr_make.py", None)
