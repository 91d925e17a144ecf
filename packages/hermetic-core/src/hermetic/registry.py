"""Discovery of installed guards through the ``hermetic.guards`` entry-point group.

One code path for Python 3.9-3.13: rather than ``importlib.metadata`` (whose API differs
across those versions and whose import alone costs 35-65 ms, paid on every CLI start), this
module reads the ``entry_points.txt`` of each ``*.dist-info`` / ``*.egg-info`` directory on
``sys.path`` itself, with the same rule ``importlib.metadata`` applies to duplicates: the
first distribution of a name on ``sys.path`` wins. Results are cached per process.

A guard whose entry point fails to load, or that clashes with one already loaded, is
recorded as a :class:`LoadFailure`; it breaks nothing else and is an error only when a
policy asks for one of its options.
"""

from __future__ import annotations

import os
import sys

from hermetic.contract import Guard, Option, _import_module
from hermetic.errors import GuardNotInstalled, PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

GROUP = "hermetic.guards"

#: Options every policy accepts besides those the guards declare: (name, flag, help).
CORE_OPTIONS = (
    ("trace", "--trace", "Report every blocked action on stderr."),
    ("sealed", "--seal", "Seal: guards can never be uninstalled for the rest of the process."),
)

#: The first-party distributions, the guards they register and the option names, aliases
#: and CLI flags those guards declare. Used to name the missing distribution when one is not
#: installed; a test keeps it in step with the guards' own declarations.
FIRST_PARTY: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "hermetic-net",
        "network",
        ("block_network", "no_network", "allow_localhost", "allow_domains"),
        ("--no-network", "--allow-localhost", "--allow-domain"),
    ),
    (
        "hermetic-fs",
        "filesystem",
        ("fs_readonly", "fs_root", "allow_write"),
        ("--fs-readonly", "--fs-root", "--allow-write"),
    ),
    (
        "hermetic-proc",
        "subprocess",
        ("block_subprocess", "no_subprocess", "allow_commands"),
        ("--no-subprocess", "--allow-command"),
    ),
    (
        "hermetic-proc",
        "environment",
        ("block_environment", "no_environment", "no_env", "allow_env"),
        ("--no-environment", "--no-env", "--allow-env"),
    ),
    (
        "hermetic-imports",
        "imports",
        ("deny_imports", "block_native"),
        ("--deny-import", "--block-native"),
    ),
    (
        "hermetic-imports",
        "code_exec",
        ("block_code_exec", "no_code_exec", "allow_code_exec_from"),
        ("--no-code-exec", "--allow-code-exec-from"),
    ),
    (
        "hermetic-imports",
        "interpreter",
        ("block_interpreter_mutation", "no_interpreter_mutation"),
        ("--no-interpreter-mutation",),
    ),
)

FIRST_PARTY_DISTRIBUTIONS = tuple(dict.fromkeys(row[0] for row in FIRST_PARTY))


class EntryPoint:
    """One ``name = module:attr`` line of the ``hermetic.guards`` group."""

    __slots__ = ("distribution", "name", "path", "value")

    def __init__(self, name: str, value: str, distribution: str, path: str) -> None:
        """Record an entry point found in the metadata directory ``path``."""
        self.name = name
        self.value = value
        self.distribution = distribution
        self.path = path

    def __repr__(self) -> str:
        return f"EntryPoint({self.name!r}, {self.value!r}, {self.distribution!r})"

    def load(self) -> object:
        """Import the module and return the attribute the entry point names."""
        module_name, _, attrs = self.value.partition(":")
        obj: object = _import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


class LoadFailure:
    """A registered guard that could not be used, and why."""

    __slots__ = ("distribution", "error", "name", "value")

    def __init__(self, entry: EntryPoint, error: str) -> None:
        """Record why ``entry`` could not be loaded."""
        self.name = entry.name
        self.value = entry.value
        self.distribution = entry.distribution
        self.error = error

    def __repr__(self) -> str:
        return f"LoadFailure({self.name!r} from {self.distribution}: {self.error})"

    def describe(self) -> str:
        """One line: which guard, from which distribution, and the error."""
        return f"guard {self.name!r} from {self.distribution} failed to load: {self.error}"


def normalize_name(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Hermetic_Net`` -> ``hermetic-net``)."""
    out = name.lower().replace("_", "-").replace(".", "-")
    while "--" in out:
        out = out.replace("--", "-")
    return out


def _parse_group(text: str, group: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            found.append((name.strip(), value.strip()))
    return found


def metadata_dirs(path: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """``(normalised distribution name, metadata directory)`` on ``path``, first one wins."""
    seen = set()
    for entry in sys.path if path is None else path:
        base = entry or os.curdir
        try:
            names = sorted(os.listdir(base))
        except (OSError, TypeError, ValueError):
            continue  # missing directories and zip archives hold no dist-info dirs
        for dirname in names:
            if not dirname.lower().endswith((".dist-info", ".egg-info")):
                continue
            dist = normalize_name(dirname.rsplit(".", 1)[0].split("-")[0])
            if dist not in seen:
                seen.add(dist)
                yield dist, os.path.join(base, dirname)


def scan(group: str = GROUP, path: list[str] | None = None) -> list[EntryPoint]:
    """Every entry point of ``group`` on ``path`` (default ``sys.path``), first dist wins."""
    found: list[EntryPoint] = []
    for dist, meta in metadata_dirs(path):
        try:
            with open(os.path.join(meta, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        found.extend(EntryPoint(n, v, dist, meta) for n, v in _parse_group(text, group))
    return found


def read_metadata(meta_dir: str) -> dict[str, str]:
    """The ``Name`` and ``Version`` headers of a dist-info (or egg-info) directory."""
    headers: dict[str, str] = {}
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta_dir, filename), encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        break
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version"):
                        headers[key] = value.strip()
        except OSError:
            continue
        break
    return headers


def distribution_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed."""
    wanted = normalize_name(name)
    for dist, meta in metadata_dirs():
        if dist == wanted:
            return read_metadata(meta).get("Version")
    return None


class Registry:
    """The guards installed in this environment, loaded and indexed."""

    def __init__(self, entries: list[EntryPoint]) -> None:
        """Load every entry point; record failures instead of raising them."""
        self.guards: dict[str, Guard] = {}
        self.failures: list[LoadFailure] = []
        self.options: dict[str, tuple[Guard, Option]] = {}
        self.flags: dict[str, tuple[Guard, Option]] = {}
        reserved = {name for name, _flag, _help in CORE_OPTIONS} | {"profile"}
        core_flags = {flag for _name, flag, _help in CORE_OPTIONS}
        first = {dist: i for i, dist in enumerate(FIRST_PARTY_DISTRIBUTIONS)}
        # First-party guards first; otherwise sys.path order (a stable sort), so the copy
        # that wins a clash is the one Python itself would import first.
        ordered = sorted(entries, key=lambda e: first.get(e.distribution, len(first)))
        for entry in ordered:
            try:
                guard = entry.load()
            except Exception as exc:
                self.failures.append(LoadFailure(entry, f"{type(exc).__name__}: {exc}"))
                continue
            problem = self._conflict(entry, guard, reserved, core_flags)
            if problem:
                self.failures.append(LoadFailure(entry, problem))
                continue
            assert isinstance(guard, Guard)
            guard.distribution = entry.distribution
            guard.version = read_metadata(entry.path).get("Version")
            self.guards[guard.name] = guard
            for option in guard.options:
                for key in (option.name, *option.aliases):
                    self.options[key] = (guard, option)
                for flag in option.flags:
                    self.flags[flag] = (guard, option)

    def _conflict(
        self, entry: EntryPoint, guard: object, reserved: set[str], core_flags: set[str]
    ) -> str | None:
        if not isinstance(guard, Guard):
            return (
                f"{entry.value} is a {type(guard).__name__}, not a hermetic Guard "
                "(build it with hermetic.contract.define_guard)"
            )
        if guard.name != entry.name:
            return f"entry point {entry.name!r} names a guard called {guard.name!r}"
        if guard.name in self.guards:
            other = self.guards[guard.name].distribution
            return f"guard name {guard.name!r} is already provided by {other}"
        for option in guard.options:
            for key in (option.name, *option.aliases):
                if key in reserved:
                    return f"option {key!r} is reserved by hermetic"
                if key in self.options:
                    owner = self.options[key][0]
                    return f"option {key!r} is already declared by guard {owner.name!r}"
            for flag in option.flags:
                if flag in core_flags or flag in self.flags:
                    return f"flag {flag} is already taken"
        return None

    def lookup(self, name: str) -> tuple[Guard, Option]:
        """The guard and option declaring ``name`` (or an alias); raise if there is none."""
        found = self.options.get(name)
        if found is not None:
            return found
        raise self.missing(name)

    def missing(self, name: str, *, flag: bool = False) -> PolicyError:
        """The error for an option (or, with ``flag=True``, a CLI flag) nobody declares."""
        what = "flag" if flag else "option"
        for dist, guard_name, names, flags in FIRST_PARTY:
            if name in (flags if flag else names):
                for failure in self.failures:
                    if failure.name == guard_name:
                        return GuardNotInstalled(
                            f"{name} needs the {failure.describe()}", distribution=dist
                        )
                return GuardNotInstalled(
                    f"{name} requires {dist}: pip install {dist}", distribution=dist
                )
        known = sorted(self.flags if flag else self.options)
        if not flag:
            known = sorted({*known, *(n for n, _f, _h in CORE_OPTIONS)})
        message = f"unknown {what} {name!r}"
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += f"; known {what}s: {', '.join(known) or 'none'}"
        if self.failures:
            broken = "; ".join(f.describe() for f in self.failures)
            message += f"; note: {broken}"
        return PolicyError(message)


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, discovered and loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry(scan())
    return _REGISTRY


def refresh() -> Registry:
    """Forget the cached registry and discover again (after installing a guard)."""
    global _REGISTRY
    _REGISTRY = None
    return registry()


def guards() -> dict[str, Guard]:
    """The loaded guards by name."""
    return registry().guards


def load_failures() -> list[LoadFailure]:
    """The registered guards that could not be loaded."""
    return registry().failures


__all__ = [
    "CORE_OPTIONS",
    "FIRST_PARTY",
    "GROUP",
    "EntryPoint",
    "LoadFailure",
    "Registry",
    "distribution_version",
    "guards",
    "load_failures",
    "metadata_dirs",
    "normalize_name",
    "read_metadata",
    "refresh",
    "registry",
    "scan",
]
