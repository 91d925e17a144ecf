"""Start-up: what runs before the program is the environment's, and is not refused.

In the bootstrap the guard is installed while ``site`` starts the interpreter. The
sitecustomize hermetic chains to (the one the target would have loaded anyway) may add
import paths, import hooks and site directories and set up tracing, as it does without
hermetic; the interpreter then adds the script's directory to ``sys.path``. From the
program's first line on, the same changes are refused. The ``hermetic`` command's
in-process mode sets ``sys.path[0]`` itself before installing the guard.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hermetic.bootstrap import materialize
from hermetic.policy import BlockConfig
from hermetic_testsupport.runs import PRELUDE

from .conftest import POLICY

OWN_SITECUSTOMIZE = """
import os, site, sys, threading
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, "extra"))
class Finder:
    def find_spec(self, name, path=None, target=None):
        return None
sys.meta_path.append(Finder())
site.addsitedir(os.path.join(HERE, "sitedir"))
# what coverage.py does to follow threads: a hook that installs the real tracer
TRACED = []
def real_tracer(frame, event, arg):
    TRACED.append(frame.f_code.co_name)
def installer(frame, event, arg):
    sys.settrace(None)
    sys.settrace(real_tracer)
    return real_tracer(frame, event, arg)
threading.settrace(installer)
sys.modules["own_startup"] = sys.modules[__name__]
"""

MAIN = (
    PRELUDE
    + """
import os, sys, threading
import sibling
own = sys.modules.get("own_startup")
print("SIBLING", sibling.VALUE)
print("PATH0", sys.path[0])
print("EXTRA", any(p.endswith("extra") for p in sys.path))
print("FINDER", any(type(f).__name__ == "Finder" for f in sys.meta_path))
mark = os.path.join(os.path.dirname(own.__file__), "pth-ran") if own else None
print("PTH", os.path.exists(mark) if mark else None)
def work():
    return 1
t = threading.Thread(target=work)
t.start()
t.join()
print("THREAD_TRACED", "work" in own.TRACED if own else None)
attempt("program.sys.path", lambda: sys.path.append("/plugins"))
attempt("program.meta_path", lambda: sys.meta_path.append(object()))
attempt("program.settrace", lambda: sys.settrace(lambda *a: None))
attempt("program.chdir", lambda: os.chdir("/"))
attempt("program.addsitedir", lambda: __import__("site").addsitedir("/tmp"))
"""
)


def project(root: Path) -> tuple[Path, Path]:
    """``app/`` (main.py, sibling.py, a package) and ``own/`` (a sitecustomize of its own)."""
    app, own = root / "app", root / "own"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "main.py").write_text(MAIN)
    (app / "sibling.py").write_text("VALUE = 7\n")
    (own / "extra").mkdir(parents=True)
    (own / "sitecustomize.py").write_text(OWN_SITECUSTOMIZE)
    (own / "sitedir").mkdir()
    mark = own / "pth-ran"
    (own / "sitedir" / "own.pth").write_text(f"import os; open({str(mark)!r}, 'w').close()\n")
    return app, own


def lines(stdout: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in stdout.splitlines() if line[:1].isupper())


@pytest.mark.parametrize("how", ["script", "module"])
def test_bootstrap_start_up_is_the_environments(bare_python: str, tmp_path: Path, how: str) -> None:
    app, own = project(tmp_path)
    bootstrap = materialize(BlockConfig(**POLICY), root=str(tmp_path / "cache"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    argv = [bare_python, str(app / "main.py")] if how == "script" else [bare_python, "-m", "main"]
    results = {}
    for label, pythonpath in (("free", str(own)), ("guarded", f"{bootstrap}:{own}")):
        (own / "pth-ran").unlink(missing_ok=True)
        proc = subprocess.run(
            argv,
            env={**env, "PYTHONPATH": pythonpath},
            cwd=str(app),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        results[label] = proc
    for label, proc in results.items():
        seen = lines(proc.stdout)
        # the start-up's changes all took effect, guarded or not
        assert seen["SIBLING"] == "7", (label, proc.stdout, proc.stderr)
        assert seen["PATH0"] == str(app), (label, seen)
        assert [seen[k] for k in ("EXTRA", "FINDER", "PTH", "THREAD_TRACED")] == ["True"] * 4, (
            label,
            seen,
        )
    free, guarded = (results[k].stdout for k in ("free", "guarded"))
    for case in ("sys.path", "meta_path", "settrace", "chdir", "addsitedir"):
        assert f'["program.{case}", "ok"]' in free, free
        assert f'["program.{case}", "blocked", "interpreter"' in guarded, guarded


def test_cli_modes_put_the_script_directory_first(bare_python: str, tmp_path: Path) -> None:
    """``hermetic --no-interpreter-mutation -- python script.py``: in-process and bootstrap."""
    app, _own = project(tmp_path)
    (app / "boom.py").write_text("import sys, sibling\nsys.path.insert(0, '/plugins')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HERMETIC"))}
    env["HERMETIC_CACHE_DIR"] = str(tmp_path / "cli-cache")
    for python in (sys.executable, bare_python):
        command = [sys.executable, "-m", "hermetic", "--no-interpreter-mutation", "--"]
        proc = subprocess.run(
            [*command, python, "main.py"], env=env, cwd=str(app), capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        seen = lines(proc.stdout)
        assert (seen["SIBLING"], seen["PATH0"]) == ("7", str(app)), (python, proc.stdout)
        assert '["program.sys.path", "blocked", "interpreter"' in proc.stdout
        proc = subprocess.run(
            [*command, python, "boom.py"], env=env, cwd=str(app), capture_output=True, text=True
        )
        assert proc.returncode == 97, proc.stderr
        assert "hermetic: blocked interpreter: sys.path.insert(0, '/plugins')" in proc.stderr


FINALIZER = """
import os
class Late:
    def __del__(self):
        try:
            import colorsys
            outcome = "imported"
        except BaseException as e:
            outcome = type(e).__name__
        fd = os.open(OUT, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(fd, (outcome + "\\n").encode())
        os.close(fd)
keep = Late()  # finalized while the interpreter shuts down, after it set sys.path to None
"""


def test_shutting_down_is_not_a_replacement(bare_python: str, tmp_path: Path) -> None:
    bootstrap = materialize(BlockConfig(**POLICY), root=str(tmp_path / "cache"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = tmp_path / "finalizer.txt"
    code = f"OUT = {str(out)!r}\n" + FINALIZER
    for pythonpath in ("", bootstrap):
        proc = subprocess.run(
            [bare_python, "-c", code],
            env={**env, "PYTHONPATH": pythonpath},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    assert out.read_text().split() == ["ImportError", "ImportError"]
