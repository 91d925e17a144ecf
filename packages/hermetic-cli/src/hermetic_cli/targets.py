"""What ``TARGET [ARGS...]`` names, and how to run it: in-process or through the bootstrap.

A target is resolved to a :class:`Plan`:

* ``"entry"``: ``module:function``, run in hermetic's own process;
* ``"script"``: Python source run in hermetic's own process (a ``.py`` file, or a script,
  such as a console script, whose ``#!`` names hermetic's own interpreter with no options);
* ``"exec"``: everything else that is a Python program (a Python interpreter with its own
  arguments, a script of another environment or interpreter), exec'd with the bootstrap
  on ``PYTHONPATH``.

Anything that is not a Python program, or that would skip the bootstrap, is refused with a
:class:`~hermetic_cli.errors.CLIError`: never run unguarded.
"""

from __future__ import annotations

import os
import sys

from hermetic_cli import interpreters, shebang
from hermetic_cli.errors import CLIError

_SOURCE_SUFFIXES = (".py", ".pyw")


class Plan:
    """How to run a target.

    Attributes:
        mode: ``"exec"``, ``"script"`` or ``"entry"`` (see the module docstring).
        path: the file to exec (``"exec"``) or the script to run (``"script"``).
        argv: the full argument vector: for ``"exec"`` what ``execve`` gets, otherwise
            what the target finds in ``sys.argv``.
        entry: ``(module, function)`` for ``"entry"``.
    """

    __slots__ = ("argv", "entry", "mode", "path")

    def __init__(
        self,
        mode: str,
        path: str,
        argv: list[str],
        entry: tuple[str, str] | None = None,
    ) -> None:
        """Describe one way to run a target."""
        self.mode = mode
        self.path = path
        self.argv = argv
        self.entry = entry

    def __repr__(self) -> str:
        return f"Plan({self.mode!r}, {self.path!r}, {self.argv!r})"

    def as_exec(self) -> Plan:
        """The same target run by exec'ing hermetic's own interpreter (bootstrap mode)."""
        if self.mode == "exec":
            return self
        exe = sys.executable
        if self.mode == "script":
            return Plan("exec", exe, [exe, self.path, *self.argv[1:]])
        assert self.entry is not None
        module, function = self.entry
        code = (
            "import sys, importlib\n"
            f"sys.argv[0] = {self.argv[0]!r}\n"
            f"_target = importlib.import_module({module!r})\n"
            f"for _name in {function!r}.split('.'):\n"
            "    _target = getattr(_target, _name)\n"
            "sys.exit(_target())\n"
        )
        return Plan("exec", exe, [exe, "-c", code, *self.argv[1:]])


def which(name: str) -> str | None:
    """The executable ``name`` on ``PATH``, as a shell would find it."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def resolve(argv: list[str]) -> Plan:
    """Resolve ``TARGET [ARGS...]``; raise ``CLIError`` for a target hermetic refuses."""
    name, args = argv[0], list(argv[1:])
    if not name:
        raise CLIError("the target is an empty string")
    if name.startswith("-"):
        raise CLIError(
            f"{name} is not a target; interpreter options go after the interpreter: "
            f"hermetic [FLAGS] -- python {name} ..."
        )
    if ":" in name and os.sep not in name and not os.path.exists(name):
        module, _, function = name.partition(":")
        if _dotted(module) and _dotted(function):
            return Plan("entry", name, [name, *args], (module, function))
        raise CLIError(f"{name!r} is neither a command nor module:function")
    if os.sep in name or (name.endswith(_SOURCE_SUFFIXES) and os.path.isfile(name)):
        path = name
    else:
        found = which(name)
        if found is None:
            raise CLIError(f"{name}: command not found on PATH")
        path = found
    try:
        if os.path.isdir(path):
            raise CLIError(f"{path} is a directory, not a Python program")
        head = shebang.read_head(path)
    except OSError as exc:
        raise CLIError(f"cannot read the target {path}: {exc.strerror or exc}") from None
    if interpreters.is_python_name(os.path.basename(path)):
        return _interpreter(path, head, args)
    if shebang.is_binary(head):
        raise CLIError(
            f"{path} is a compiled program, not a Python program; hermetic guards Python only"
        )
    if path.endswith(_SOURCE_SUFFIXES):
        return Plan("script", path, [name, *args])
    return _script(name, path, head, args)


def _interpreter(path: str, head: bytes, args: list[str]) -> Plan:
    """``python [options] ...``: always the bootstrap (the interpreter's own start-up)."""
    problem = interpreters.defeating_option(args)
    if problem:
        raise CLIError(f"refusing to run {path} with {problem}: the target would run unguarded")
    interpreters.check_supported(path, launcher=not shebang.is_binary(head))
    return Plan("exec", path, [path, *args])


def _script(name: str, path: str, head: bytes, args: list[str]) -> Plan:
    """A script with a ``#!`` line: a Python one runs, any other is refused."""
    line = shebang.interpreter_line(head)
    if line is None:
        raise CLIError(
            f"{path} is not a Python program (no #! line naming a Python interpreter); "
            f"to run Python source, name the interpreter: hermetic [FLAGS] -- python {name}"
        )
    wrapped = shebang.shell_exec_line(head)
    if wrapped is not None:
        interpreter, options = wrapped[0], wrapped[1:]
    elif os.path.basename(line[0]) == "env" and len(line) == 2:
        words = line[1].split()
        if words[0] in ("-S", "--split-string"):
            words = words[1:]
        elif len(words) > 1:
            words = [line[1]]  # without -S, env looks for a program of that whole name
        if not words:
            raise CLIError(f"{path}: cannot read its #! line")
        found = which(words[0]) if os.sep not in words[0] else words[0]
        if found is None or not interpreters.is_python_name(os.path.basename(words[0])):
            raise CLIError(
                f"{path} is a {words[0]} script, not a Python program; hermetic guards Python only"
            )
        interpreter, options = found, words[1:]
    else:
        interpreter, options = line[0], line[1:]
    if not interpreters.is_python_name(os.path.basename(interpreter)):
        raise CLIError(
            f"{path} is a {os.path.basename(interpreter)} script, not a Python program; "
            "hermetic guards Python only"
        )
    problem = interpreters.defeating_shebang_option(options)
    if problem:
        raise CLIError(
            f"refusing to run {path}: its #! line passes {problem}; the target would run unguarded"
        )
    if not options and interpreters.same_environment(interpreter):
        return Plan("script", path, [path, *args])
    try:
        launcher = not shebang.is_binary(shebang.read_head(interpreter, 4))
    except OSError as exc:
        raise CLIError(
            f"{path}: its interpreter {interpreter} cannot be run: {exc.strerror or exc}"
        ) from None
    interpreters.check_supported(interpreter, launcher=launcher)
    if os.access(path, os.X_OK):
        return Plan("exec", path, [path, *args])
    return Plan("exec", interpreter, [interpreter, *options, path, *args])


__all__ = ["Plan", "resolve", "which"]
