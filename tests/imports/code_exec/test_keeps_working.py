"""What must keep working under the guard: the interpreter's own use of compile and exec.

One body does each thing and reports what it got. It runs without the guard and under
``block_code_exec``, in both delivery modes: every case must succeed both times with the
same result, so a case that "works" by returning something else is caught too.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from .conftest import BLOCK, Guarded, body, check, value

WORKS = """
import ast, asyncio, collections, dataclasses, decimal, enum, functools, importlib
import importlib.util, inspect, io, json, os, platform, sys, traceback, typing
from unittest import mock

sys.dont_write_bytecode = True  # every import below compiles its source


def outcome(label, fn):
    def run():
        report("=" + label, fn())
    attempt(label, run)


# -- imports: fresh source (no __pycache__), a package, reload, zip, namespace package
outcome("fresh import", lambda: __import__("fresh_mod").VALUE)
outcome("fresh submodule", lambda: importlib.import_module("fresh_pkg.sub").VALUE)
outcome("no __pycache__ written", lambda: os.path.exists("__pycache__"))
def reload_it():
    import fresh_mod
    fresh_mod.VALUE = "changed"
    return importlib.reload(fresh_mod).VALUE
outcome("importlib.reload", reload_it)
outcome("reload of the stdlib", lambda: importlib.reload(json).dumps([1]))
outcome("zip import", lambda: (sys.path.insert(0, "lib.zip"), __import__("zipped").VALUE)[1])
outcome("namespace package", lambda: importlib.import_module("nspkg.inner").VALUE)
def by_path():
    spec = importlib.util.spec_from_file_location("by_path", "loose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VALUE
outcome("spec_from_file_location", by_path)
def compiled():
    import py_compile
    return os.path.basename(py_compile.compile("loose.py", cfile="loose.pyc"))
outcome("py_compile", compiled)

# -- dataclasses
@dataclasses.dataclass(frozen=True, order=True)
class Point:
    x: int
    y: "int" = 2
    tags: tuple = dataclasses.field(default_factory=tuple)
    def __post_init__(self):
        pass
@dataclasses.dataclass(frozen=True)
class Child(Point):
    z: int = 0
outcome("dataclass", lambda: [repr(Point(1)), Point(1) < Point(2), hash(Point(1)) != 0])
outcome("dataclass signature", lambda: str(inspect.signature(Point)))
def strings(mapping):
    return {k: str(v) for k, v in mapping.items()}
outcome("dataclass annotations", lambda: strings(Point.__init__.__annotations__))
outcome("dataclass inheritance", lambda: repr(Child(1, z=3)))
outcome("make_dataclass", lambda: repr(dataclasses.make_dataclass("D", [("a", int)])(5)))
outcome("dataclass replace/asdict", lambda: dataclasses.asdict(dataclasses.replace(Point(1), y=4)))
if sys.version_info >= (3, 10):
    @dataclasses.dataclass(slots=True, kw_only=True)
    class Slotted:
        a: int
    outcome("dataclass slots", lambda: repr(Slotted(a=1)))

# -- collections.namedtuple and typing
outcome("namedtuple", lambda: repr(collections.namedtuple("N", "a b", defaults=[2])(1)))
outcome("namedtuple rename", lambda: collections.namedtuple("R", "a def", rename=True)._fields)
class Pair(typing.NamedTuple):
    a: int
    b: "str" = "x"
outcome("typing.NamedTuple", lambda: repr(Pair(1)))
class Movie(typing.TypedDict, total=False):
    title: str
    year: "int"
outcome("typing.TypedDict", lambda: sorted(typing.get_type_hints(Movie)))
class Later:
    peer: typing.Optional["Later"] = None
    def method(self, other: "Later") -> "typing.List[int]":
        return []
outcome("get_type_hints", lambda: strings(typing.get_type_hints(Later.method)))
outcome("forward reference", lambda: str(typing.List["int"]))

# -- enum, functools
outcome("enum functional", lambda: [m.name for m in enum.Enum("Color", "RED GREEN")])
outcome("enum flags", lambda: str(enum.IntFlag("Perm", "R W X").R | 2))
@functools.total_ordering
class Version:
    def __init__(self, n):
        self.n = n
    def __eq__(self, other):
        return self.n == other.n
    def __lt__(self, other):
        return self.n < other.n
outcome("functools.total_ordering", lambda: Version(1) >= Version(0))
@functools.singledispatch
def show(x):
    return "object"
@show.register
def _(x: "int"):
    return "int"
outcome("functools.singledispatch", lambda: [show(1), show("a")])
outcome("functools.lru_cache", lambda: functools.lru_cache()(lambda n: n * 2)(4))
outcome("functools.partial", lambda: functools.partial(int, base=2)("101"))

# -- tracebacks, platform, argparse, decimal, asyncio, mock, inspect, ast
def traceback_text():
    import tb_mod
    try:
        tb_mod.fail()
    except KeyError:
        lines = traceback.format_exc().splitlines()
        return [line.strip() for line in lines if not line.lstrip().startswith("File ")]
outcome("traceback with source lines", traceback_text)
def import_failure():
    try:
        import broken_mod
    except ZeroDivisionError as error:
        frames = traceback.extract_tb(error.__traceback__)
        return [[os.path.basename(f.filename), f.name] for f in frames]
outcome("traceback of a failed import", import_failure)
def import_warning():
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import warner
    return [[os.path.basename(w.filename), w.lineno] for w in caught]
outcome("warning of an imported module, stacklevel=2", import_warning)
outcome("platform", lambda: [platform.platform() != "", platform.python_version()])
def help_text():
    import argparse
    parser = argparse.ArgumentParser(prog="tool", description="Does things.")
    parser.add_argument("--count", type=int, default=1, help="how many")
    return parser.format_help()
outcome("argparse help", help_text)
outcome("decimal", lambda: str(decimal.Decimal("1.10") + decimal.Decimal("2.205")))
async def gathered():
    async def one(n):
        await asyncio.sleep(0)
        return n
    return await asyncio.gather(one(1), one(2))
outcome("asyncio.run", lambda: asyncio.run(gathered()))
def spec(a, b=1):
    return a
outcome("mock autospec", lambda: mock.create_autospec(spec, return_value=3)(1, b=2))
async def aspec(a):
    return a
outcome("mock async autospec", lambda: type(mock.create_autospec(aspec)).__name__)
outcome("inspect.signature of a builtin", lambda: str(inspect.signature(int.to_bytes)))
outcome("ast.literal_eval", lambda: ast.literal_eval("{'a': [1, 2.5, None]}"))
outcome("ast.parse", lambda: type(ast.parse("x + 1").body[0]).__name__)
def ast_only():
    return type(compile("x", "f", "eval", ast.PyCF_ONLY_AST)).__name__
outcome("compile to an AST only", ast_only)
outcome("inspect.signature with sys.maxsize", lambda: str(inspect.signature(list.index)))
def synchronized():
    import ctypes
    import multiprocessing.sharedctypes
    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_int), ("b", ctypes.c_int)]
    shared = multiprocessing.sharedctypes.synchronized(Pair(1, 2))
    return [shared.a, shared.b]
outcome("sharedctypes.synchronized", synchronized)
def plural():
    import gettext
    return [gettext.c2py("n != 1")(n) for n in (0, 1, 2)]
outcome("gettext plural forms", plural)
outcome("multiprocessing.managers", lambda: __import__("multiprocessing.managers").__name__)
if hasattr(inspect, "get_annotations"):
    def annotated(x: "int") -> "str":
        pass
    evaluated = lambda: strings(inspect.get_annotations(annotated, eval_str=True))
    outcome("inspect.get_annotations", evaluated)
"""


def write_modules(where: Path) -> None:
    """The modules the body imports (source only: nothing has bytecode yet)."""
    (where / "fresh_mod.py").write_text("VALUE = 'fresh'\n")
    (where / "fresh_pkg").mkdir()
    (where / "fresh_pkg" / "__init__.py").write_text("")
    (where / "fresh_pkg" / "sub.py").write_text(
        "import dataclasses\n@dataclasses.dataclass\nclass C:\n    v: str = 'sub'\nVALUE = C().v\n"
    )
    (where / "nspkg").mkdir()
    (where / "nspkg" / "inner.py").write_text("VALUE = 'namespace'\n")
    (where / "loose.py").write_text("VALUE = 'loose'\n")
    (where / "broken_mod.py").write_text("X = 1 / 0\n")
    (where / "warner.py").write_text(
        "import warnings\nwarnings.warn('old', DeprecationWarning, stacklevel=2)\n"
    )
    (where / "tb_mod.py").write_text("def fail():\n    return 1 + {'a': 1}['missing']\n")
    with zipfile.ZipFile(where / "lib.zip", "w") as archive:
        archive.writestr("zipped.py", "VALUE = 'zipped'\n")


def test_the_interpreters_own_code_generation_keeps_working(
    guarded: Guarded, mode: str, tmp_path: Path
) -> None:
    plain_dir, guarded_dir = tmp_path / "plain", tmp_path / "guarded"
    for where in (plain_dir, guarded_dir):
        where.mkdir()
        write_modules(where)
    source = body(WORKS)
    plain = check(guarded(mode, {}, source, cwd=plain_dir))
    run = check(guarded(mode, BLOCK, source, cwd=guarded_dir))
    labels = [label for label in plain.outcomes if label != "HITS" and label[0] != "="]
    assert len(labels) >= 38
    for label in labels:
        assert plain.status(label) == "ok", plain.outcomes[label]
        assert run.status(label) == "ok", (label, run.outcomes[label], run.stderr)
        assert value(run, "=" + label) == value(plain, "=" + label), label
    assert value(run, "=fresh import") == "fresh"
    assert value(run, "=no __pycache__ written") is False
    assert value(run, "=importlib.reload") == "fresh"
    # nothing of the guard between an importer and the module it imports
    assert value(run, "=traceback of a failed import") == [
        ["<string>", "import_failure"],
        ["broken_mod.py", "<module>"],
    ]
    assert value(run, "=warning of an imported module, stacklevel=2")[0][0] == "<string>"
    trace = value(run, "=traceback with source lines")
    assert "return 1 + {'a': 1}['missing']" in trace, trace
    assert trace[-1] == "KeyError: 'missing'"
    if sys.version_info >= (3, 11):
        assert any("^" in line for line in trace), trace  # the caret line (ast.parse)


def test_a_guards_module_loads_again_under_the_guard() -> None:
    # What the bootstrap's copy of a guard meets when a program under it starts a blocker of
    # its own (or the reverse): the module's source run while this guard is installed.
    import importlib.util

    from hermetic import hermetic_blocker
    from hermetic_imports import _code_exec_patch, _interpreter_patch

    loaded = []
    with hermetic_blocker(block_code_exec=True):
        for original in (_code_exec_patch, _interpreter_patch):
            spec = importlib.util.spec_from_file_location("copy_of_a_guard", original.__file__)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded.append(module.install)
    assert len(loaded) == 2
