"""``deny_imports``: every way of importing a denied module is refused, in both modes.

Each surface is run twice in a fresh interpreter: without the guard it imports the module
(whose code then appears in ``ran.log``), under ``deny_imports`` it raises the guard's
``PolicyViolation``, runs none of the module's code and leaves nothing in ``sys.modules``.
"""

from __future__ import annotations

import importlib

import pytest

from hermetic import hermetic_blocker
from hermetic.errors import PolicyViolation

from .conftest import Run, Tree, statuses, value

MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
DENY = {"deny_imports": ["denied_pkg"]}

#: label -> a statement importing some part of denied_pkg, and the module whose code runs.
SURFACES = {
    "import statement": ("import denied_pkg", "denied_pkg"),
    "import a submodule": ("import denied_pkg.sub", "denied_pkg.sub"),
    "import as": ("import denied_pkg.sub as s", "denied_pkg.sub"),
    "from import name": ("from denied_pkg import VALUE", "denied_pkg"),
    "from import submodule": ("from denied_pkg import leaf", "denied_pkg.leaf"),
    "from submodule import": ("from denied_pkg.sub import VALUE", "denied_pkg.sub"),
    "from import star": ("from denied_pkg.sub import *", "denied_pkg.sub"),
    "__import__": ("__import__('denied_pkg')", "denied_pkg"),
    "__import__ fromlist": ("__import__('denied_pkg', fromlist=['sub'])", "denied_pkg"),
    "import_module": ("importlib.import_module('denied_pkg')", "denied_pkg"),
    "import_module submodule": ("importlib.import_module('denied_pkg.leaf')", "denied_pkg.leaf"),
    "import_module relative": (
        "importlib.import_module('.thing', 'denied_pkg')",
        "denied_pkg.thing",
    ),
    "importlib.__import__": ("importlib.__import__('denied_pkg')", "denied_pkg"),
    "find_spec": ("importlib.util.find_spec('denied_pkg')", None),
    # runpy reports an ImportError of the module search as its own ImportError, caused by
    # the violation: ``cause`` raises that cause
    "runpy.run_module": ("cause(runpy.run_module, 'denied_pkg.leaf')", "denied_pkg.leaf"),
    "pkgutil.resolve_name": ("pkgutil.resolve_name('denied_pkg.sub:VALUE')", "denied_pkg.sub"),
    "pickle global": ("pickle.loads(b'cdenied_pkg.thing\\nThing\\n.')", "denied_pkg.thing"),
    "lazy import in an allowed module": ("allowed_pkg.lazy.later()", "denied_pkg"),
    "exec of an import": ("exec('import denied_pkg.sub', {})", "denied_pkg.sub"),
}

PREAMBLE = """
import importlib, importlib.util, os, runpy, pkgutil, pickle, sys, allowed_pkg.lazy
os.remove('ran.log')
def cause(function, *args):
    try:
        function(*args)
    except ImportError as exc:
        if type(exc.__cause__).__name__ == "PolicyViolation":
            raise exc.__cause__ from None
        raise
"""


def _body(surfaces: dict[str, tuple[str, str | None]]) -> str:
    lines = [PREAMBLE]
    for label, (code, _module) in surfaces.items():
        lines.append(
            f"attempt({label!r}, lambda: exec({code!r}, globals()))\n"
            f"report({label + ' ran'!r}, ran())\n"
            "for _m in [m for m in sys.modules if m.startswith('denied_pkg.') "
            "or m == 'denied_pkg']:\n"
            "    del sys.modules[_m]\n"
            "if os.path.exists('ran.log'): os.remove('ran.log')\n"
        )
    return "".join(lines)


@MODES
def test_every_import_route_is_refused(run: Run, mode: str) -> None:
    body = _body(SURFACES)
    plain = run(mode, {}, body)
    assert set(statuses(plain).values()) == {"ok"}, plain.stdout + plain.stderr
    guarded = run(mode, DENY, body)
    for label, (_code, module) in SURFACES.items():
        if module is not None:
            assert module in value(plain, label + " ran"), label
        assert guarded.status(label) == "blocked", (label, guarded.stdout, guarded.stderr)
        assert guarded.guard(label) == "imports"
        assert value(guarded, label + " ran") == [], label  # no code of the module ran


@MODES
@pytest.mark.parametrize(
    ("denied", "patched"),
    [
        (["denied_pkg"], False),  # not loaded: the finder and the audit layer refuse it
        (["denied_pkg", "_sitebuiltins"], True),  # one loaded already (by site)
        (["denied_pkg.sub"], True),  # a submodule: `from denied_pkg import sub`
    ],
)
def test_imports_from_sys_modules_are_patched_only_when_they_can_be_refused(
    run: Run, mode: str, denied: list[str], patched: bool
) -> None:
    # A patched __import__ makes every import statement in the process a Python call.
    body = (
        "import builtins, importlib, sys, _frozen_importlib as _b\n"
        "report('patched', [type(builtins.__import__) is not type(len), "
        "not _b._gcd_import.__code__.co_filename.startswith('<frozen')])\n"
        "attempt('statement', lambda: exec('from denied_pkg import sub', {}))\n"
        "attempt('import_module', lambda: importlib.import_module('denied_pkg.sub'))\n"
        "report('ran', ran())\n"
    )
    guarded = run(mode, {"deny_imports": denied}, body)
    assert value(guarded, "patched") == [patched, patched]
    for label in ("statement", "import_module"):
        assert (guarded.status(label), guarded.guard(label)) == ("blocked", "imports"), label
    assert "denied_pkg.sub" not in value(guarded, "ran")


@MODES
def test_a_refused_import_leaves_nothing_in_sys_modules(run: Run, mode: str) -> None:
    body = (
        "import sys\n"
        "attempt('sub', lambda: __import__('denied_pkg.sub'))\n"
        "report('loaded', sorted(m for m in sys.modules if m.startswith('denied_pkg')))\n"
    )
    assert value(run(mode, {}, body), "loaded") == ["denied_pkg", "denied_pkg.sub"]
    guarded = run(mode, DENY, body)
    assert guarded.status("sub") == "blocked"
    assert value(guarded, "loaded") == []


@MODES
def test_a_module_imported_before_the_guard_is_refused_too(run: Run, mode: str) -> None:
    # _sitebuiltins is imported by site at start-up: in sys.modules before either guard.
    body = (
        "import sys, importlib, pickle\n"
        "report('cached', '_sitebuiltins' in sys.modules)\n"
        "attempt('statement', lambda: exec('import _sitebuiltins', {}))\n"
        "attempt('from', lambda: exec('from _sitebuiltins import Quitter', {}))\n"
        "attempt('import_module', lambda: importlib.import_module('_sitebuiltins'))\n"
        "attempt('__import__', lambda: __import__('_sitebuiltins'))\n"
        "attempt('reload', lambda: importlib.reload(sys.modules['_sitebuiltins']))\n"
        "attempt('pickle', lambda: pickle.loads(b'c_sitebuiltins\\nQuitter\\n.'))\n"
    )
    plain = run(mode, {}, body)
    assert set(statuses(plain).values()) == {"ok"}, plain.stderr
    guarded = run(mode, {"deny_imports": ["_sitebuiltins"]}, body)
    assert value(guarded, "cached") is True
    for label in ("statement", "from", "import_module", "__import__", "reload", "pickle"):
        assert (guarded.status(label), guarded.guard(label)) == ("blocked", "imports"), label


@MODES
def test_file_path_loads_of_a_denied_module_are_refused(run: Run, mode: str) -> None:
    body = """
    import importlib.util, os, runpy, sys
    def by_spec(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    here = os.getcwd()
    attempt('spec under its name', lambda: by_spec('denied_pkg', here + '/denied_pkg/__init__.py'))
    attempt('spec under another name', lambda: by_spec('innocent', here + '/denied_pkg/sub.py'))
    attempt('relative path', lambda: by_spec('innocent2', 'denied_pkg/../denied_pkg/leaf.py'))
    if not os.path.lexists('alias.py'):
        os.symlink(here + '/denied_pkg/sub.py', here + '/alias.py')
    attempt('through a symlink', lambda: by_spec('alias', here + '/alias.py'))
    attempt('run_path', lambda: runpy.run_path(here + '/denied_pkg/sub.py'))
    attempt('compiled with its path', lambda: exec(compile(
        open('denied_pkg/sub.py').read(), here + '/denied_pkg/sub.py', 'exec'), {}))
    def source_loader():
        import importlib.machinery
        loader = importlib.machinery.SourceFileLoader('x', here + '/denied_pkg/thing.py')
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader('x', loader))
        loader.exec_module(module)
    attempt('SourceFileLoader by hand', source_loader)
    report('ran', ran())
    """
    plain = run(mode, {}, body)
    assert set(statuses(plain).values()) == {"ok"}, plain.stdout + plain.stderr
    guarded = run(mode, DENY, body)
    for label in statuses(plain):
        assert (guarded.status(label), guarded.guard(label)) == ("blocked", "imports"), (
            label,
            guarded.stdout,
            guarded.stderr,
        )
    assert value(guarded, "ran") == []


@MODES
def test_a_denied_submodule_leaves_its_package_importable(run: Run, mode: str) -> None:
    body = """
    import importlib
    attempt('package', lambda: importlib.import_module('denied_pkg'))
    attempt('other submodule', lambda: importlib.import_module('denied_pkg.leaf'))
    attempt('denied', lambda: importlib.import_module('denied_pkg.sub'))
    attempt('from package import denied', lambda: exec('from denied_pkg import sub', {}))
    attempt('from package import value', lambda: exec('from denied_pkg import VALUE', {}))
    attempt('relative import of it', lambda: importlib.import_module('denied_pkg.rel'))
    attempt('star import listing it', lambda: exec('from denied_pkg import *', {}))
    report('ran', sorted(ran()))
    """
    plain = run(mode, {}, body)
    assert set(statuses(plain).values()) == {"ok"}, plain.stderr
    guarded = run(mode, {"deny_imports": ["denied_pkg.sub"]}, body)
    assert statuses(guarded) == {
        "package": "ok",
        "other submodule": "ok",
        "denied": "blocked",
        "from package import denied": "blocked",
        "from package import value": "ok",
        "relative import of it": "blocked",
        "star import listing it": "blocked",
    }, guarded.stderr
    # rel ran up to its refused relative import; sub never ran
    assert value(guarded, "ran") == ["denied_pkg", "denied_pkg.leaf", "denied_pkg.rel"]


@MODES
def test_a_stdlib_module_and_its_submodules(run: Run, mode: str) -> None:
    body = """
    import importlib, sys
    attempt('xml.dom.minidom', lambda: importlib.import_module('xml.dom.minidom'))
    attempt('xml.etree', lambda: importlib.import_module('xml.etree.ElementTree'))
    attempt('xml', lambda: importlib.import_module('xml'))
    attempt('email.mime.text', lambda: exec('from email.mime.text import MIMEText', {}))
    attempt('email.utils', lambda: exec('from email.utils import formatdate', {}))
    report('loaded', sorted(m for m in sys.modules if m.startswith('xml.dom')))
    """
    guarded = run(mode, {"deny_imports": ["xml.dom", "email.mime"]}, body)
    assert statuses(guarded) == {
        "xml.dom.minidom": "blocked",
        "xml.etree": "ok",
        "xml": "ok",
        "email.mime.text": "blocked",
        "email.utils": "ok",
    }, guarded.stderr
    assert value(guarded, "loaded") == []


def test_a_denied_module_run_as_the_program(bare_python: str, tree: Tree) -> None:
    """Under the bootstrap the program itself is module code: ``python -m m``, ``python m.py``."""
    import os
    import subprocess

    from hermetic.policy import BlockConfig
    from hermetic_testsupport.runs import write_bootstrap

    (tree.root / "solo.py").write_text("with open('ran.log', 'a') as f:\n    f.write('solo')\n")
    directory = write_bootstrap(
        BlockConfig(deny_imports=["solo", "denied_pkg"]), tree.root / ".hermetic-cache"
    )
    env = {**os.environ, "PYTHONPATH": directory}
    for argv in (["solo.py"], ["-m", "solo"], ["-m", "denied_pkg.leaf"]):
        proc = subprocess.run(
            [bare_python, *argv], capture_output=True, text=True, env=env, cwd=tree.root
        )
        assert proc.returncode == 1, (argv, proc.stderr)
        assert "import denied: " in proc.stderr, proc.stderr
        assert not (tree.root / "ran.log").exists()
        plain = subprocess.run([bare_python, *argv], cwd=tree.root, capture_output=True)
        assert plain.returncode == 0 and (tree.root / "ran.log").exists()
        (tree.root / "ran.log").unlink()


@MODES
def test_a_denied_c_extension(run: Run, tree: Tree, mode: str) -> None:
    body = f"""
    import importlib.machinery, importlib.util, sys
    SO = {str(tree.ext_file)!r}
    attempt('import', lambda: __import__('_csv'))
    def by_hand():
        loader = importlib.machinery.ExtensionFileLoader('renamed', SO)
        spec = importlib.util.spec_from_file_location('_csv', SO, loader=loader)
        importlib.util.module_from_spec(spec)
    attempt('by hand', by_hand)
    report('mapped', mapped(SO))
    """
    plain = run(mode, {}, body)
    assert set(statuses(plain).values()) == {"ok"}, plain.stderr
    assert value(plain, "mapped") is True
    guarded = run(mode, {"deny_imports": ["_csv"]}, body)
    assert statuses(guarded) == {"import": "blocked", "by hand": "blocked"}, guarded.stderr
    assert value(guarded, "mapped") is False


def test_reference_held_before_the_guard() -> None:
    """Not a bypass: a module object the program already holds is not an import."""
    import _sitebuiltins

    with hermetic_blocker(deny_imports=["_sitebuiltins"]):
        assert _sitebuiltins.Quitter.__name__ == "Quitter"
        with pytest.raises(PolicyViolation):
            importlib.import_module("_sitebuiltins")
