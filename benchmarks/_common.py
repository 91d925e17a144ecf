"""What the benchmarks share: interleaved repetitions, medians, the installed guards.

Every figure is a median over repetitions in which all of its configurations run once, in an
order that rotates each repetition, so a machine that gets busier or quieter during a run
slows or speeds up every configuration alike; each figure is then reported as a ratio to
(or a difference from) its own baseline measured in the same run, never as an absolute time
compared with another run.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

#: A representative policy per first-party guard: what "one guard" and "every guard" switch
#: on in the in-process figures. Allow-lists are chosen so that the benchmarked operations
#: stay allowed (loopback connects, reads, an import the deny-list does not match).
POLICIES: dict[str, dict[str, Any]] = {
    "network": {"block_network": True, "allow_localhost": True},
    "filesystem": {"fs_readonly": True},
    "subprocess": {"block_subprocess": True},
    "environment": {"block_environment": True},
    "imports": {"deny_imports": ["hermetic_bench_denied"], "block_native": True},
    "code_exec": {"block_code_exec": True},
    "interpreter": {"block_interpreter_mutation": True},
}

#: The same policies as CLI flags (for the start-up figure).
FLAGS: dict[str, list[str]] = {
    "network": ["--no-network", "--allow-localhost"],
    "filesystem": ["--fs-readonly"],
    "subprocess": ["--no-subprocess"],
    "environment": ["--no-environment"],
    "imports": ["--deny-import", "hermetic_bench_denied", "--block-native"],
    "code_exec": ["--no-code-exec"],
    "interpreter": ["--no-interpreter-mutation"],
}

#: The import package of each first-party guard distribution (library start-up figure).
PACKAGES: dict[str, str] = {
    "hermetic-net": "hermetic_net",
    "hermetic-fs": "hermetic_fs",
    "hermetic-proc": "hermetic_proc",
    "hermetic-imports": "hermetic_imports",
}

_PROBE = """
import json
from hermetic.registry import registry
reg = registry()
out = {
    "loaded": {
        name: {
            "distribution": g.distribution,
            "options": {
                o.name: {"type": o.type.__name__, "enables": o.enables} for o in g.options
            },
        }
        for name, g in reg.guards.items()
    },
    "failed": {f.name: {"distribution": f.distribution, "error": f.describe()}
               for f in reg.failures},
}
print(json.dumps(out))
"""


class Guards:
    """The guards registered in an environment: which load, which do not and why."""

    def __init__(self, loaded: dict[str, Any], failed: dict[str, Any]) -> None:
        self.loaded = loaded
        self.failed = failed

    @classmethod
    def probe(cls, python: str, env: Mapping[str, str] | None = None) -> Guards:
        """Ask ``python`` (in a fresh process) what its registry holds."""
        done = subprocess.run(
            [python, "-c", _PROBE], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"cannot read the installed guards of {python}:\n{done.stderr}")
        data = json.loads(done.stdout)
        return cls(data["loaded"], data["failed"])

    def has(self, name: str) -> bool:
        """Whether guard ``name`` loads."""
        return name in self.loaded

    def why_not(self, name: str) -> str:
        """A note saying why guard ``name`` is not measured."""
        if name in self.failed:
            return f"skipped: guard {name!r} does not load here (see the list of guards)"
        return f"skipped: no guard {name!r} is installed"

    def policy(self, name: str) -> dict[str, Any] | None:
        """The representative policy of a loaded guard (None: none can be built)."""
        if name not in self.loaded:
            return None
        if name in POLICIES:
            return dict(POLICIES[name])
        # A third-party guard: switch it on through its first boolean enabling option.
        for option, info in self.loaded[name]["options"].items():
            if info["enables"] and info["type"] == "bool":
                return {option: True}
        return None

    def every_policy(self) -> tuple[dict[str, Any], list[str]]:
        """One policy switching on every loaded guard, and the guards it covers."""
        merged: dict[str, Any] = {}
        names = []
        for name in self.loaded:
            policy = self.policy(name)
            if policy is not None:
                merged.update(policy)
                names.append(name)
        return merged, names

    def every_flags(self) -> tuple[list[str], list[str]]:
        """CLI flags switching on every loaded first-party guard, and the guards covered."""
        flags: list[str] = []
        names = []
        for name in self.loaded:
            if name in FLAGS:
                flags += FLAGS[name]
                names.append(name)
        return flags, names

    def notes(self) -> list[str]:
        """One line per registered guard that does not load."""
        return [info["error"] for info in self.failed.values()]

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report."""
        return {"loaded": sorted(self.loaded), "failed": self.failed}


def rotations(names: Sequence[str], repetitions: int) -> Iterable[list[str]]:
    """Each repetition's order: the list rotated by one more place every time."""
    for rep in range(repetitions):
        shift = rep % len(names) if names else 0
        yield [*names[shift:], *names[:shift]]


def children_cpu() -> float:
    """CPU seconds (user + system) of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Failed(Exception):
    """A configuration that could not run (reported, the rest goes on)."""


def run_process(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Run ``argv`` to completion; return (wall s, child CPU s, completed process)."""
    cpu0 = children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        list(argv), env=env, cwd=cwd, capture_output=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - start
    return wall, children_cpu() - cpu0, done


def interleave(
    configs: Mapping[str, Callable[[], float]], repetitions: int, warmup: int = 1
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Run every configuration once per repetition, rotating the order.

    Each callable returns one sample (and raises :class:`Failed` if it cannot run). A
    configuration that fails during the warm-up is left out and its reason returned.
    """
    failures: dict[str, str] = {}
    for name, once in configs.items():
        try:
            for _ in range(warmup):
                once()
        except Failed as exc:
            failures[name] = f"failed: {exc}"
    names = [n for n in configs if n not in failures]
    samples: dict[str, list[float]] = {n: [] for n in names}
    for order in rotations(names, repetitions):
        for name in order:
            samples[name].append(configs[name]())
    return samples, failures


def median(values: Iterable[float]) -> float:
    """The median (a ValueError for no values)."""
    return float(statistics.median(list(values)))


def rnd(value: float | None, digits: int = 3) -> float | None:
    """Round for the report, keeping None."""
    return None if value is None else round(value, digits)


def python_info(python: str) -> dict[str, Any]:
    """Version and path of an interpreter."""
    out = subprocess.run(
        [python, "-c", "import sys, platform; print(sys.version.split()[0]); print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return {"executable": python, "version": out[0], "prefix": out[1]}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for measured children: ours, minus what would change their behaviour."""
    env = dict(os.environ)
    for name in (
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONSTARTUP",
        "PYTHONPROFILEIMPORTTIME",
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "VIRTUAL_ENV",
    ):
        env.pop(name, None)
    env.update(extra or {})
    return env


def bindir(python: str = sys.executable) -> str:
    """The ``bin`` directory of the environment of ``python`` (without resolving links)."""
    return os.path.dirname(os.path.abspath(python))


def tail(data: bytes | str, limit: int = 1500) -> str:
    """The end of a process's output, for an error message."""
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return text[-limit:].strip()


class Row:
    """One line of the summary table: a figure next to its target."""

    def __init__(
        self,
        figure: str,
        what: str,
        value: str,
        target: str,
        verdict: str,
        baseline: str = "",
    ) -> None:
        self.figure = figure
        self.what = what
        self.value = value
        self.baseline = baseline
        self.target = target
        self.verdict = verdict

    def as_dict(self) -> dict[str, str]:
        """For the JSON report."""
        return dict(vars(self))


def verdict(ok: bool | None) -> str:
    """``met`` / ``MISSED`` / ``n/a``."""
    if ok is None:
        return "n/a"
    return "met" if ok else "MISSED"


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; numbers right-aligned."""
    body = [list(map(_cell, row)) for row in rows]
    align = [
        "---:"
        if any(r[i] != "" for r in body) and all(_numeric(r[i]) for r in body if r[i] != "")
        else "---"
        for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value).replace("|", "\\|")


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("x%"))
    except ValueError:
        return False
    return True
