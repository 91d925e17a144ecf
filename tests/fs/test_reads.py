"""Reads confined to ``fs_root``: outside refused, inside and the interpreter's own allowed.

Runs start in the root (for ``python -c`` the working directory is on ``sys.path``, so it is
readable: the docs say so), and every refused read is shown to work without the guard.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import pytest

from hermetic_testsupport.runs import GuardedRun

from .conftest import Layout

#: label -> code with O (the outside directory) and R (the root) defined.
READS_OUTSIDE = {
    "open_r": 'open(O + "/secret.txt").read()',
    "open_rb": 'open(O + "/secret.txt", "rb").read()',
    "io_open_code": 'io.open_code(O + "/secret.txt").read()',
    "_io_FileIO": '_io.FileIO(O + "/secret.txt").read()',
    "os_open": 'os.read(os.open(O + "/secret.txt", os.O_RDONLY), 10)',
    "os_open_dir_fd": 'os.open("secret.txt", os.O_RDONLY, dir_fd=os.open(O, os.O_RDONLY))',
    "pathlib_read_text": 'pathlib.Path(O, "secret.txt").read_text()',
    "os_listdir": "os.listdir(O)",
    "os_listdir_fd": "os.listdir(os.open(O, os.O_RDONLY))",
    "os_scandir": "list(os.scandir(O))",
    "os_walk": "list(os.walk(O))",
    "os_fwalk": "list(os.fwalk(O))",
    "glob_glob": 'glob.glob(O + "/*")',
    "glob_iglob": 'list(glob.iglob(O + "/*.txt"))',
    "pathlib_iterdir": "list(pathlib.Path(O).iterdir())",
    "pathlib_glob": 'list(pathlib.Path(O).glob("*"))',
    "pathlib_rglob": 'list(pathlib.Path(O).rglob("*"))',
    "dotdot": 'open(R + "/../outside/secret.txt").read()',
    "relative_after_chdir": 'os.chdir(O); open("secret.txt").read()',
    "symlink_file_in_root": 'open(R + "/secret_link").read()',
    "symlink_dir_in_root": 'open(R + "/to_outside/secret.txt").read()',
    "listdir_through_symlink": 'os.listdir(R + "/to_outside")',
    "sqlite3_read_only_uri": (
        'sqlite3.connect("file:" + O + "/db.sqlite?mode=ro", uri=True).execute("select 1")'
    ),
    "getxattr": 'os.listxattr(O + "/secret.txt")',
}
if sys.version_info >= (3, 10):
    READS_OUTSIDE["glob_root_dir"] = 'glob.glob("*", root_dir=O)'


def body(layout: Layout) -> str:
    lines = [
        "import os, io, _io, glob, pathlib, sqlite3",
        f"O = {str(layout.outside)!r}; R = {str(layout.root)!r}",
    ]
    for label, code in READS_OUTSIDE.items():
        lines += [
            f"def case_{label}():",
            "    try:",
            *(f"        {stmt}" for stmt in code.split("; ")),
            "    finally:",
            "        os.chdir(R)",
            f"attempt({label!r}, case_{label})",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_reads_outside_the_root_are_refused(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    run = guarded(mode, {"fs_root": str(layout.root)}, body(layout), cwd=layout.root)
    refused = {label for label in READS_OUTSIDE if run.status(label) == "blocked"}
    assert refused == set(READS_OUTSIDE), (sorted(set(READS_OUTSIDE) - refused), run.stderr)
    targets = {run.outcomes[label][3] for label in READS_OUTSIDE}
    outside = str(layout.outside)
    assert all(t == outside or t.startswith(outside + "/") for t in targets), targets
    message = run.outcomes["open_r"][4]
    assert message == (
        f"filesystem reads are confined to {layout.root}: "
        f"open('{layout.outside}/secret.txt', 'r') (outside the root; choose a root that "
        "contains it with --fs-readonly=DIR or fs_root=DIR)"
    )


def test_the_same_reads_work_without_the_guard(
    guarded: Callable[..., GuardedRun], layout: Layout
) -> None:
    run = guarded("inprocess", {}, body(layout), cwd=layout.root)
    failed = {k: run.outcomes[k] for k in READS_OUTSIDE if run.status(k) != "ok"}
    assert not failed, run.stderr


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_fs_readonly_with_a_path_means_the_same_root(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    run = guarded(
        mode,
        {"fs_readonly": str(layout.root)},
        f"""
        attempt("outside", lambda: open({str(layout.outside / "secret.txt")!r}).read())
        attempt("inside", lambda: open("data.txt").read())
        attempt("write", lambda: open("new.txt", "w"))
        """,
        cwd=layout.root,
    )
    assert run.status("outside") == "blocked"
    assert run.status("inside") == "ok"
    assert run.status("write") == "blocked"
    assert not (layout.root / "new.txt").exists()


KEEPS_WORKING = """
import os, sys
attempt("read_in_root", lambda: open("data.txt").read() == "inside" or 1/0)
attempt("read_in_subdir", lambda: os.listdir("sub"))
attempt("walk_root", lambda: list(os.walk(".")))
attempt("fwalk_root", lambda: list(os.fwalk(".")))
attempt("glob_root", lambda: __import__("glob").glob("*.txt") or 1/0)
attempt("fresh_stdlib_import", lambda: __import__("colorsys").rgb_to_hsv(1, 0, 0))
attempt("fresh_native_import", lambda: str(__import__("decimal").Decimal(1) / 3))
attempt("module_from_the_root", lambda: __import__("rootmod"))
def traceback_lines():
    import traceback, rootmod
    try:
        rootmod.boom()
    except ValueError:
        text = traceback.format_exc()
    assert "the source line a traceback must show" in text, text
attempt("traceback_source_lines", traceback_lines)
def stdlib_traceback_lines():
    import traceback, json
    try:
        json.loads("{")
    except ValueError:
        text = traceback.format_exc()
    assert "return _default_decoder.decode(s)" in text, text
attempt("stdlib_traceback_source_lines", stdlib_traceback_lines)
def resources():
    import importlib.resources as r
    assert r.files("pkgdata").joinpath("data.txt").read_text() == "package data"
    assert "email" in r.files("email").joinpath("architecture.rst").read_text()
attempt("importlib_resources", resources)
attempt("encodings", lambda: b"\\xc1".decode("cp037"))
attempt("argparse_help", lambda: __import__("argparse").ArgumentParser("x").format_help())
attempt("platform", lambda: __import__("platform").platform())
attempt("locale", lambda: __import__("locale").getpreferredencoding(False))
attempt("stat_outside", lambda: os.stat(SECRET).st_size == 6 or 1/0)
attempt("exists_outside", lambda: os.path.exists(SECRET) or 1/0)
attempt("dev_urandom", lambda: open("/dev/urandom", "rb").read(4))
attempt("dev_null", lambda: open(os.devnull).read())
attempt("print", lambda: print("printed"))
"""


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_the_root_and_the_interpreters_own_files_stay_readable(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    code = f"SECRET = {str(layout.outside / 'secret.txt')!r}\n" + KEEPS_WORKING
    run = guarded(mode, {"fs_root": str(layout.root)}, code, cwd=layout.root)
    failed = {k: v for k, v in run.outcomes.items() if v[1] != "ok"}
    assert not failed, run.stderr
    assert "printed" in run.stdout


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_a_script_outside_the_root_runs_with_its_own_directory_readable(
    layout: Layout, mode: str, bare_python: str, tmp_path: os.PathLike[str]
) -> None:
    """``python script.py``: the script's directory is sys.path[0], so it stays readable."""
    import subprocess

    from hermetic.bootstrap import materialize
    from hermetic.policy import BlockConfig

    scripts = layout.work / "scripts"
    scripts.mkdir()
    (scripts / "helper.py").write_text("VALUE = 42\n")
    (scripts / "main.py").write_text(
        "import helper, os\n"
        "print(helper.VALUE, open('data.txt').read())\n"
        f"try:\n    open({str(layout.outside / 'secret.txt')!r})\n"
        "except Exception as e:\n    print(type(e).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if mode == "bootstrap":
        config = BlockConfig(fs_root=str(layout.root))
        env["PYTHONPATH"] = materialize(config, root=str(layout.work / "cache"))
        argv = [bare_python, str(scripts / "main.py")]
    else:
        runner = (
            "import runpy, sys\n"
            "from hermetic import hermetic_blocker\n"
            f"sys.path.insert(0, {str(scripts)!r}); sys.argv = [{str(scripts / 'main.py')!r}]\n"
            f"with hermetic_blocker(fs_root={str(layout.root)!r}):\n"
            "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        )
        argv = [sys.executable, "-c", runner]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=layout.root)
    assert proc.stdout.split() == ["42", "inside", "PolicyViolation"], proc.stderr


CHDIR_IMPORTS = """
import os
os.chdir(OUTSIDE)  # "python -c" searches the working directory first
attempt("fresh_stdlib_import", lambda: __import__("wave"))
attempt("module_only_outside", lambda: __import__("outside_only"))
"""


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_after_a_chdir_outside_the_root_imports_skip_that_directory(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    (layout.outside / "outside_only.py").write_text("VALUE = 1\n")
    body = f"OUTSIDE = {str(layout.outside)!r}\n" + CHDIR_IMPORTS
    run = guarded(mode, {"fs_root": str(layout.root)}, body, cwd=layout.root)
    assert run.status("fresh_stdlib_import") == "ok", run.stderr
    assert run.outcomes["module_only_outside"][1:3] == ["error", "ModuleNotFoundError"]
    unguarded = guarded("inprocess", {}, body, cwd=layout.root)
    assert unguarded.status("module_only_outside") == "ok"


TRACEBACK_OUTSIDE = """
import linecache, traceback
SOURCE = "def f():\\n    1/0  # the line from outside\\n"
namespace = {}
exec(compile(SOURCE, OUTSIDE + "/outmod.py", "exec"), namespace)
def traceback_through_outside_code():
    try:
        namespace["f"]()
    except ZeroDivisionError:
        print("TRACEBACK", repr(traceback.format_exc()))
attempt("traceback", traceback_through_outside_code)
attempt("getline", lambda: print("GETLINE", repr(linecache.getline(OUTSIDE + "/secret.txt", 1))))
"""


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_tracebacks_through_code_from_outside_the_root_lose_only_the_source_line(
    guarded: Callable[..., GuardedRun], layout: Layout, mode: str
) -> None:
    (layout.outside / "outmod.py").write_text("def f():\n    1/0  # the line from outside\n")
    body = f"OUTSIDE = {str(layout.outside)!r}\n" + TRACEBACK_OUTSIDE
    run = guarded(mode, {"fs_root": str(layout.root)}, body, cwd=layout.root)
    assert (run.status("traceback"), run.status("getline")) == ("ok", "ok"), run.stderr
    assert 'outmod.py", line 2, in f' in run.stdout
    assert "the line from outside" not in run.stdout
    assert "GETLINE ''" in run.stdout
    unguarded = guarded("inprocess", {}, body, cwd=layout.root)
    assert "the line from outside" in unguarded.stdout
    assert "GETLINE 'secret" in unguarded.stdout
