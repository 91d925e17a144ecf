"""Unit tests of the command's pieces: flags, targets, interpreter options, #! lines."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermetic.registry import Registry
from hermetic_cli import app, flags, interpreters, shebang, targets
from hermetic_cli.errors import CLIError
from hermetic_testsupport.fakeguards import entry, fake_registry


@pytest.fixture
def reg() -> Iterator[Registry]:
    with fake_registry() as registry:
        yield registry


# -- flags --------------------------------------------------------------------------------
def test_command_flags_agree() -> None:
    assert set(flags.COMMANDS) == app.COMMAND_FLAGS


def test_parse_options_by_kind(reg: Registry) -> None:
    request = flags.parse(
        [
            "--no-alpha",
            "--allow-alpha",
            "A",
            "--allow-alpha=b",
            "--alpha-root=/r",
            "--trace",
            "--seal",
            "--profile",
            "p1",
            "--profile=p2",
            "--no-beta",
        ],
        reg,
    )
    assert request.options == {
        "block_alpha": True,
        "allow_alpha": ("A", "b"),
        "alpha_root": "/r",
        "block_beta": True,
    }
    assert request.profiles == ["p1", "p2"]
    assert request.policy() == {**request.options, "trace": True, "sealed": True}
    assert request.command is None


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["--no-alpha=1"], "--no-alpha takes no value"),
        (["--alpha-root"], "--alpha-root needs a value"),
        (["--alpha-root", "/a", "--alpha-root", "/b"], "given two different values"),
        (["--allow-alpha="], "--allow-alpha= needs a value"),
        (["--no-gamma"], "unknown flag '--no-gamma'"),
        (["--no-alph"], "did you mean '--no-alpha'?"),
        (["-q"], "unknown flag '-q'"),
        (["stray"], "unexpected argument 'stray'"),
        (["--list-guards", "--version"], "cannot be combined"),
        (["--json"], "--json goes with"),
        (["--trace=yes"], "--trace takes no value"),
        (["--no-network"], "requires hermetic-net: pip install hermetic-net"),
    ],
)
def test_parse_errors(reg: Registry, tokens: list[str], message: str) -> None:
    with pytest.raises(CLIError, match=None) as caught:
        flags.parse(tokens, reg)
    assert message in str(caught.value)
    assert caught.value.usage


def test_parse_commands(reg: Registry) -> None:
    assert flags.parse(["-h"], reg).command == "help"
    request = flags.parse(["--list-guards", "--json"], reg)
    assert (request.command, request.json) == ("list-guards", True)
    assert flags.parse(["--no-alpha", "--print-bootstrap"], reg).command == "print-bootstrap"


def test_optional_value_flags() -> None:
    from hermetic.contract import Option, define_guard
    from hermetic_testsupport import fakeguards

    guard = define_guard(
        "delta",
        summary="x",
        patch_module=fakeguards.PATCH,
        options=[
            Option("ro", bool, flags=["--ro"], enables=True, value_into="ro_root"),
            Option("ro_root", str, flags=["--ro-root"], metavar="ROOT"),
        ],
    )
    fakeguards.delta = guard  # type: ignore[attr-defined]
    try:
        with fake_registry(entry("delta", "delta")) as reg:
            assert flags.parse(["--ro"], reg).options == {"ro": True}
            assert flags.parse(["--ro=/a"], reg).options == {"ro": "/a"}
            assert flags.parse(["--ro", "/a"], reg).options == {"ro": "/a"}
            assert flags.parse(["--ro", "--ro=/a"], reg).options == {"ro": "/a"}
            assert flags.parse(["--ro", "--trace"], reg).options == {"ro": True}
            with pytest.raises(CLIError, match="given two different values"):
                flags.parse(["--ro=/a", "--ro=/b"], reg)
            with pytest.raises(CLIError, match="disagree"):
                flags.parse(["--ro=/a", "--ro-root=/b"], reg)
            assert flags.flag_metavar(guard, guard.option("ro")) == "ROOT"
    finally:
        del fakeguards.delta  # type: ignore[attr-defined]


# -- interpreter options ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["-I", "-c", "pass"], "I"),
        (["-S"], "S"),
        (["-E", "x.py"], "E"),
        (["-bIS"], "I"),
        (["-u", "-sE"], "E"),
        (["-X", "dev", "-S"], "S"),
        (["-Xdev", "-E"], "E"),
        (["-W", "error", "-I"], "I"),
        (["--check-hash-based-pycs", "always", "-S"], "S"),
        (["-X", "E"], None),
        (["-XE"], None),
        (["-WE"], None),
        (["-c", "pass", "-I"], None),
        (["-cI"], None),
        (["-m", "mod", "-S"], None),
        (["script.py", "-E"], None),
        (["-", "-E"], None),
        (["--", "-E"], None),
        (["-s", "-B", "-u", "-O", "-P"], None),
        ([], None),
    ],
)
def test_defeating_option(args: list[str], refused: str | None) -> None:
    found = interpreters.defeating_option(args)
    assert (found[1] if found else None) == refused


def test_defeating_shebang_option_splits_the_single_argument() -> None:
    assert interpreters.defeating_shebang_option(["-u -S"])
    assert interpreters.defeating_shebang_option(["-u"]) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("python", True),
        ("python3", True),
        ("python3.13", True),
        ("python3.13t", True),
        ("python3.12d", True),
        ("python-config", False),
        ("pythonista", False),
        ("py", False),
        ("ipython", False),
        ("python3-config", False),
    ],
)
def test_is_python_name(name: str, expected: bool) -> None:
    assert interpreters.is_python_name(name) is expected


def test_same_environment(tmp_path: Path) -> None:
    assert interpreters.same_environment(sys.executable)
    link = tmp_path / "python"
    link.symlink_to(os.path.realpath(sys.executable))
    assert not interpreters.same_environment(str(link))  # same binary, another environment


def test_interpreter_facts_are_probed_once_per_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERMETIC_CACHE_DIR", str(tmp_path / "cache"))
    binary = tmp_path / "python3.12"
    binary.write_bytes(b"\x7fELF fake")
    calls: list[str] = []

    def probe(path: str) -> tuple[str, int, int]:
        calls.append(path)
        return ("cpython", 3, 12)

    monkeypatch.setattr(interpreters, "_probe", probe)
    interpreters.check_supported(str(binary), launcher=False)
    interpreters.check_supported(str(binary), launcher=False)
    assert len(calls) == 1
    binary.write_bytes(b"\x7fELF other binary")  # replaced: asked again
    interpreters.check_supported(str(binary), launcher=False)
    assert len(calls) == 2
    interpreters.check_supported(str(binary), launcher=True)
    interpreters.check_supported(str(binary), launcher=True)
    assert len(calls) == 4  # a launcher may run another Python each time
    monkeypatch.setattr(interpreters, "_probe", lambda path: ("cpython", 3, 8))
    with pytest.raises(CLIError, match=r"cpython 3\.8"):
        interpreters.check_supported(str(binary), launcher=True)


# -- #! lines -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"#!/usr/bin/python3\nx", ["/usr/bin/python3"]),
        (b"#! /usr/bin/python3  -u -E \r\n", ["/usr/bin/python3", "-u -E"]),
        (b"#!/usr/bin/env python3\n", ["/usr/bin/env", "python3"]),
        (b"#!\n", None),
        (b"print(1)\n", None),
        (b"", None),
    ],
)
def test_interpreter_line(head: bytes, expected: list[str] | None) -> None:
    assert shebang.interpreter_line(head) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"#!/bin/sh\n'''exec' \"/a b/python\" \"$0\" \"$@\"\n' '''\n", ["/a b/python"]),
        (b"#!/bin/sh\n'''exec' '/a/python' -E \"$0\" \"$@\"\n' '''\n", ["/a/python", "-E"]),
        (b"#!/bin/sh\n'''exec' /a/python \"$0\" \"$@\"\n", ["/a/python"]),
        (b"#!/bin/sh\necho hi\n", None),
        (b"#!/usr/bin/python3\n'''exec' /a/python \"$0\" \"$@\"\n", None),
        (b"#!/bin/sh\n'''exec' \"/a/python \"$0\"\n", None),
    ],
)
def test_shell_exec_line(head: bytes, expected: list[str] | None) -> None:
    assert shebang.shell_exec_line(head) == expected


def test_is_binary() -> None:
    assert shebang.is_binary(b"\x7fELF\x02\x01")
    assert shebang.is_binary(b"\xcf\xfa\xed\xfe")
    assert not shebang.is_binary(b"#!/bin/sh")


# -- targets ------------------------------------------------------------------------------
def _script(path: Path, text: str, mode: int = 0o755) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_resolve_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "bin").mkdir()
    mine = _script(tmp_path / "bin" / "mine", f"#!{sys.executable}\npass\n")
    plan = targets.resolve(["mine", "a"])
    assert (plan.mode, plan.path, plan.argv) == ("script", str(mine), [str(mine), "a"])
    (tmp_path / "x.py").write_text("pass\n")
    assert targets.resolve(["x.py", "1"]).mode == "script"
    assert targets.resolve(["x.py", "1"]).argv == ["x.py", "1"]
    plan = targets.resolve(["pkg.mod:main.run", "z"])
    assert (plan.mode, plan.entry, plan.argv) == (
        "entry",
        ("pkg.mod", "main.run"),
        ["pkg.mod:main.run", "z"],
    )
    plan = targets.resolve([sys.executable, "-c", "pass"])
    assert (plan.mode, plan.argv) == ("exec", [sys.executable, "-c", "pass"])
    other = _script(tmp_path / "other", f"#!{sys.executable} -u\npass\n")
    assert targets.resolve([str(other)]).argv == [str(other)]
    assert targets.resolve([str(other)]).mode == "exec"
    _script(other, f"#!{sys.executable} -u\npass\n", 0o644)
    assert targets.resolve([str(other), "q"]).argv == [sys.executable, "-u", str(other), "q"]


def test_as_exec_keeps_what_the_target_sees(tmp_path: Path) -> None:
    script = targets.Plan("script", "s.py", ["s.py", "a"])
    assert script.as_exec().argv == [sys.executable, "s.py", "a"]
    entry_plan = targets.Plan("entry", "m:f", ["m:f", "a"], ("m", "f"))
    converted = entry_plan.as_exec()
    assert converted.argv[:2] == [sys.executable, "-c"] and converted.argv[3:] == ["a"]
    (tmp_path / "m.py").write_text("import sys\ndef f():\n    print(sys.argv)\n    return 3\n")
    import subprocess

    proc = subprocess.run(converted.argv, cwd=tmp_path, capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (3, "['m:f', 'a']\n")


def test_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _script(tmp_path / "tool", "#!/bin/sh\n")
    _script(tmp_path / "noexec", "#!/bin/sh\n", 0o644)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert targets.which("tool") == str(tmp_path / "tool")
    assert targets.which("noexec") is None
    assert targets.which("missing") is None


def test_interpreter_options_without_an_interpreter() -> None:
    with pytest.raises(CLIError, match="hermetic \\[FLAGS\\] -- python -m"):
        targets.resolve(["-m", "pytest"])
    with pytest.raises(CLIError, match="empty string"):
        targets.resolve([""])
