"""Targets and flags hermetic refuses: exit code 2, a clear message, and nothing run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import Env, Runner


def _marker_script(tmp_path: Path, header: str) -> tuple[Path, Path]:
    """An executable script with ``header`` whose body would create a marker file."""
    marker = tmp_path / "ran"
    script = tmp_path / "target"
    script.write_text(f"{header}\nopen({str(marker)!r}, 'w').close()\n")
    script.chmod(0o755)
    return script, marker


def _refused(proc: object, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # type: ignore[attr-defined]
    err = proc.stderr  # type: ignore[attr-defined]
    assert err.startswith("hermetic: "), err
    for fragment in fragments:
        assert fragment in err, err


def test_an_elf_binary_is_refused(hermetic_env: Env, run: Runner) -> None:
    _refused(run(hermetic_env, "--no-webbrowser", "--", "ls", "/"), "compiled program", "/ls")
    assert run(hermetic_env, "--no-webbrowser", "--", "ls", "/").stdout == ""


def test_a_shell_script_is_refused(hermetic_env: Env, run: Runner, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "tool.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    _refused(run(hermetic_env, "--no-webbrowser", "--", str(script)), "sh script", "Python")
    env_script = tmp_path / "tool2"
    env_script.write_text(f"#!/usr/bin/env bash\ntouch {marker}\n")
    env_script.chmod(0o755)
    _refused(run(hermetic_env, "--no-webbrowser", "--", str(env_script)), "bash script")
    assert not marker.exists()


def test_a_file_with_no_interpreter_line_is_refused(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    script, marker = _marker_script(tmp_path, "# no #! line")
    _refused(run(hermetic_env, "--", str(script)), "not a Python program", "-- python")
    assert not marker.exists()


@pytest.mark.parametrize("target", ["no-such-command-xyz", "./missing.py", "/nonexistent/tool"])
def test_a_missing_target_is_refused(hermetic_env: Env, run: Runner, target: str) -> None:
    _refused(run(hermetic_env, "--no-webbrowser", "--", target), target.lstrip("./"))


def test_a_directory_is_refused(hermetic_env: Env, run: Runner, tmp_path: Path) -> None:
    _refused(run(hermetic_env, "--", str(tmp_path)), "is a directory")


def test_module_function_that_does_not_exist(hermetic_env: Env, run: Runner) -> None:
    _refused(run(hermetic_env, "--", "no_such_module_q:main"), "no module named 'no_such_module_q'")
    _refused(run(hermetic_env, "--", "hermetic_cli_testtools:nope"), "'nope' not found")
    _refused(run(hermetic_env, "--", "not a:target"), "neither a command nor module:function")


@pytest.mark.parametrize(
    "options",
    [
        ["-I"],
        ["-S"],
        ["-E"],
        ["-IS"],
        ["-bE"],
        ["-u", "-S"],
        ["-X", "dev", "-E"],
        ["-Wd", "-I"],
        ["-Sc", "pass"],
    ],
)
def test_interpreter_options_that_skip_the_bootstrap_are_refused(
    hermetic_env: Env, run: Runner, tmp_path: Path, options: list[str]
) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()"
    args = options if options[-1] == "pass" else [*options, "-c", code]
    proc = run(hermetic_env, "--no-webbrowser", "--", "python", *args)
    _refused(proc, "refusing to run", "unguarded")
    assert not marker.exists()


@pytest.mark.parametrize(
    "options", [["-X", "E"], ["-c", "import sys; sys.exit(0)", "-I"], ["-W", "error", "-s"]]
)
def test_look_alike_options_are_not_refused(
    hermetic_env: Env, run: Runner, options: list[str]
) -> None:
    args = options if "-c" in options else [*options, "-c", "pass"]
    proc = run(hermetic_env, "--no-webbrowser", "--", "python", *args)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("shebang_options", ["-I", "-S", "-E", "-sE"])
def test_a_script_whose_interpreter_line_skips_the_bootstrap_is_refused(
    hermetic_env: Env, other_env: Env, run: Runner, tmp_path: Path, shebang_options: str
) -> None:
    for python in (hermetic_env.python, other_env.python):
        script, marker = _marker_script(tmp_path, f"#!{python} {shebang_options}")
        _refused(run(hermetic_env, "--no-webbrowser", "--", str(script)), "#! line passes")
        assert not marker.exists()
    script, marker = _marker_script(tmp_path, f"#!/usr/bin/env -S python3 {shebang_options}")
    _refused(run(hermetic_env, "--no-webbrowser", "--", str(script)), "#! line passes")
    assert not marker.exists()


def test_an_interpreter_older_than_39_or_not_cpython_is_refused(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nprintf 'cpython 3 8'\ntouch {tmp_path / 'ran'}\n")
    fake.chmod(0o755)
    _refused(run(hermetic_env, "--", str(fake), "-c", "pass"), "cpython 3.8", "CPython 3.9")
    fake.write_text("#!/bin/sh\nprintf 'pypy 3 10'\n")
    _refused(run(hermetic_env, "--", str(fake), "-c", "pass"), "pypy 3.10")
    fake.write_text("#!/bin/sh\nexit 3\n")
    _refused(run(hermetic_env, "--", str(fake), "-c", "pass"), "does not run as a Python 3")


def test_a_flag_whose_guard_is_not_installed_names_the_distribution(
    netonly_env: Env, run: Runner, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()"
    for flag, dist in [
        ("--fs-readonly", "hermetic-fs"),
        ("--no-subprocess", "hermetic-proc"),
        ("--no-env", "hermetic-proc"),
        ("--deny-import=json", "hermetic-imports"),
        ("--no-code-exec", "hermetic-imports"),
    ]:
        proc = run(netonly_env, flag, "--", "python", "-c", code)
        _refused(proc, f"requires {dist}: pip install {dist}")
    proc = run(netonly_env, "--profile", "block-all", "--", "python", "-c", code)
    _refused(proc, "profile 'block-all' needs guards that are not installed", "hermetic-fs")
    assert not marker.exists()


def test_unknown_flags_and_usage_errors(hermetic_env: Env, run: Runner, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()"
    cases = [
        (
            ["--no-webbrowsr", "--"],
            "unknown flag '--no-webbrowsr' (did you mean '--no-webbrowser'?)",
        ),
        (["-x", "--"], "unknown flag '-x'"),
        (["--no-webbrowser"], "unexpected argument 'python'"),
        (["--no-webbrowser=yes", "--"], "--no-webbrowser takes no value"),
        (["--profile", "--"], "--profile needs a value"),
        (["--profile", "nope", "--"], "unknown profile 'nope'"),
        (["--json", "--"], "--json goes with --list-guards"),
        (["--list-guards", "--"], "--list-guards runs no target"),
        (["--print-bootstrap", "--"], "--print-bootstrap prints the bootstrap and runs nothing"),
    ]
    for flags, message in cases:
        proc = run(hermetic_env, *flags, "python", "-c", code)
        _refused(proc, message)
    _refused(run(hermetic_env, "--no-webbrowser", "--"), "nothing to run")
    assert "usage: hermetic [FLAGS] -- TARGET" in run(hermetic_env, "--bogus").stderr
    assert not marker.exists()


def test_a_target_that_cannot_be_executed(hermetic_env: Env, run: Runner, tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text(f"#!{hermetic_env.python} -u\nprint('ran')\n")
    script.chmod(0o644)  # not executable: run through its interpreter
    proc = run(hermetic_env, "--no-webbrowser", "--", str(script))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"
    assert os.access(script, os.X_OK) is False
