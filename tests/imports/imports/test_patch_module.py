"""The patch module: a fit bootstrap fragment, cheap to import, exact in what it matches,
and nothing left behind once the blocker exits."""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

import hermetic_imports._imports_patch as patch
from hermetic import hermetic_blocker
from hermetic._runtime import RUNTIME
from hermetic.errors import PolicyViolation
from hermetic_testsupport.runs import modules_imported_by


def test_importing_the_package_and_its_patch_module_stays_cheap() -> None:
    costly = {"typing", "threading", "inspect", "dataclasses", "re", "ast", "importlib.util"}
    costly |= {"unicodedata", "hermetic_imports._imports_patch"}
    assert modules_imported_by("import hermetic_imports") & costly == set()
    new = modules_imported_by("import hermetic_imports._imports_patch")
    assert {m for m in new if not m.startswith("hermetic")} <= {"__future__"}


# -- what a name matches ----------------------------------------------------------------


def rules(deny: list[str], native: bool = False) -> patch.Rules:
    return patch.Rules({"deny_imports": tuple(deny), "block_native": native})


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("requests", "requests"),
        ("requests.adapters", "requests"),
        ("requests.packages.urllib3", "requests"),
        ("requests_toolbelt", None),
        ("requestsx.y", None),
        ("request", None),
        ("urllib3", None),
        ("email.mime", "email.mime"),
        ("email.mime.text", "email.mime"),
        ("email", None),
        ("email.mimetypes", None),
        ("", None),
    ],
)
def test_entries_match_on_a_dot_boundary(name: str, entry: str | None) -> None:
    assert rules(["requests", "email.mime"]).entry(name) == entry


def test_block_native_denies_the_native_gateways_by_name() -> None:
    native = rules([], native=True)
    for name in ("ctypes", "ctypes.util", "_ctypes", "cffi", "cffi.api", "_cffi_backend"):
        assert native.entry(name) is not None, name
    assert native.entry("ctypeslib") is None
    assert rules([]).entry("ctypes") is None
    # an explicit deny-list entry keeps its own message
    assert rules(["ctypes"], native=True).denied["ctypes"] == patch.DENIED


def test_a_malformed_entry_refuses_to_install() -> None:
    with pytest.raises(ValueError, match="not a module name"):
        rules(["not a module"])


def test_the_standard_library_extension_directory_is_recognised() -> None:
    import math  # noqa: F401 - its file is the point

    spec = importlib.util.find_spec("_sqlite3")
    assert spec is not None and spec.origin is not None
    native = rules([], native=True)
    assert native.extension_allowed("_sqlite3", spec.origin)
    assert not native.extension_allowed("_sqlite3", "/tmp/_sqlite3.so")


@pytest.mark.parametrize(
    ("name", "package", "level", "expected"),
    [
        ("sub", "pkg", 1, "pkg.sub"),
        ("", "pkg", 1, "pkg"),
        ("x", "pkg.inner", 2, "pkg.x"),
        ("x", "pkg", 2, None),  # beyond the top-level package
        ("x", "", 1, None),  # a relative import outside a package
    ],
)
def test_relative_names(name: str, package: str, level: int, expected: str | None) -> None:
    assert patch.absolute_name(name, {"__package__": package}, level) == expected


def test_relative_names_from_spec_and_name() -> None:
    spec = importlib.machinery.ModuleSpec("pkg.mod", None)
    assert patch.absolute_name("x", {"__spec__": spec, "__package__": None}, 1) == "pkg.x"
    package_globals = {"__name__": "pkg", "__path__": []}
    assert patch.absolute_name("x", package_globals, 1) == "pkg.x"
    assert patch.absolute_name("x", {"__name__": "pkg.mod"}, 1) == "pkg.x"
    assert patch.absolute_name("x", None, 1) is None


def test_module_names_of_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(os.path.realpath(tmp_path))
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "site-packages" / "lib").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(root), str(root / "site-packages")])
    names = patch.PathNames()
    tops = frozenset(["pkg", "lib", "mod"])

    def of(path: str) -> list[str]:
        return list(names.module_names(str(root / path), tops))

    assert of("pkg/__init__.py") == ["pkg"]
    assert of("pkg/sub/mod.py") == ["pkg.sub.mod"]
    assert of("pkg/sub/mod.cpython-311-x86_64-linux-gnu.so") == ["pkg.sub.mod"]
    assert of("mod.py") == ["mod"]
    # under site-packages only: "site-packages" is no identifier, so no name from root
    assert of("site-packages/lib/__init__.py") == ["lib"]
    assert of("elsewhere.py") == []  # a top nobody denies
    assert list(names.module_names("/nowhere/pkg/x.py", tops)) == []
    os.symlink(root / "pkg" / "sub" / "mod.py", root / "alias.py")
    assert of("alias.py") == ["pkg.sub.mod"]


def test_files_that_hold_no_denied_name_are_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(os.path.realpath(tmp_path))
    (root / "pkg").mkdir()
    (root / "other").mkdir()
    monkeypatch.setattr(sys, "path", [str(root)])
    monkeypatch.chdir(root)
    names = patch.PathNames()
    tops = frozenset(["pkg"])
    assert list(names.module_names(str(root / "other" / "mod.py"), tops)) == []
    assert list(names.module_names(str(root / "pkg" / "mod.py"), tops)) == ["pkg.mod"]
    assert list(names.module_names("other/rel.py", tops)) == []
    # only absolute files with no component named like a denied top-level module
    assert names.clean == {str(root / "other" / "mod.py")}
    # a file that may hold one is looked at again each time: its names follow sys.path
    monkeypatch.setattr(sys, "path", [str(root / "pkg")])
    assert list(names.module_names(str(root / "pkg" / "mod.py"), tops)) == []  # now "mod"
    monkeypatch.setattr(sys, "path", [str(root)])
    os.symlink(root / "pkg" / "mod.py", root / "other" / "link.py")
    assert list(names.module_names(str(root / "other" / "link.py"), tops)) == ["pkg.mod"]
    names.forget()
    assert names.clean == set()


# -- nothing left behind ----------------------------------------------------------------


def test_leaving_the_blocker_restores_everything() -> None:
    import _frozen_importlib as bootstrap

    loader = importlib.machinery.ExtensionFileLoader
    gcd_import = vars(bootstrap)["_gcd_import"]
    originals = (builtins.__import__, gcd_import, vars(loader).get("create_module"))
    meta_path = list(sys.meta_path)
    events = set(RUNTIME.subscribed_events())
    with hermetic_blocker(deny_imports=["json_not_loaded"], block_native=True):
        assert builtins.__import__ is not originals[0]
        assert vars(bootstrap)["_gcd_import"] is not originals[1]
        assert type(sys.meta_path[0]) is patch.Finder
        assert {"import", "exec", "ctypes.dlopen"} <= set(RUNTIME.subscribed_events())
    assert (builtins.__import__, vars(bootstrap)["_gcd_import"]) == originals[:2]
    assert vars(loader).get("create_module") is originals[2]
    assert sys.meta_path == meta_path
    assert set(RUNTIME.subscribed_events()) == events


def test_nested_blockers_stack_and_unstack() -> None:
    with hermetic_blocker(deny_imports=["colorsys"]):
        with pytest.raises(PolicyViolation):
            import colorsys  # noqa: F401
        with hermetic_blocker(deny_imports=["json"]):
            for name in ("colorsys", "json"):
                with pytest.raises(PolicyViolation):
                    importlib.import_module(name)
            assert sum(type(f) is patch.Finder for f in sys.meta_path) == 1
        assert importlib.import_module("json") is json
        with pytest.raises(PolicyViolation):
            importlib.import_module("colorsys")
    assert importlib.import_module("colorsys")


def test_the_guard_applies_to_the_test_process_itself() -> None:
    with hermetic_blocker(deny_imports=["json"]), pytest.raises(ImportError) as info:
        import json as again  # noqa: F401
    assert isinstance(info.value, PolicyViolation)
    assert (info.value.guard, info.value.target, info.value.name) == ("imports", "json", "json")
