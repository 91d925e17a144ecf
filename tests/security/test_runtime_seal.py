"""The sealed runtime against code that tries to switch hermetic off ("runtime" in the catalogue).

Every attack is proven both ways: in an unsealed process it really switches guards off (a
loopback listener counts the connection, the file appears), in a sealed one it does not,
in-process and in the bootstrap (where the runtime lives in the generated
``sitecustomize``). Sealing is irreversible, so all of it runs in subprocesses: each attack
alone in an unsealed process, and all of them one after the other in a sealed one (each
label then shows that the attacks so far, together, still left every probe refused).

The probes after each attack: a connect through ``_socket`` (audit layer only), one through
``socket.create_connection`` (patch and audit layers) and an ``open`` for writing outside
(audit layer only). The residual cases pin what a program that targets hermetic itself can
still do, as docs/sealed.md says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
from security.support import Batch, Outcome, Paths, hermetic_command, outcomes_of

from hermetic_testsupport.runs import PRELUDE


def tree(work: Path) -> Paths:
    out = Path(os.path.realpath(work)) / "out"
    out.mkdir(parents=True)
    return {"out": out}


GUARDS: dict[str, Any] = {"block_network": True, "fs_readonly": True}
SEALED: dict[str, Any] = {**GUARDS, "sealed": True}

COMMON = """
import _socket, _thread, gc, importlib, socket, sys
RUNTIME_MODULE = sys.modules.get("hermetic._runtime") or sys.modules["sitecustomize"]
RUNTIME = RUNTIME_MODULE.RUNTIME
IN_PROCESS = "hermetic._runtime" in sys.modules

def probe(name):
    attempt(name + ":c", lambda: _socket.socket().connect(ADDRESSES[name + ":c"]))
    attempt(name + ":py", lambda: socket.create_connection(ADDRESSES[name + ":py"], 5).close())
    attempt(name + ":write", lambda: open(OUT + "/" + name + ".txt", "w").close())

def of_type(name):
    return [o for o in gc.get_objects() if type(o).__name__ == name]

def uninstall_all():
    from hermetic.guards import uninstall_all
    uninstall_all()

def leave_blockers():
    for blocker in of_type("HermeticBlocker"):
        blocker.__exit__(None, None, None)

def empty_the_stack():
    from hermetic._activation import ACTIVATION
    ACTIVATION.clear()
    ACTIVATION._entries.clear()
    ACTIVATION._reconcile()

def undo_layers():
    if IN_PROCESS:
        from hermetic._activation import ACTIVATION
        for layers in ACTIVATION._layers.values():
            for layer in layers:
                layer.guard.uninstall(layer.handle)
    for handle in of_type("GuardRuntime"):
        handle.undo()

def suspend():
    RUNTIME.suspend()

def own_events():
    sys.audit("hermetic.selftest", object())
    sys.audit("hermetic.subscribe", "socket.connect", lambda event, args: None)
    sys.addaudithook = lambda hook: None  # too late: hermetic's hook is already in

def clear_handlers():
    RUNTIME._handlers.clear()

def mark_suspended():
    RUNTIME._suspended = True
    for value in vars(RUNTIME).values():
        if isinstance(value, _thread._local):
            value.busy = True  # what the hook once read to skip its handlers' own events

def unseal_and_undo():
    RUNTIME._sealed = False
    undo_layers()
    if IN_PROCESS:
        uninstall_all()

def reload_the_runtime():
    importlib.reload(sys.modules["hermetic._runtime"])
    uninstall_all()

def relax():
    from hermetic import hermetic_blocker
    hermetic_blocker(block_network=False, allow_localhost=True, fs_readonly=False).__enter__()

def run(name, in_process_only=False):
    if in_process_only and not IN_PROCESS:
        return
    attempt(name, globals()[name])
    probe(name)
"""

#: attack -> (in-process only, what escapes when the process is NOT sealed)
ATTACKS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "uninstall_all": (True, ("c", "py", "write")),
    "leave_blockers": (True, ("c", "py", "write")),
    "empty_the_stack": (True, ("c", "py", "write")),
    "undo_layers": (False, ("c", "py", "write")),
    "suspend": (False, ("c", "py", "write")),
    "own_events": (False, ()),
    "clear_handlers": (False, ("c", "write")),
    "mark_suspended": (False, ("c", "write")),
    "unseal_and_undo": (False, ("c", "py", "write")),
    "reload_the_runtime": (True, ("c", "py", "write")),
    "relax": (True, ()),
}
PROBES = ("c", "py", "write")


def servers(*attacks: str) -> list[str]:
    return [f"{a}:{p}" for a in attacks for p in ("c", "py")]


@pytest.fixture(scope="module")
def sealed_runs(batch: Callable[..., Batch]) -> Batch:
    """Every attack, in order, in one sealed process per delivery mode."""
    body = COMMON + "".join(f"run({name!r}, {only})\n" for name, (only, _) in ATTACKS.items())
    return batch(body, {"sealed": SEALED}, servers=servers(*ATTACKS), tree=tree)


@pytest.fixture(scope="module")
def unsealed_runs(batch: Callable[..., Batch]) -> dict[str, Batch]:
    """Each attack alone in an unsealed in-process run (an attack there is for good)."""
    return {
        name: batch(
            COMMON + f"run({name!r})\n",
            {"unsealed": GUARDS},
            modes=["inprocess"],
            servers=servers(name),
            tree=tree,
        )
        for name in ATTACKS
    }


def written(outcome: Outcome, name: str) -> bool:
    return (outcome.paths["out"] / f"{name}.txt").exists()


def check(sealed_runs: Batch, unsealed_runs: dict[str, Batch], name: str) -> None:
    """Unsealed, the attack switches off what ATTACKS says; sealed, every probe is refused."""
    in_process_only, escapes = ATTACKS[name]
    labels = [f"{name}:{p}" for p in PROBES]
    unsealed = unsealed_runs[name]
    if escapes:
        unsealed.escapes(*(f"{name}:{p}" for p in escapes))
        assert written(unsealed.on[0], name) == ("write" in escapes)
    else:  # nothing to switch off: the probes work at all without any guard
        unsealed.works_off(*labels)
    for outcome in sealed_runs.on:
        if in_process_only and outcome.mode == "bootstrap":
            continue
        assert outcome.status(name) == "ok", (outcome.run.outcomes.get(name), outcome.why())
        for label in labels:
            got = outcome.run.outcomes.get(label)
            assert outcome.status(label) == "blocked", (label, got, outcome.why())
            assert outcome.reached.get(label, 0) == 0, label
        assert not written(outcome, name)


@pytest.mark.bypass(
    "runtime", "hermetic.guards.uninstall_all() (sealed)", verdict="blocked", layer="patch+audit"
)
def test_uninstall_all(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "uninstall_all")


@pytest.mark.bypass(
    "runtime",
    "leaving the blocker early: __exit__ of every HermeticBlocker found by gc (sealed)",
    verdict="blocked",
    layer="patch+audit",
)
def test_leaving_the_blocker_early(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "leave_blockers")


@pytest.mark.bypass(
    "runtime",
    "the policy stack emptied by hand (ACTIVATION._entries, _reconcile) (sealed)",
    verdict="blocked",
    layer="patch+audit",
)
def test_the_policy_stack_emptied(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "empty_the_stack")


@pytest.mark.bypass(
    "runtime",
    "every layer undone by hand: guard.uninstall(), GuardRuntime.undo() (sealed)",
    verdict="blocked",
    layer="patch+audit",
)
def test_layers_undone_by_hand(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "undo_layers")


@pytest.mark.bypass("runtime", "RUNTIME.suspend() (sealed)", verdict="blocked", layer="patch+audit")
def test_suspending_the_runtime(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "suspend")


@pytest.mark.bypass(
    "runtime",
    "hermetic's own audit events sent by the program (hermetic.selftest, hermetic.subscribe), "
    "sys.addaudithook replaced afterwards",
    verdict="blocked",
    layer="audit",
)
def test_hermetic_s_own_audit_events(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "own_events")


@pytest.mark.bypass(
    "runtime", "RUNTIME._handlers cleared (sealed)", verdict="blocked", layer="audit"
)
def test_the_handler_table_cleared(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "clear_handlers")


@pytest.mark.bypass(
    "runtime",
    "RUNTIME._suspended set, the runtime's thread-locals marked busy (sealed)",
    verdict="blocked",
    layer="audit",
)
def test_the_runtime_marked_suspended(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "mark_suspended")


@pytest.mark.bypass(
    "runtime",
    "RUNTIME._sealed = False, then every layer undone (sealed)",
    verdict="blocked",
    layer="audit",
)
def test_the_seal_flag_cleared(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "unseal_and_undo")


@pytest.mark.bypass(
    "runtime",
    "hermetic._runtime reloaded, then uninstall_all() (sealed)",
    verdict="blocked",
    layer="patch+audit",
)
def test_the_runtime_module_reloaded(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "reload_the_runtime")


@pytest.mark.bypass(
    "runtime",
    "an inner blocker relaxing the policy (block_network=False, allow_localhost=True)",
    verdict="blocked",
    layer="patch+audit",
)
def test_an_inner_blocker_cannot_relax(sealed_runs: Batch, unsealed_runs: dict[str, Batch]) -> None:
    check(sealed_runs, unsealed_runs, "relax")
    # stricter wins whether sealed or not: the relaxing blocker changed nothing unsealed either
    for label in (f"relax:{p}" for p in PROBES):
        assert unsealed_runs["relax"].on[0].status(label) == "blocked"


@pytest.mark.bypass(
    "runtime",
    "guards switched off by the guarded code itself, without seal (uninstall_all, __exit__)",
    verdict="residual",
    layer="none",
)
def test_known_gap_an_unsealed_process_can_switch_its_guards_off(
    unsealed_runs: dict[str, Batch],
) -> None:
    for name in ("uninstall_all", "leave_blockers"):
        for outcome in unsealed_runs[name].escapes(*(f"{name}:{p}" for p in PROBES)):
            assert written(outcome, name)


# -- hermetic's audit hook could not be added ----------------------------------------------

NO_HOOK = """
import _socket, sys
from hermetic import hermetic_blocker
real = sys.addaudithook
def enter(label):
    with hermetic_blocker(**POLICY):
        _socket.socket().connect(ADDRESSES[label])
sys.addaudithook = lambda hook: None  # hermetic's hook is never added
attempt("replaced", lambda: enter("replaced"))
sys.addaudithook = real
def veto(event, args):
    if event == "sys.addaudithook":
        raise RuntimeError("no hooks after mine")  # makes sys.addaudithook add nothing
sys.addaudithook(veto)
attempt("vetoed", lambda: enter("vetoed"))
"""


@pytest.mark.bypass(
    "runtime",
    "sys.addaudithook replaced, or vetoed by an earlier hook, before the first blocker",
    verdict="blocked",
    layer="audit",
)
def test_a_missing_audit_hook_fails_closed(batch: Callable[..., Batch]) -> None:
    runs = batch(
        NO_HOOK, {"network": {"block_network": True}}, servers=["replaced", "vetoed"], enters=True
    )
    runs.works_off("replaced", "vetoed")  # no guard needs the hook: the blocker enters
    for outcome in runs.on:
        for label in ("replaced", "vetoed"):
            # the blocker refuses to start rather than run without its audit layer
            assert outcome.run.outcomes[label][1:3] == ["error", "HermeticError"], outcome.why()
            assert outcome.reached[label] == 0


# -- residuals: code that goes for hermetic's own state ------------------------------------

HOOK_STATE = """
def empty_the_hook():
    for hook in gc.get_objects():
        if getattr(hook, "__name__", None) == "_hermetic_audit_hook":
            for cell in hook.__closure__:
                if isinstance(cell.cell_contents, dict):
                    cell.cell_contents.clear()
def busy_everywhere():
    # the hook's set of the threads inside a handler now: this thread joins it for good
    for hook in gc.get_objects():
        if getattr(hook, "__name__", None) == "_hermetic_audit_hook":
            for cell in hook.__closure__:
                if type(cell.cell_contents) is set:
                    cell.cell_contents.add(_thread.get_ident())
run(ATTACK)
"""

FOREIGN_CODE = """
def in_the_hook(name):
    done = []
    def evil(*args):
        if not done:
            done.append(1)
            probe(name)
    return evil
def observer():
    RUNTIME.observe(in_the_hook("observer"))
    _socket.socket().connect(("127.0.0.1", 9))  # refused: the observer hears of it
class Evil:
    def __init__(self, real):
        self.real, self.write = real, in_the_hook("stderr")
    def __getattr__(self, name):
        return getattr(self.real, name)
def stderr():
    sys.stderr = Evil(sys.stderr)  # hermetic writes its trace line to it
    _socket.socket().connect(("127.0.0.1", 9))
def subscribed():
    sys.audit("hermetic.subscribe", "open", in_the_hook("subscribed"))
    open(__import__("os").devnull).close()  # an allowed open: the handler runs
for name in ("observer", "stderr", "subscribed"):
    attempt(name, globals()[name])
"""


@pytest.fixture(scope="module")
def hook_state(batch: Callable[..., Batch]) -> dict[str, Batch]:
    return {
        attack: batch(
            COMMON + f"ATTACK = {attack!r}\n" + HOOK_STATE,
            {"sealed": SEALED},
            servers=servers(attack),
            tree=tree,
        )
        for attack in ("empty_the_hook", "busy_everywhere")
    }


@pytest.mark.bypass(
    "runtime",
    "the sealed hook's own state reached through gc "
    "(its table emptied, the program's thread put in its set of busy threads)",
    verdict="residual",
    layer="none",
)
def test_known_gap_the_hook_s_own_state_through_gc(hook_state: dict[str, Batch]) -> None:
    for attack, runs in hook_state.items():
        # the audit layer is gone; the patch layer still refuses the patched path
        for outcome in runs.escapes(f"{attack}:c", f"{attack}:write"):
            assert outcome.status(f"{attack}:py") == "blocked"
            assert written(outcome, attack)


@pytest.mark.bypass(
    "runtime",
    "foreign code run inside hermetic's hook (a violation observer, sys.stderr under trace, "
    "a handler added through hermetic.subscribe)",
    verdict="residual",
    layer="none",
)
def test_known_gap_foreign_code_inside_the_hook(batch: Callable[..., Batch]) -> None:
    runs = batch(
        COMMON + FOREIGN_CODE,
        {"sealed": {**SEALED, "trace": True}},
        servers=servers("observer", "stderr", "subscribed"),
        tree=tree,
    )
    for outcome in runs.on:
        # what the foreign code does while hermetic's hook is busy is not audited ...
        for name in ("observer", "stderr", "subscribed"):
            assert outcome.status(f"{name}:c") == "ok", (name, outcome.why())
            assert outcome.reached[f"{name}:c"] == 1
            assert written(outcome, name)
        # ... and the trigger itself was refused, or allowed (the open of os.devnull)
        assert outcome.status("observer") == "blocked"
        assert outcome.status("subscribed") == "ok"


# -- the hermetic command's --seal ---------------------------------------------------------

SEALED_TARGET = """
import gc, sys
module = sys.modules.get("hermetic._runtime") or sys.modules["sitecustomize"]
print("sealed at the first line:", module.RUNTIME.sealed, flush=True)
try:
    from hermetic.guards import uninstall_all
except ImportError:  # the bootstrap: hermetic is not importable
    pass
else:
    uninstall_all()
for handle in [o for o in gc.get_objects() if type(o).__name__ == "GuardRuntime"]:
    handle.undo()
import _socket, socket, subprocess
child = "import sys; print('child sealed:', sys.modules['sitecustomize'].RUNTIME.sealed)"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout)
attempt("c", lambda: _socket.socket().connect(ADDRESSES["c"]))
attempt("py", lambda: socket.create_connection(ADDRESSES["py"], timeout=5).close())
attempt("write", lambda: open(OUT + "/written.txt", "w").close())
"""


@pytest.mark.bypass(
    "runtime",
    "guards switched off in the target's first lines under hermetic --seal",
    verdict="blocked",
    layer="patch+audit",
)
@pytest.mark.parametrize("cli_mode", ["inprocess", "bootstrap"])
def test_the_command_seals_before_the_target_s_first_line(
    bare_python: str, tmp_path: Path, cli_mode: str
) -> None:
    from security.support import Ports

    out = tree(tmp_path)["out"]
    target = tmp_path / "target.py"
    argv = [str(target)] if cli_mode == "inprocess" else [bare_python, str(target)]
    for seal in (False, True):
        with Ports(["c", "py"]) as ports:
            head = f"ADDRESSES = {ports.addresses!r}\nOUT = {str(out)!r}\n"
            target.write_text(PRELUDE + head + SEALED_TARGET)
            flags = ["--no-network", "--fs-readonly", *(["--seal"] if seal else [])]
            proc = hermetic_command([*flags, "--", *argv], tmp_path)
            reached = ports.settle()
        found = outcomes_of(proc.stdout)
        assert f"sealed at the first line: {seal}" in proc.stdout, proc.stdout + proc.stderr
        assert f"child sealed: {seal}" in proc.stdout  # the bootstrap a child inherits
        statuses = [found[label][1] for label in ("c", "py", "write")]
        if seal:
            assert statuses == ["blocked"] * 3, proc.stdout + proc.stderr
            assert reached == {"c": 0, "py": 0}
            assert not (out / "written.txt").exists()
        else:  # unsealed, the target can switch its guards off: the other side of the seal
            assert statuses == ["ok"] * 3, proc.stdout + proc.stderr
            assert reached == {"c": 1, "py": 1}
            assert (out / "written.txt").exists()
            (out / "written.txt").unlink()
