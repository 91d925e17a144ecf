"""In-process mode: the target runs in hermetic's own process, after the guards.

Used when the target runs on hermetic's own interpreter anyway (``module:function``, a
``.py`` file, a console script of this environment): one process instead of two. The
target is prepared before the guards go in (its source read and compiled, ``__main__``,
``sys.argv`` and ``sys.path[0]`` set as the interpreter would), so that what hermetic does
on the target's behalf is never mistaken for the target's own actions; its first line
runs under the guards. The bootstrap directory is put on ``PYTHONPATH`` so that child
Python processes are guarded as in bootstrap mode.

Exits are the target's: ``SystemExit`` passes through, ``KeyboardInterrupt`` ends the
process the way the interpreter does, an uncaught exception prints its traceback and exits
1, and an uncaught ``PolicyViolation`` exits with ``EXIT_VIOLATION`` after one line.
"""

from __future__ import annotations

import os
import sys

from hermetic_cli import EXIT_VIOLATION, _restore_bytecode_settings
from hermetic_cli.errors import CLIError
from hermetic_cli.launch import with_bootstrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Callable

    from hermetic_cli.targets import Plan


#: Options whose values name modules. hermetic imports modules of its own before an
#: in-process target starts, and importing a module that is already imported is invisible
#: to a guard: when the policy names one of those, the target goes through the bootstrap.
MODULE_LIST_OPTIONS = ("deny_imports",)


def suitable(values: dict[str, Any]) -> bool:
    """Whether the policy ``values`` can be enforced in this process as well as in a new one.

    Loads the guards and the patch modules the policy needs first (so that what they
    import counts as imported), then looks for a module the policy names among those this
    process has imported.
    """
    from hermetic.registry import registry

    for guard in registry().guards.values():
        if guard.enabled(values):
            guard._module()  # imported once, as the install that follows will use it
    names = [n for option in MODULE_LIST_OPTIONS for n in values.get(option) or ()]
    loaded = sys.modules
    return not any(n in loaded or any(m.startswith(n + ".") for m in loaded) for n in names)


def run(plan: Plan, values: dict[str, Any], directory: str) -> int:
    """Run ``plan`` (mode ``"script"`` or ``"entry"``) under the policy ``values``."""
    from hermetic import _runtime
    from hermetic.errors import HermeticError, PolicyViolation
    from hermetic.guards import install_all

    _restore_bytecode_settings()
    os.environ["PYTHONPATH"] = with_bootstrap(os.environ.get("PYTHONPATH"), directory)
    target = _prepare_script(plan) if plan.mode == "script" else _prepare_entry(plan)
    if target is None:
        return 1
    sys.argv[:] = plan.argv
    _runtime._install_excepthook(EXIT_VIOLATION)
    try:
        install_all(**values)
    except PolicyViolation:
        raise
    except HermeticError as exc:
        raise CLIError(str(exc)) from None
    return _call(target)


def _set_path0(directory: str) -> None:
    """Put the target's directory where the interpreter puts the script's (``sys.path[0]``)."""
    if sys.flags.isolated or getattr(sys.flags, "safe_path", False):
        return  # the interpreter adds no such entry in these modes
    sys.path[0] = directory


def _prepare_script(plan: Plan) -> Callable[[], object] | None:
    import builtins

    # The import system's own loader class (importlib.machinery re-exports it): importing
    # importlib, warnings and types for it would add about 0.6 ms to the start-up.
    from _frozen_importlib_external import SourceFileLoader

    try:
        with open(plan.path, "rb") as f:
            source = f.read()
    except OSError as exc:
        raise CLIError(f"cannot read {plan.path}: {exc.strerror or exc}") from None
    try:
        code = compile(source, plan.path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        sys.excepthook(type(exc), exc, None)  # what the interpreter prints for its script
        return None
    main = type(sys)("__main__")
    main.__file__ = plan.path
    main.__cached__ = None  # type: ignore[attr-defined]
    main.__loader__ = SourceFileLoader("__main__", plan.path)
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    _set_path0(os.path.dirname(os.path.realpath(plan.path)))
    # A function over the module's code runs it as the interpreter runs a script: no
    # ``exec`` call for a code-exec guard to attribute to hermetic's frames.
    function_type: Any = type(_set_path0)  # types.FunctionType, without importing types
    run_main: Callable[[], object] = function_type(code, main.__dict__)
    return run_main


def _prepare_entry(plan: Plan) -> Callable[[], object]:
    import importlib

    assert plan.entry is not None
    module_name, function_name = plan.entry
    try:
        _set_path0(os.getcwd())
    except OSError:
        pass

    def call_entry() -> object:
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name + ".").startswith(exc.name + "."):
                raise CLIError(f"{plan.path}: no module named {exc.name!r}") from None
            raise
        for part in function_name.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise CLIError(f"{plan.path}: {part!r} not found in {module_name}") from None
        raise SystemExit(target())

    return call_entry


def _call(target: Callable[[], object]) -> int:
    try:
        target()
    except (SystemExit, KeyboardInterrupt, CLIError):
        raise
    except BaseException as exc:
        # The interpreter prints the exception's own __traceback__, whatever it is given.
        tb = _own_frames_removed(exc.__traceback__)
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return 1
    return 0


def _own_frames_removed(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the target's first frame on, as the interpreter would print it."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


__all__ = ["run"]
