"""Which targets run in-process and which through the bootstrap, and what they see."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from .conftest import Env, Runner

SHOW = """
import json, os, sys
main = sys.modules["__main__"]
print(json.dumps({
    "argv": sys.argv, "name": __name__, "file": globals().get("__file__"),
    "path0": sys.path[0], "in_process": "hermetic_cli" in sys.modules,
    "main_is_me": getattr(main, "__dict__", None) is globals(),
    "pythonpath": os.environ.get("PYTHONPATH"),
}))
"""


def _facts(proc: Any) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    last: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return last


def test_console_script_of_the_same_environment_runs_in_process(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", "ht-show", "a", "--b"))
    assert facts["in_process"] is True
    assert facts["argv"] == [hermetic_env.bin("ht-show"), "a", "--b"]
    assert facts["main_file"] == hermetic_env.bin("ht-show")
    assert facts["path0"] == str(hermetic_env.bindir.resolve())
    # child Pythons inherit the guards
    assert facts["pythonpath"].startswith(str(tmp_path / "hermetic-cache" / "bootstrap"))


def test_console_script_of_another_environment_runs_through_the_bootstrap(
    hermetic_env: Env, other_env: Env, run: Runner, tmp_path: Path
) -> None:
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", other_env.bin("ht-show"), "x"))
    assert facts["in_process"] is False
    assert facts["executable"] == other_env.python
    assert facts["argv"] == [other_env.bin("ht-show"), "x"]
    assert facts["path0"] == str(other_env.bindir.resolve())
    bootstrap = facts["pythonpath"].split(os.pathsep)[0]
    assert bootstrap.startswith(str(tmp_path / "hermetic-cache" / "bootstrap"))


def test_python_targets_run_through_the_bootstrap(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    script = tmp_path / "show.py"
    script.write_text(SHOW)
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", "python", "-c", SHOW, "x"))
    assert facts["in_process"] is False
    assert facts["argv"] == ["-c", "x"]
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", "python", str(script), "y"))
    assert facts["in_process"] is False
    assert facts["argv"] == [str(script), "y"]
    facts = _facts(
        run(hermetic_env, "--no-webbrowser", "--", hermetic_env.python, "-u", str(script))
    )
    assert facts["in_process"] is False
    (tmp_path / "showmod.py").write_text(SHOW)
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", "python", "-m", "showmod", "z"))
    assert facts["argv"] == [str(tmp_path / "showmod.py"), "z"]
    assert facts["name"] == "__main__"


def test_a_py_file_runs_in_process_like_the_interpreter_runs_it(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "show.py").write_text(SHOW)
    (sub / "helper_mod.py").write_text("VALUE = 7\n")
    (sub / "uses_helper.py").write_text("import helper_mod, sys\nsys.exit(helper_mod.VALUE)\n")
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", "sub/show.py", "a", "-b"))
    assert facts["in_process"] is True
    assert facts["argv"] == ["sub/show.py", "a", "-b"]
    assert facts["name"] == "__main__"
    assert facts["file"] == "sub/show.py"
    assert facts["main_is_me"] is True
    assert facts["path0"] == str(sub.resolve())
    # a module next to the script is importable, as with `python sub/uses_helper.py`
    assert run(hermetic_env, "--", "sub/uses_helper.py").returncode == 7
    # a .py file in the working directory needs no ./
    (tmp_path / "here.py").write_text(SHOW)
    assert _facts(run(hermetic_env, "--", "here.py"))["in_process"] is True


def test_an_in_process_script_starts_without_importlib_warnings_or_types(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    # Each costs a few tenths of a millisecond of every start; a plain interpreter loads
    # none of them. The first run of a policy (no cached policy yet) reads the guards'
    # sources for the bootstrap, with importlib.util; the runs after it are what counts.
    (tmp_path / "mods.py").write_text(
        "import sys\n"
        "print(sorted(m for m in ('importlib', 'warnings', 'types') if m in sys.modules))\n"
    )
    plain = subprocess.run(
        [hermetic_env.bin("python"), "mods.py"], cwd=tmp_path, capture_output=True, text=True
    )
    assert plain.stdout == "[]\n", plain.stderr
    for _ in range(2):
        done = run(hermetic_env, "--no-network", "--", "mods.py")
        assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_module_function_runs_in_process(hermetic_env: Env, run: Runner, tmp_path: Path) -> None:
    (tmp_path / "entrymod.py").write_text(
        "import sys\n"
        "class Tool:\n"
        "    @staticmethod\n"
        "    def main():\n"
        "        print(sys.argv, 'hermetic_cli' in sys.modules)\n"
        "        return 4\n"
    )
    proc = run(hermetic_env, "--no-webbrowser", "--", "entrymod:Tool.main", "p", "q")
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == "['entrymod:Tool.main', 'p', 'q'] True\n"
    proc = run(hermetic_env, "--", "hermetic_cli_testtools:exit_with", "9")
    assert proc.returncode == 9


def test_a_script_whose_interpreter_line_names_our_interpreter_via_env(
    hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/usr/bin/env python\n" + SHOW)
    script.chmod(0o755)
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", str(script)))
    assert facts["in_process"] is True
    # with interpreter options on the #! line it needs the interpreter's own start-up
    script.write_text(f"#!{hermetic_env.python} -u\n" + SHOW)
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", str(script)))
    assert facts["in_process"] is False


def test_long_interpreter_paths_in_a_shell_wrapper(
    other_env: Env, hermetic_env: Env, run: Runner, tmp_path: Path
) -> None:
    """pip writes a /bin/sh wrapper when the interpreter path is too long for #!."""
    script = tmp_path / "wrapped"
    script.write_text(f"#!/bin/sh\n'''exec' \"{other_env.python}\" \"$0\" \"$@\"\n' '''\n" + SHOW)
    script.chmod(0o755)
    facts = _facts(run(hermetic_env, "--no-webbrowser", "--", str(script), "w"))
    assert facts["in_process"] is False
    assert facts["argv"] == [str(script), "w"]
    script.write_text(f"#!/bin/sh\n'''exec' '{other_env.python}' -E \"$0\" \"$@\"\n' '''\n")
    proc = run(hermetic_env, "--", str(script))
    assert proc.returncode == 2 and "-E" in proc.stderr
