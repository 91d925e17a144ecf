"""The guard contract: what a guard declares, and how hermetic drives it.

A guard is a :class:`Guard` object reached through an entry point in the group
``hermetic.guards``. It declares the policy options it owns (:class:`Option`) and names its
*patch module*: one stdlib-only module with ``install(options, runtime)`` (and optionally
``uninstall(runtime)``) that is the single implementation of the guard. In-process the
module is imported normally; in the bootstrap its source text (``BOOTSTRAP_CODE``) is
executed in a namespace of its own inside a foreign interpreter.
"""

from __future__ import annotations

import os
import sys

from hermetic.errors import PolicyError

# Guard packages import this module on their start-up path: no run-time ``typing`` (it costs
# ~10 ms here), and ``ast`` / ``importlib.util`` are imported where they are used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any, Callable, Union

    from hermetic._runtime import GuardRuntime

    MergeRule = Union[str, Callable[[Any, Any], Any]]

#: Merge rules: how two values of one option combine when policies stack (stricter wins).
OR = "or"  #: block switches: either blocks
AND = "and"  #: allow switches: both must allow
UNION = "union"  #: deny-lists: everything either denies
INTERSECTION = "intersection"  #: allow-lists: only what both allow
DEEPER = "deeper"  #: a root directory: the deeper of two nested roots
SAME = "same"  #: any other value: the two must agree

_KINDS = (bool, str, list)


def _import_module(name: str) -> Any:
    """The module ``name`` (absolute), imported if it is not yet.

    What ``importlib.import_module`` does for an absolute name, without importing
    ``importlib`` (and ``warnings`` with it): about 0.5 ms of every start of the hermetic
    command and of every program's first blocker.
    """
    __import__(name)
    return sys.modules[name]


class Option:
    """One policy key a guard owns, with everything the CLI and the merger need.

    Args:
        name: the policy key, as accepted by ``hermetic_blocker(...)`` (``block_network``).
        type: ``bool``, ``str`` or ``list`` (a list of strings).
        default: the value when unset (``False``, ``None`` or an empty tuple by type).
        flags: CLI flags (``("--no-network",)``); a ``list`` option's flag repeats.
        help: one line for ``--help`` (the CLI and the pytest plugin add that a
            ``list`` option repeats: do not say so here).
        merge: ``OR``/``AND``/``UNION``/``INTERSECTION``/``DEEPER``/``SAME`` or a callable
            ``merge(a, b) -> value`` returning the stricter combination.
        aliases: other keyword spellings (``("no_network",)``).
        enables: a truthy value of this option switches the guard on.
        metavar: the value's name in ``--help``.
        normalize: ``normalize(value) -> value``; validates and canonicalises a value at
            policy creation and raises ``ValueError`` with a message if it is malformed.
            It must be idempotent and return the same kind of value (a ``bool``, a
            ``str`` or ``None``, a tuple of strings): values are embedded in the
            bootstrap as Python literals.
        value_into: for a ``bool`` option, the name of a ``str`` option that receives the
            flag's optional value (``--fs-readonly=ROOT`` sets ``fs_root``).
    """

    __slots__ = (
        "aliases",
        "default",
        "enables",
        "flags",
        "help",
        "merge",
        "metavar",
        "name",
        "normalize",
        "type",
        "value_into",
    )

    def __init__(
        self,
        name: str,
        type: type = bool,
        *,
        default: Any = None,
        flags: Sequence[str] = (),
        help: str = "",
        merge: MergeRule | None = None,
        aliases: Sequence[str] = (),
        enables: bool = False,
        metavar: str | None = None,
        normalize: Callable[[Any], Any] | None = None,
        value_into: str | None = None,
    ) -> None:
        """Declare an option; see the class docstring for the arguments."""
        if type not in _KINDS:
            raise TypeError(f"option {name!r}: type must be bool, str or list, not {type!r}")
        if not name.isidentifier():
            raise ValueError(f"option name {name!r} is not an identifier")
        for flag in flags:
            if not flag.startswith("--") or " " in flag:
                raise ValueError(f"option {name!r}: flag {flag!r} must look like --some-flag")
        if default is None:
            default = {bool: False, str: None, list: ()}[type]
        if merge is None:
            merge = {bool: OR, str: SAME, list: UNION}[type]
        if isinstance(merge, str) and merge not in _MERGERS:
            raise ValueError(f"option {name!r}: unknown merge rule {merge!r}")
        self.name = name
        self.type = type
        self.default = tuple(default) if type is list else default
        self.flags = tuple(flags)
        self.help = help
        self.merge = merge
        self.aliases = tuple(aliases)
        self.enables = enables
        self.metavar = metavar
        self.normalize = normalize
        self.value_into = value_into

    def __repr__(self) -> str:
        return f"Option({self.name!r}, {self.type.__name__}, flags={self.flags!r})"

    def coerce(self, value: Any) -> Any:
        """Check ``value``'s type, then normalise it; raise ``PolicyError`` if it is bad."""
        if value is None:
            return self.default
        if self.type is bool:
            if not isinstance(value, bool):
                raise PolicyError(f"{self.name} must be True or False, not {value!r}")
        elif self.type is str:
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, str):
                raise PolicyError(f"{self.name} must be a string or a path, not {value!r}")
        else:
            if isinstance(value, (str, bytes)):
                raise PolicyError(
                    f"{self.name} must be a list of strings, not the string {value!r}"
                    f" (write {self.name}=[{value!r}])"
                )
            try:
                items = list(value)
            except TypeError:
                raise PolicyError(f"{self.name} must be a list of strings, not {value!r}") from None
            items = [os.fspath(i) if isinstance(i, os.PathLike) else i for i in items]
            bad = [i for i in items if not isinstance(i, str)]
            if bad:
                raise PolicyError(f"{self.name} must hold only strings, not {bad[0]!r}")
            value = tuple(dict.fromkeys(items))
        if self.normalize is not None:
            try:
                value = self.normalize(value)
            except (ValueError, TypeError) as exc:
                raise PolicyError(f"invalid {self.name}: {exc}") from None
            if isinstance(value, (list, tuple)):
                value = tuple(dict.fromkeys(value))
            # Values are embedded in the bootstrap as Python literals: keep them plain.
            if self.type is list:
                plain = isinstance(value, tuple) and all(isinstance(i, str) for i in value)
            elif self.type is str:
                plain = value is None or isinstance(value, str)
            else:
                plain = isinstance(value, bool)
            if not plain:
                raise TypeError(f"{self.name}: normalize returned {value!r}, not a {self.type}")
        return value

    def combine(self, a: Any, b: Any) -> Any:
        """Merge two values of this option; the stricter wins."""
        if callable(self.merge):
            return self.merge(a, b)
        return _MERGERS[self.merge](self, a, b)


def _merge_same(option: Option, a: Any, b: Any) -> Any:
    if a is None or a == b:
        return b
    if b is None:
        return a
    raise PolicyError(f"cannot stack {option.name}={a!r} with {option.name}={b!r}")


def _merge_deeper(option: Option, a: Any, b: Any) -> Any:
    if a is None or a == b:
        return b
    if b is None:
        return a
    ra, rb = os.path.realpath(a), os.path.realpath(b)
    if os.path.commonpath([ra, rb]) == ra:
        return b
    if os.path.commonpath([ra, rb]) == rb:
        return a
    raise PolicyError(
        f"cannot stack {option.name}={a!r} with {option.name}={b!r}: neither contains the other"
    )


_MERGERS: dict[str, Callable[[Option, Any, Any], Any]] = {
    OR: lambda _o, a, b: bool(a or b),
    AND: lambda _o, a, b: bool(a and b),
    UNION: lambda _o, a, b: tuple(dict.fromkeys((*a, *b))),
    INTERSECTION: lambda _o, a, b: tuple(x for x in a if x in set(b)),
    DEEPER: _merge_deeper,
    SAME: _merge_same,
}


class Guard:
    """A guard: its declared options plus the patch module that implements it.

    Build one with :func:`define_guard`. hermetic fills in ``distribution`` and
    ``version`` from the entry point that registered it.
    """

    def __init__(
        self,
        name: str,
        *,
        summary: str,
        patch_module: str,
        options: Iterable[Option],
    ) -> None:
        """Declare a guard; see :func:`define_guard`."""
        self.name = name
        self.summary = summary
        self.patch_module = patch_module
        self.options: tuple[Option, ...] = tuple(options)
        self.distribution: str | None = None
        self.version: str | None = None
        self._source: str | None = None
        self._patch: Any = None
        self._own_uninstall: Any = None  # the patch module's uninstall(runtime), if any
        names = [o.name for o in self.options] + [a for o in self.options for a in o.aliases]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"guard {name!r} declares {sorted(duplicates)} more than once")
        if not any(o.enables for o in self.options):
            raise ValueError(f"guard {name!r}: no option has enables=True, so it can never run")
        by_name = {o.name: o for o in self.options}
        for o in self.options:
            target = by_name.get(o.value_into or "")
            if o.value_into and (o.type is not bool or target is None or target.type is not str):
                raise ValueError(f"option {o.name!r}: value_into must name a str option")

    def __repr__(self) -> str:
        return f"<Guard {self.name!r} from {self.distribution or '?'} {self.version or ''}>"

    def option(self, name: str) -> Option:
        """Return the declared option called ``name``."""
        for o in self.options:
            if o.name == name:
                return o
        raise KeyError(name)

    def enabled(self, values: Mapping[str, Any]) -> bool:
        """Whether a policy with these option values switches this guard on."""
        return any(values.get(o.name) for o in self.options if o.enables)

    def full_options(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every option of this guard, taking defaults for the ones ``values`` leaves out."""
        return {o.name: values.get(o.name, o.default) for o in self.options}

    @property
    def BOOTSTRAP_CODE(self) -> str:  # noqa: N802 - the contract's name for it
        """The patch module's source text, read from its file (never a hand-kept copy)."""
        if self._source is None:
            import importlib.util

            spec = importlib.util.find_spec(self.patch_module)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                raise ImportError(f"no source file for patch module {self.patch_module!r}")
            with open(spec.origin, encoding="utf-8") as f:
                self._source = f.read()
        return self._source

    def _module(self) -> Any:
        if self._patch is None:
            module = _import_module(self.patch_module)
            # Looked up once: a miss raised (and dropped) an AttributeError on every exit.
            self._own_uninstall = getattr(module, "uninstall", None)
            self._patch = module
        return self._patch

    def has_own_uninstall(self) -> bool:
        """Whether the patch module keeps state of its own, undone by its ``uninstall``."""
        self._module()
        return self._own_uninstall is not None

    def install(self, options: Mapping[str, Any], runtime: GuardRuntime) -> None:
        """Install one layer of this guard with ``options`` (every option of the guard)."""
        self._module().install(dict(options), runtime)

    def uninstall(self, runtime: GuardRuntime) -> None:
        """Remove the layer installed with ``runtime`` (a no-op in a sealed process)."""
        if runtime.sealed:
            return
        self._module()
        hook = self._own_uninstall
        if hook is not None:
            hook(runtime)
        runtime.undo()


def define_guard(
    name: str,
    *,
    summary: str,
    patch_module: str,
    options: Iterable[Option],
) -> Guard:
    """Declare a guard in a few lines; point an entry point in ``hermetic.guards`` at it.

    Example (``my_guard/__init__.py``)::

        from hermetic.contract import Option, define_guard

        guard = define_guard(
            "webbrowser",
            summary="Stops programs from opening a web browser.",
            patch_module="my_guard._patch",
            options=[Option("block_webbrowser", bool, flags=["--no-webbrowser"],
                            help="Refuse webbrowser.open().", enables=True)],
        )

    and in ``pyproject.toml``::

        [project.entry-points."hermetic.guards"]
        webbrowser = "my_guard:guard"
    """
    return Guard(name, summary=summary, patch_module=patch_module, options=options)


def patch_module_problems(source: str, *, own_package: str | None = None) -> list[str]:
    """List what makes ``source`` unfit to be a patch module (empty when fine).

    A patch module must define ``install`` at top level and must not import ``hermetic``
    (or its own package): the bootstrap runs it where neither may be importable.
    """
    import ast

    tree = ast.parse(source)
    problems = []
    forbidden = {"hermetic"} | ({own_package} if own_package else set())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                problems.append(f"line {node.lineno}: relative import")
            names = [node.module or ""]
        for n in names:
            if n.split(".")[0] in forbidden:
                problems.append(f"line {getattr(node, 'lineno', '?')}: imports {n}")
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if "install" not in defined:
        problems.append("no top-level install(options, runtime)")
    return problems


__all__ = [
    "AND",
    "DEEPER",
    "INTERSECTION",
    "OR",
    "SAME",
    "UNION",
    "Guard",
    "Option",
    "define_guard",
    "patch_module_problems",
]
