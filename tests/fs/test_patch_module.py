"""The patch module is a fit bootstrap fragment, cheap to import, and undoes itself."""

from __future__ import annotations

import os
import posix
import subprocess
import sys
from pathlib import Path

import pytest

import hermetic_fs._patch as patch
from hermetic import hermetic_blocker
from hermetic.errors import HermeticError
from hermetic_testsupport.runs import modules_imported_by


def test_importing_the_guard_and_its_patch_module_stays_cheap() -> None:
    costly = {"typing", "threading", "inspect", "dataclasses", "re", "ast", "importlib.util"}
    assert modules_imported_by("import hermetic_fs") & costly == set()
    assert modules_imported_by("import hermetic_fs._patch") <= {
        "hermetic_fs",
        "hermetic_fs._patch",
        "hermetic_fs._options",
        "hermetic",
        "hermetic.contract",
        "hermetic.errors",
        "__future__",
        "errno",  # built in
    }


def test_leaving_the_guard_restores_every_patched_function(tmp_path: Path) -> None:
    from importlib.machinery import SourceFileLoader

    originals = (os.open, posix.open, os.mkfifo, os.mknod, SourceFileLoader.set_data)
    with hermetic_blocker(fs_readonly=True):
        assert os.open is not originals[0]
        assert posix.open is not originals[1]
        assert SourceFileLoader.set_data is not originals[4]
    assert (os.open, posix.open, os.mkfifo, os.mknod, SourceFileLoader.set_data) == originals
    fd = os.open(tmp_path / "after", os.O_WRONLY | os.O_CREAT)  # writes work again
    os.close(fd)


def test_the_guard_applies_in_the_test_process_and_stacks(tmp_path: Path) -> None:
    from hermetic.errors import PolicyViolation

    a = Path(os.path.realpath(tmp_path)) / "a"
    (a / "sub").mkdir(parents=True)
    with hermetic_blocker(fs_readonly=True, allow_write=[str(a)]):
        (a / "one").write_text("1")
        with hermetic_blocker(fs_readonly=True, allow_write=[str(a / "sub")]):
            (a / "sub" / "two").write_text("2")
            with pytest.raises(PolicyViolation) as info:
                (a / "three").write_text("3")
            assert (info.value.guard, info.value.target) == ("filesystem", str(a / "three"))
        (a / "four").write_text("4")
    assert sorted(p.name for p in a.iterdir()) == ["four", "one", "sub"]


def test_interpreter_paths_hold_sys_path_and_never_the_filesystem_root() -> None:
    paths = patch.interpreter_paths()
    assert "/" not in paths
    assert os.path.realpath(os.path.dirname(os.__file__)) in paths
    assert all(os.path.realpath(p or ".") in paths for p in sys.path if os.path.realpath(p) != "/")
    assert os.path.realpath(sys.executable) in paths


def test_a_root_that_vanished_before_install_fails_closed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    blocker = hermetic_blocker(fs_root=str(root))
    root.rmdir()
    with pytest.raises(HermeticError, match=r"could not be installed.*not an existing directory"):
        blocker.__enter__()


def test_a_root_that_vanished_stops_the_bootstrap(bare_python: str, tmp_path: Path) -> None:
    from hermetic.bootstrap import materialize
    from hermetic.policy import BlockConfig

    root = tmp_path / "root"
    root.mkdir()
    directory = materialize(BlockConfig(fs_root=str(root)), root=str(tmp_path / "cache"))
    root.rmdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = directory
    proc = subprocess.run(
        [bare_python, "-c", "print('ran')"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2
    assert "ran" not in proc.stdout
    assert "guard 'filesystem' could not be installed" in proc.stderr
