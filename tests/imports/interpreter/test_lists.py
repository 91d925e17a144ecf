"""``sys.path``, ``sys.meta_path`` and ``sys.path_hooks``: every way to change them, both ways.

One body holds every case. Without the guard each one really changes its list (and a
module becomes importable from the probe directory, or a finder or hook is consulted);
under ``block_interpreter_mutation`` each one is refused by the interpreter guard with the
list as its target, and the list, ``sys.modules`` and the probe's marks are as before.
Both delivery modes.
"""

from __future__ import annotations

from typing import Callable

from .conftest import Both, dump, outcome, value

# label -> (list attribute, statement(s) changing it, what is imported afterwards or None).
# X is the value added: the probe directory, a finder, a path hook.
ADD = {"path": "PROBE", "meta_path": "FINDER", "path_hooks": "HOOK"}
FRESH = {"path": "probe_mod", "meta_path": "colorsys", "path_hooks": "colorsys"}
CASES: dict[str, tuple[str, str]] = {}
for attr in ("path", "meta_path", "path_hooks"):
    x = ADD[attr]
    lst = "sys." + attr
    CASES.update(
        {
            f"{attr}.append": (attr, f"{lst}.append({x})"),
            f"{attr}.insert": (attr, f"{lst}.insert(0, {x})"),
            f"{attr}.extend": (attr, f"{lst}.extend([{x}])"),
            f"{attr}.iadd": (attr, f"{lst} += [{x}]"),
            f"{attr}.setitem": (attr, f"{lst}[0] = {x}"),
            f"{attr}.setslice": (attr, f"{lst}[:0] = [{x}]"),
            f"{attr}.init": (attr, f"{lst}.__init__([{x}])"),
            f"{attr}.replace": (attr, f"{lst} = [{x}] + list({lst})"),
            f"{attr}.remove": (attr, f"{lst}.remove({lst}[-1])"),
            f"{attr}.pop": (attr, f"{lst}.pop()"),
            f"{attr}.pop0": (attr, f"{lst}.pop(0)"),
            f"{attr}.delitem": (attr, f"del {lst}[-1]"),
            f"{attr}.delslice": (attr, f"del {lst}[:1]"),
            f"{attr}.clear": (attr, f"{lst}.clear()"),
            f"{attr}.reverse": (attr, f"{lst}.reverse()"),
            f"{attr}.sort": (attr, f"{lst}.sort(key=lambda e, was=list({lst}): -was.index(e))"),
        }
    )

BODY = """
import sys, importlib, textwrap

class Finder:
    calls = []
    def find_spec(self, name, path=None, target=None):
        self.calls.append(name)
        return None
FINDER = Finder()
HOOK_CALLS = []
def HOOK(entry):
    HOOK_CALLS.append(entry)
    raise ImportError
assert all(len(getattr(sys, a)) >= 2 for a in ("path", "meta_path", "path_hooks"))

def case(label, attr, statement, fresh):
    obj = getattr(sys, attr)
    before = list(obj)
    Finder.calls.clear()
    def run():
        exec(textwrap.dedent(statement), globals())
        if fresh:
            sys.modules.pop(fresh, None)
            try:
                importlib.import_module(fresh) if fresh == "probe_mod" else __import__(fresh)
            except ModuleNotFoundError:
                pass
    attempt(label, run)
    now = getattr(sys, attr)
    report(label + ":effect", {
        "changed": now is not obj or list(now) != before,
        "imported": "probe_mod" in sys.modules,
        "finder": bool(Finder.calls),
        "marks": marks(),
    })
    # put everything back for the next case (a no-op where nothing changed)
    sys.modules.pop("probe_mod", None)
    if now is not obj:
        setattr(sys, attr, obj)
    obj[:] = before
    try:
        import os
        os.remove(MARKS)
    except OSError:
        pass

for label, (attr, statement, fresh) in CASES.items():
    case(label, attr, statement, fresh)
"""


def body() -> str:
    cases = {
        label: (attr, statement, FRESH[attr] if label.split(".")[1] in ADDING else None)
        for label, (attr, statement) in CASES.items()
    }
    return f"CASES = {cases!r}\n" + BODY


#: The cases that add the value, after which the fresh import shows whether it took effect.
ADDING = ("append", "insert", "extend", "iadd", "setitem", "setslice", "init", "replace")


def test_every_change_to_the_import_lists_is_refused(both: Callable[..., Both], mode: str) -> None:
    runs = both(mode, body())
    for label, (attr, _statement) in CASES.items():
        free = runs.free
        assert free.status(label) == "ok", (label, dump(free))
        effect = value(free, label + ":effect")
        assert effect["changed"], (label, effect)
        kind = label.split(".")[1]
        if attr == "path" and kind in ADDING:
            # really imported from the probe directory
            assert effect["imported"] and effect["marks"] == ["probe_mod"], (label, effect)
        if attr == "meta_path" and kind in ("insert", "setitem", "setslice", "init", "replace"):
            assert effect["finder"], (label, effect)

        record = outcome(runs.guarded, label)
        assert record[1:4] == ["blocked", "interpreter", "sys." + attr], (label, record)
        assert record[4].startswith("interpreter state is frozen: "), record
        effect = value(runs.guarded, label + ":effect")
        assert effect == {"changed": False, "imported": False, "finder": False, "marks": []}, (
            label,
            effect,
        )
