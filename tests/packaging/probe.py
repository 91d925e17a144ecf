"""Run inside an environment made by the packaging tests, by its own interpreter.

``python probe.py SPEC_JSON`` prints one JSON object. The spec holds ``cases``: each one an
action (Python source) that does something observable, with ``setup``, ``did`` / ``undone``
(expressions: the action took effect / did not) and ``reset``. Modes:

* ``"inprocess"`` (hermetic installed): report the registry, then run each case both ways:
  plainly (it must take effect), then inside ``hermetic_blocker(**case["policy"])``; try
  each ``refused`` option alone; with ``materialize``, write the bootstrap of that policy.
* ``"bare"`` (a bootstrap already on ``PYTHONPATH``; hermetic may be absent): run each
  case once, under the bootstrap's guards.

Standard library only at the top: in ``"bare"`` mode hermetic is not importable.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any


def attempt(code: str, ns: dict[str, Any]) -> list[Any]:
    """``["ok"]``, ``["blocked", guard, target, message]`` or ``["error", type, message]``."""
    try:
        exec(code, ns)
    except BaseException as exc:  # SystemExit and friends are outcomes too
        if type(exc).__name__ == "PolicyViolation":
            return ["blocked", getattr(exc, "guard", None), getattr(exc, "target", None), str(exc)]
        return ["error", type(exc).__name__, str(exc)]
    return ["ok"]


def namespace(spec: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    ns: dict[str, Any] = {"VARS": spec.get("vars", {})}
    exec(case.get("setup", ""), ns)
    return ns


def bare(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"hermetic_importable": importlib.util.find_spec("hermetic") is not None}
    for case in spec["cases"]:
        ns = namespace(spec, case)
        guarded = attempt(case["action"], ns)
        out[case["label"]] = {"guarded": guarded, "undone": bool(eval(case["undone"], ns))}
    return out


def inprocess(spec: dict[str, Any]) -> dict[str, Any]:
    import hermetic
    from hermetic import hermetic_blocker
    from hermetic.registry import registry

    reg = registry()
    out: dict[str, Any] = {
        "version": hermetic.__version__,
        "guards": sorted(reg.guards),
        "failures": [failure.describe() for failure in reg.failures],
        "cases": {},
        "refused": {},
    }
    for case in spec.get("cases", ()):
        ns = namespace(spec, case)
        plain = attempt(case["action"], ns)
        did = bool(eval(case["did"], ns))
        exec(case.get("reset", ""), ns)
        with hermetic_blocker(**case["policy"]):
            guarded = attempt(case["action"], ns)
        out["cases"][case["label"]] = {
            "plain": plain,
            "did": did,
            "guarded": guarded,
            "undone": bool(eval(case["undone"], ns)),
        }
    for option, value in spec.get("refused", ()):
        try:
            with hermetic_blocker(**{option: value}):
                pass
        except Exception as exc:
            row = [type(exc).__name__, str(exc), getattr(exc, "distribution", None)]
        else:
            row = ["accepted"]
        out["refused"][option] = row
    for profile in spec.get("profiles", ()):
        try:
            hermetic_blocker(profile=profile)
        except Exception as exc:
            out.setdefault("profiles", {})[profile] = f"{type(exc).__name__}: {exc}"
        else:
            out.setdefault("profiles", {})[profile] = "ok"
    if "materialize" in spec:
        from hermetic.bootstrap import materialize
        from hermetic.policy import BlockConfig

        out["bootstrap"] = materialize(BlockConfig(**spec["materialize"]), root=spec["root"])
    return out


def main() -> None:
    spec = json.loads(sys.argv[1])
    out = bare(spec) if spec.get("mode") == "bare" else inprocess(spec)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
