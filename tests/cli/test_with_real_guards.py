"""The issue's own examples, with the first-party guards (skipped while one does not load).

Every block is checked for real: the loopback server received nothing, the file was not
written, and the same run without the flag really does it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hermetic_cli import EXIT_VIOLATION
from hermetic_testsupport.servers import http_counter

from .conftest import Env, Runner

FETCH = "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=10).read().decode())"


def _url(server: Any) -> str:
    return str(server.url)


def _fetchers(hermetic_env: Env, other_env: Env) -> dict[str, list[str]]:
    return {
        "console script, in-process": ["ht-fetch"],
        "console script of another venv, bootstrap": [other_env.bin("ht-fetch")],
        "python -c, bootstrap": ["python", "-c", FETCH],
    }


@pytest.mark.parametrize(
    "kind",
    [
        "console script, in-process",
        "console script of another venv, bootstrap",
        "python -c, bootstrap",
    ],
)
def test_no_network_blocks_a_fetch_and_allow_localhost_allows_it(
    hermetic_env: Env, other_env: Env, run: Runner, guard_cache: Path, kind: str
) -> None:
    hermetic_env.require(guard_cache, "network")
    target = _fetchers(hermetic_env, other_env)[kind]
    with http_counter() as server:
        url = f"{_url(server)}/{kind.split(',')[0].replace(' ', '-')}"
        plain = run(hermetic_env, "--", *target, url)
        assert plain.returncode == 0, plain.stderr
        assert plain.stdout.startswith("hello from loopback")
        assert len(server.hits) == 1
        blocked = run(hermetic_env, "--no-network", "--", *target, url)
        assert blocked.returncode == EXIT_VIOLATION, blocked.stderr
        assert blocked.stderr.startswith("hermetic: blocked network: ")
        assert len(blocked.stderr.splitlines()) == 1
        assert blocked.stdout == ""
        allowed = run(hermetic_env, "--no-network", "--allow-localhost", "--", *target, url)
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.startswith("hello from loopback")
        assert len(server.hits) == 2  # the blocked run never reached the server


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_a_child_python_inherits_the_network_guard(
    hermetic_env: Env, other_env: Env, run: Runner, guard_cache: Path, mode: str
) -> None:
    hermetic_env.require(guard_cache, "network")
    tool = "ht-child" if mode == "inprocess" else other_env.bin("ht-child")
    with http_counter() as server:
        code = f"import urllib.request as u; u.urlopen({_url(server) + '/child'!r}, timeout=10)"
        proc = run(hermetic_env, "--no-network", "--", tool, code)
        assert proc.returncode == EXIT_VIOLATION, proc.stderr
        assert proc.stderr.startswith("hermetic: blocked network: ")
        assert server.hits == []
        assert run(hermetic_env, "--", tool, code).returncode == 0
        assert server.hits == ["/child"]


def test_fs_readonly_sandbox(
    hermetic_env: Env, run: Runner, guard_cache: Path, tmp_path: Path
) -> None:
    """``hermetic --fs-readonly=./sandbox -- python script.py``: nothing written anywhere."""
    hermetic_env.require(guard_cache, "filesystem")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "data.txt").write_text("inside\n")
    (tmp_path / "script.py").write_text(
        "import sys\n"
        "print(open('sandbox/data.txt').read(), end='')\n"
        "open(sys.argv[1], 'w').write('written')\n"
    )
    for target in ("sandbox/new.txt", "outside.txt"):
        proc = run(hermetic_env, "--fs-readonly=./sandbox", "--", "python", "script.py", target)
        assert proc.returncode == EXIT_VIOLATION, proc.stderr
        assert proc.stdout == "inside\n"
        assert proc.stderr.startswith("hermetic: blocked filesystem: ")
        assert not (tmp_path / target).exists()
        proc = run(hermetic_env, "--", "python", "script.py", target)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / target).read_text() == "written"


def test_profile_block_all(
    hermetic_env: Env, run: Runner, guard_cache: Path, tmp_path: Path
) -> None:
    hermetic_env.require(
        guard_cache,
        "network",
        "filesystem",
        "subprocess",
        "environment",
        "imports",
        "code_exec",
        "interpreter",
    )
    with http_counter() as server:
        for target in (["python", "-c", FETCH, _url(server)], ["ht-fetch", _url(server)]):
            proc = run(hermetic_env, "--profile", "block-all", "--", *target)
            assert proc.returncode == EXIT_VIOLATION, proc.stderr
            assert proc.stderr.startswith("hermetic: blocked ")
        assert server.hits == []
    marker = tmp_path / "spawned"
    spawn = f"import subprocess; subprocess.run(['touch', {str(marker)!r}])"
    proc = run(hermetic_env, "--profile", "block-all", "--", "python", "-c", spawn)
    assert proc.returncode == EXIT_VIOLATION, proc.stderr
    assert not marker.exists()
    assert run(hermetic_env, "--", "python", "-c", spawn).returncode == 0
    assert marker.exists()


@pytest.mark.parametrize("kind", ["in-process", "bootstrap"])
def test_flags_given_with_a_profile_refine_it(
    hermetic_env: Env, run: Runner, guard_cache: Path, tmp_path: Path, kind: str
) -> None:
    hermetic_env.require(guard_cache, "network", "filesystem")
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (tmp_path / "w.py").write_text(
        "import sys\nfor d in sys.argv[1:]:\n    open(d + '/f', 'w').write('x')\n"
    )
    target = ["w.py"] if kind == "in-process" else ["python", "w.py"]
    flags = ["--profile", "fs-readonly", "--allow-write", str(out)]
    allowed = run(hermetic_env, *flags, "--", *target, str(out))
    assert allowed.returncode == 0, allowed.stderr
    assert (out / "f").read_text() == "x"
    refused = run(hermetic_env, *flags, "--", *target, str(elsewhere))
    assert refused.returncode == EXIT_VIOLATION, refused.stderr
    assert not (elsewhere / "f").exists()
    with http_counter() as server:
        fetch = ["python", "-c", FETCH, _url(server)]
        profile = ["--profile", "net-hermetic", "--allow-domain", "192.0.2.1"]
        proc = run(hermetic_env, *profile, "--", *fetch)  # loopback still allowed
        assert proc.returncode == 0, proc.stderr
        assert len(server.hits) == 1


def test_deny_import_of_a_module_hermetic_imported_goes_through_the_bootstrap(
    hermetic_env: Env, run: Runner, guard_cache: Path, tmp_path: Path
) -> None:
    """In-process, hermetic has imported modules of its own; a denied one must still fail."""
    hermetic_env.require(guard_cache, "imports")
    (tmp_path / "t.py").write_text(
        "import sys\nprint('hermetic_cli' in sys.modules)\nimport binascii\nprint('imported')\n"
    )
    proc = run(hermetic_env, "--deny-import", "binascii", "--", "t.py")
    assert proc.returncode == EXIT_VIOLATION, proc.stderr
    assert proc.stdout == "False\n"  # not in-process: a fresh interpreter
    assert proc.stderr.startswith("hermetic: blocked imports: ")
    proc = run(hermetic_env, "--deny-import", "json", "--", "t.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "True\nimported\n"  # nothing hermetic imported: in-process
