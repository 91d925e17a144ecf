"""The start-up cache: remembered flags skip discovery, and every change invalidates them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import hermetic_cli
from hermetic.bootstrap import cache_root as core_cache_root
from hermetic_cli import cache
from hermetic_testsupport.wheels import Wheelhouse

from .conftest import Env, Runner


@pytest.mark.parametrize(
    "env",
    [
        {"HERMETIC_CACHE_DIR": "/x/y"},
        {"HERMETIC_CACHE_DIR": "rel/dir"},
        {"XDG_CACHE_HOME": "/xdg"},
        {"HOME": "/home/someone"},
    ],
)
def test_cache_root_is_the_core_rule(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ("HERMETIC_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert hermetic_cli.cache_root() == os.path.abspath(core_cache_root())


def test_store_and_lookup(tmp_path: Path) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "sitecustomize.py").write_text("")
    watched = tmp_path / "watched.py"
    watched.write_text("a = 1\n")
    stamps = ((str(watched), cache.signature(str(watched))),)
    key = ("/cwd", "/home", ("--no-network",))
    envc = cache.EnvCache(str(tmp_path / "root"))
    assert envc.lookup(key) is None
    envc.store(key, str(boot), {"block_network": True}, stamps)
    again = cache.EnvCache(str(tmp_path / "root"))
    assert again.lookup(key) == (str(boot), {"block_network": True})
    assert again.lookup(("/other", "/home", ("--no-network",))) is None
    watched.write_text("a = 22\n")  # a watched file changed: everything is forgotten
    assert cache.EnvCache(str(tmp_path / "root")).lookup(key) is None
    stamps = ((str(watched), cache.signature(str(watched))),)
    envc = cache.EnvCache(str(tmp_path / "root"))
    envc.store(key, str(boot), {"block_network": True}, stamps)
    (boot / "sitecustomize.py").unlink()  # the bootstrap is gone: a miss
    assert cache.EnvCache(str(tmp_path / "root")).lookup(key) is None


def test_at_most_max_policies_and_corrupt_files(tmp_path: Path) -> None:
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "sitecustomize.py").write_text("")
    envc = cache.EnvCache(str(tmp_path))
    for i in range(cache.MAX_POLICIES + 3):
        envc.store(("c", "h", (str(i),)), str(boot), {}, ())
    fresh = cache.EnvCache(str(tmp_path))
    assert fresh.lookup(("c", "h", ("0",))) is None
    assert fresh.lookup(("c", "h", (str(cache.MAX_POLICIES + 2),))) is not None
    Path(envc.path).write_bytes(b"\x00garbage")
    assert cache.EnvCache(str(tmp_path)).lookup(("c", "h", ("70",))) is None


def test_the_key_holds_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = cache.EnvCache(str(tmp_path)).path
    monkeypatch.setattr(sys, "path", [*sys.path, "/somewhere/else"])
    assert cache.EnvCache(str(tmp_path)).path != first
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/h1")
    assert cache.policy_key(["--a"]) == (str(tmp_path), "/h1", ("--a",))


def test_stamps_cover_sys_path_and_package_files() -> None:
    stamps = dict(cache.collect_stamps(["hermetic_cli", "not_imported_module_x"]))
    package = Path(hermetic_cli.__file__).parent
    assert str(package / "app.py") in stamps
    assert str(package) in stamps
    for entry in sys.path:
        assert os.path.abspath(entry or os.curdir) in stamps


def _env_cache_files(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "cli").glob("env-*.bin"))


def test_a_second_run_takes_the_remembered_path(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    first = run(hermetic_env, "--no-webbrowser", "--", "python", "-c", "print('x')")
    assert first.returncode == 0, first.stderr
    (envfile,) = _env_cache_files(tmp_path / "hermetic-cache")
    before = envfile.stat().st_mtime_ns
    second = run(hermetic_env, "--no-webbrowser", "--", "python", "-c", "print('x')")
    assert (second.returncode, second.stdout) == (0, "x\n")
    assert envfile.stat().st_mtime_ns == before  # nothing was rediscovered or rewritten
    # another working directory is another key (option values may be relative paths)
    sub = tmp_path / "sub"
    sub.mkdir()
    run(hermetic_env, "--no-webbrowser", "--", "python", "-c", "pass", cwd=sub)
    assert envfile.stat().st_mtime_ns != before


@pytest.fixture
def demo_env(wheelhouse: Wheelhouse, tmp_path: Path) -> Env:
    """A private venv whose installed guard the test may edit."""
    return Env(wheelhouse.venv(tmp_path / "venv", ["hermetic-cli", "hermetic-demo-guard"]))


def test_editing_a_guard_or_installing_one_invalidates(
    demo_env: Env, run: Runner, tmp_path: Path
) -> None:
    (tmp_path / "catch.py").write_text(
        "import webbrowser\n"
        "try:\n"
        "    webbrowser.open('http://x.invalid/')\n"
        "except Exception as exc:\n"
        "    print(exc)\n"
    )
    proc = run(demo_env, "--no-webbrowser", "--", "python", "catch.py")
    assert proc.stdout.startswith("web browser disabled: open http://x.invalid/"), proc.stderr
    (patch,) = Path(demo_env.python).parent.parent.glob(
        "lib/python3*/site-packages/hermetic_demo_guard/_patch.py"
    )
    patch.write_text(patch.read_text().replace("web browser disabled", "browsers are off"))
    proc = run(demo_env, "--no-webbrowser", "--", "python", "catch.py")
    assert proc.stdout.startswith("browsers are off: open http://x.invalid/"), proc.stderr
    # a new guard distribution appears: its flag works at once
    (site,) = Path(demo_env.python).parent.parent.glob("lib/python3*/site-packages")
    (site / "hermetic_extra_guard.py").write_text(
        "from hermetic.contract import Option, define_guard\n"
        "guard = define_guard('extra', summary='Extra.', patch_module='hermetic_demo_guard._patch',"
        " options=[Option('block_extra', bool, flags=['--no-extra'], enables=True)])\n"
    )
    meta = site / "hermetic_extra_guard-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hermetic-extra-guard\nVersion: 1.0\n\n"
    )
    (meta / "entry_points.txt").write_text(
        "[hermetic.guards]\nextra = hermetic_extra_guard:guard\n"
    )
    proc = run(demo_env, "--no-extra", "--", "python", "-c", "pass")
    assert proc.returncode == 0, proc.stderr


def test_bytecode_of_hermetic_s_own_modules_is_kept_in_the_cache(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    """Under PYTHONDONTWRITEBYTECODE, never next to the sources; and never for the target."""
    (tmp_path / "mod_of_target.py").write_text("X = 1\n")
    (tmp_path / "t.py").write_text("import mod_of_target\n")
    proc = run(hermetic_env, "--no-webbrowser", "--", "t.py")
    assert proc.returncode == 0, proc.stderr
    prefix = tmp_path / "hermetic-cache" / "pycache"
    assert list(prefix.rglob("app.cpython-*.pyc"))
    assert not list(prefix.rglob("mod_of_target*"))
    assert not (tmp_path / "__pycache__").exists()
    plain = subprocess.run(
        [hermetic_env.bin("hermetic"), "--", "t.py"],
        env={**hermetic_env.environ(tmp_path / "c2"), "PYTHONDONTWRITEBYTECODE": ""},
        cwd=tmp_path,
        capture_output=True,
    )
    assert plain.returncode == 0
    assert not (tmp_path / "c2" / "pycache").exists()
