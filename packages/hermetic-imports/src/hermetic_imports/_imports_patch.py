"""The imports guard's one implementation: standard library only, never imports hermetic.

hermetic imports this module in-process and executes its source inside the bootstrap of a
foreign interpreter. ``install(options, runtime)`` builds two layers from one :class:`Rules`
object made for that install:

* patches, which see every import by name, cached ones included (an import of a module that
  is already in ``sys.modules`` raises no audit event at all): ``builtins.__import__`` (the
  ``import`` statement, ``__import__``, ``pickle`` and C code calling ``PyImport_Import``),
  ``importlib._bootstrap._gcd_import`` (``importlib.import_module`` and
  ``importlib.__import__``, captured references included, since they look it up at call
  time), both only when a refused module could be found in ``sys.modules``
  (:func:`cache_can_answer`), a finder first on ``sys.meta_path`` (every uncached load:
  ``find_spec``, ``reload``, ``runpy``) and ``ExtensionFileLoader.create_module`` (C
  extensions, also when the loader is used by hand).
* audit handlers, which outlive the patches: ``import`` (uncached imports through the
  interpreter, and every C extension about to be loaded, by ``_imp`` too), ``exec`` of
  module code (a denied module's file run under any name: ``spec_from_file_location``,
  ``runpy.run_path``; ``os.symlink`` and ``os.rename`` only empty its caches of real
  paths), and, under ``block_native``, ``ctypes.dlopen`` and ``ctypes.dlsym`` (shared
  libraries and their symbols) and SQLite's extension loading.

Refusals are ``PolicyViolation`` instances that are also the exception the operation raises
when the thing does not exist (``ModuleNotFoundError`` for imports, ``OSError`` for shared
libraries, ``AttributeError`` for symbols), so code with a fallback (``decimal`` without
``_decimal``, optional dependencies) keeps working. What no layer sees is documented in
docs/guards/imports.md.
"""

from __future__ import annotations

import _frozen_importlib as _bootstrap
import _frozen_importlib_external as _external
import _thread
import builtins
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Callable, NoReturn

#: Modules whose whole purpose is loading and calling native libraries. Under block_native
#: they are refused by name, also when they were imported before the guard: importing them
#: again loads nothing, but what the program would do with them would.
NATIVE_GATEWAYS = ("ctypes", "_ctypes", "cffi", "_cffi_backend")

DENIED = "deny_imports"
NATIVE = "block_native"

NATIVE_REASON = "native code blocked"
NATIVE_HINT = "to allow it, drop --block-native or block_native=True"
EXTENSION_HINT = (
    "block_native loads only the standard library's extensions and those already loaded; "
    "import it before the guard starts, or drop --block-native or block_native=True"
)

_ExtensionFileLoader = _external.ExtensionFileLoader
_resolve_name: Callable[[str, Any, int], str] = _bootstrap._resolve_name  # type: ignore[attr-defined]
_SEP = os.sep
#: Entries kept in each cache of real paths before it is emptied (a bound on memory).
CACHE_LIMIT = 4096


def is_module_name(name: Any) -> bool:
    """Whether ``name`` is an absolute dotted module name (``package.module``)."""
    return type(name) is str and all(part.isidentifier() for part in name.split("."))


_NATIVE_DIRS: list[frozenset[str]] = []


def stdlib_native_dirs() -> frozenset[str]:
    """The real paths of the directories holding the standard library's C extensions.

    ``lib-dynload`` next to the standard library and under ``sys.base_exec_prefix`` (they
    differ when the pure and the platform-specific parts are installed apart). Resolved
    once per process, at the first install that needs them (two ``realpath`` calls are
    most of an install's cost): a link changed later moves nothing into the trusted set.
    """
    if not _NATIVE_DIRS:
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        stdlib = getattr(sys, "_stdlib_dir", None) or os.path.dirname(os.__file__)
        platlib = getattr(sys, "platlibdir", "lib")
        candidates = (
            os.path.join(stdlib, "lib-dynload"),
            os.path.join(sys.base_exec_prefix, platlib, version, "lib-dynload"),
        )
        _NATIVE_DIRS.append(frozenset(os.path.realpath(c) for c in candidates))
    return _NATIVE_DIRS[0]


def loaded_extensions() -> tuple[str, ...]:
    """The files of the C extension modules in ``sys.modules`` (as recorded, not resolved)."""
    suffixes = tuple(_external.EXTENSION_SUFFIXES)
    found = []
    module_type = type(sys)
    for module in list(sys.modules.values()):
        # read the module's own dict: a lazy stand-in's __getattr__ could import things
        if isinstance(module, module_type):
            where = module.__dict__.get("__file__")
            if type(where) is str and where.endswith(suffixes):
                found.append(where)
    return tuple(found)


def absolute_name(name: Any, globals: Any, level: Any) -> str | None:
    """The absolute module name a relative ``__import__`` asks for (``None`` if invalid).

    What ``importlib._bootstrap`` computes from ``__package__``, ``__spec__`` and
    ``__name__``, without its warnings: an invalid request is left to the import system to
    refuse with its own error.
    """
    try:
        package = globals.get("__package__")
        if package is None:
            spec = globals.get("__spec__")
            if spec is not None:
                package = spec.parent
            else:
                package = globals["__name__"]
                if "__path__" not in globals:
                    package = package.rpartition(".")[0]
        if type(package) is not str or not package or type(name) is not str:
            return None
        bits = package.rsplit(".", level - 1)
        if len(bits) < level:
            return None
        base: str = bits[0]
        return f"{base}.{name}" if name else base
    except Exception:
        return None


class Rules:
    """One install's policy: which module names are refused, and whether native code is.

    ``denied`` maps each deny-list entry (and, under block_native, each of
    :data:`NATIVE_GATEWAYS`) to the option that refuses it; ``tops`` holds their first
    components, so the common case, a module nobody denies, costs one set lookup.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        """Read ``deny_imports`` and ``block_native`` from the guard's options."""
        self.denied: dict[str, str] = {}
        for name in options.get("deny_imports") or ():
            if not is_module_name(name):
                # The option's normalize refuses this at policy creation; a bootstrap
                # policy edited by hand must not run with an entry that matches nothing.
                raise ValueError(f"deny_imports entry {name!r} is not a module name")
            self.denied[name] = DENIED
        self.native = bool(options.get("block_native"))
        if self.native:
            for name in NATIVE_GATEWAYS:
                self.denied.setdefault(name, NATIVE)
        self.tops = frozenset(name.partition(".")[0] for name in self.denied)
        self.by_name = any(kind is DENIED for kind in self.denied.values())
        self.stdlib_dirs = stdlib_native_dirs() if self.native else frozenset()
        # Extension modules loaded before the guard, by file: importing one of them again
        # (after ``del sys.modules[name]``, or ``importlib.reload``) loads nothing new.
        self._loaded = loaded_extensions() if self.native else ()
        self._loaded_real: frozenset[str] | None = None

    def entry(self, name: Any) -> str | None:
        """The entry that denies module ``name`` (itself or a package above it), if any."""
        if type(name) is not str or name.partition(".")[0] not in self.tops:
            return None
        denied = self.denied
        candidate: str = name
        while True:
            if candidate in denied:
                return candidate
            dot = candidate.rfind(".")
            if dot < 0:
                return None
            candidate = candidate[:dot]

    def extension_allowed(self, name: Any, path: Any) -> bool:
        """Whether the C extension ``name`` at ``path`` may load under block_native.

        The standard library's own extensions may (``math``, ``select``, ``_socket``: the
        pure-Python standard library cannot work without them), and so may the file of an
        extension module that was loaded before the guard.
        """
        if type(path) is not str:
            return False
        real = os.path.realpath(path)
        if os.path.dirname(real) in self.stdlib_dirs:
            return True
        if self._loaded_real is None:
            self._loaded_real = frozenset(os.path.realpath(f) for f in self._loaded)
        return real in self._loaded_real


class PathNames:
    """The module names a file of module code has, given ``sys.path`` (``module_names``).

    Used to recognise a denied module's code when it is run under another name or from a
    path. Real paths of ``sys.path`` entries are recomputed when ``sys.path`` changes; real
    paths of directories are cached, and so is each absolute file name whose real path has
    no component named like a denied top-level module (``clean``): such a file has no
    denied name on any ``sys.path``, from any working directory, so the common case, a
    module nobody denies, costs one set lookup. Both caches hold what the file system said
    when they were filled: :meth:`forget` empties them when the process makes or moves a
    symbolic link or renames a file (``os.symlink``, ``os.rename``).
    """

    def __init__(self) -> None:
        """Start with empty caches."""
        self._key: tuple[Any, ...] | None = None
        self._relative = False
        self._prefixes: tuple[str, ...] = ()
        self._dirs: dict[str, str] = {}
        self.clean: set[str] = set()
        # Counts forget() calls: what was worked out while one happened (in another
        # thread) is not remembered. The lock is held only to compare and store.
        self._generation = 0
        self._lock = _thread.allocate_lock()

    def forget(self) -> None:
        """Drop every cached real path (the file system may have changed)."""
        with self._lock:
            self._generation += 1
            self._dirs.clear()
            self.clean.clear()

    def _entries(self) -> tuple[str, ...]:
        path = tuple(sys.path)
        # "" and other relative entries mean the current directory, which may change
        key = (path, os.getcwd() if self._relative else None)
        if key != self._key:
            prefixes = []
            relative = False
            for entry in path:
                if type(entry) is str:
                    relative = relative or not os.path.isabs(entry)
                    real = os.path.realpath(entry or os.curdir)
                    prefixes.append(real if real.endswith(_SEP) else real + _SEP)
            self._relative = relative
            self._key = (path, os.getcwd() if relative else None)
            self._prefixes = tuple(dict.fromkeys(prefixes))
        return self._prefixes

    def real_file(self, filename: str) -> str:
        """``realpath(filename)``, with the directory part cached (absolute ones only)."""
        if os.path.islink(filename):
            return os.path.realpath(filename)
        directory, base = os.path.split(filename)
        if not os.path.isabs(directory):
            # relative to the working directory, which may change: never cached
            return os.path.join(os.path.realpath(directory or os.curdir), base)
        real = self._dirs.get(directory)
        if real is None:
            generation = self._generation
            real = os.path.realpath(directory)
            with self._lock:
                if generation == self._generation:
                    if len(self._dirs) > CACHE_LIMIT:
                        self._dirs.clear()
                    self._dirs[directory] = real
        return os.path.join(real, base)

    def candidate(self, filename: str, tops: frozenset[str]) -> str | None:
        """The real path of ``filename``, or ``None`` if no name of it can be in ``tops``.

        A module's name begins with the directory below its ``sys.path`` entry, or with
        its file's stem for a top-level module: a real path with no such component has no
        name to deny. An absolute ``filename`` found so is remembered in :attr:`clean`.
        """
        generation = self._generation
        real = self.real_file(filename)
        parts = real.split(_SEP)
        parts[-1] = parts[-1].partition(".")[0]
        if not tops.isdisjoint(parts):
            return real
        if os.path.isabs(filename):
            with self._lock:
                if generation == self._generation:
                    if len(self.clean) > CACHE_LIMIT:
                        self.clean.clear()
                    self.clean.add(filename)
        return None

    def module_names(self, filename: str, tops: frozenset[str]) -> Iterator[str]:
        """Names of the module in ``filename`` under each ``sys.path`` entry it is below.

        Only names whose first component is in ``tops`` are produced (nothing else can be
        denied).
        """
        real = self.candidate(filename, tops)
        if real is None:
            return
        directory, base = os.path.split(real)
        stem = base.partition(".")[0]
        directory += _SEP
        for prefix in self._entries():
            if directory.startswith(prefix):
                parts = directory[len(prefix) :].split(_SEP)[:-1]
                if stem != "__init__":
                    parts.append(stem)
                if parts and parts[0] in tops and all(p.isidentifier() for p in parts):
                    yield ".".join(parts)


class Finder:
    """The guard's entry on ``sys.meta_path``: refuses denied names before any search.

    Under block_native it also finds, through the finders after it, what would be loaded,
    and swaps a refused compiled module for the Python source shipped next to it.
    """

    __slots__ = ("find_spec",)

    def __init__(self, find_spec: Callable[..., Any]) -> None:
        """Use ``find_spec(name, path=None, target=None)`` as this finder's method."""
        self.find_spec = find_spec

    def __repr__(self) -> str:
        return "<hermetic imports guard finder>"

    def invalidate_caches(self) -> None:
        """Nothing is cached here (``importlib.invalidate_caches`` calls this)."""


def _position(item: Any, items: list[Any]) -> int:
    """Where ``item`` itself (not an equal one) is in ``items``; -1 if it is not."""
    for index, other in enumerate(items):
        if other is item:
            return index
    return -1


def source_instead(spec: Any) -> Any:
    """A spec for the Python source shipped next to a compiled module, or ``None``.

    mypyc and some Cython builds ship ``md.py`` next to ``md.cpython-311-....so``: under
    block_native the module is then loaded from its source instead of being refused.
    """
    origin = spec.origin
    if type(origin) is not str:
        return None
    directory, base = os.path.split(origin)
    source = os.path.join(directory, base.partition(".")[0] + ".py")
    if not os.path.isfile(source):
        return None
    return _external.spec_from_file_location(
        spec.name, source, submodule_search_locations=spec.submodule_search_locations
    )


def cache_can_answer(rules: Rules) -> bool:
    """Whether an import could be answered from ``sys.modules`` with a refused module.

    Only then are ``__import__`` and ``_gcd_import`` patched: they are what sees an import
    of a module that is already loaded (it raises no audit event and reaches no finder),
    and a patched ``__import__`` turns every ``import`` statement of the process, cached
    modules included, into two Python calls. With every entry a top-level name and none of
    them loaded, no refused module can get into ``sys.modules`` under the policy except by
    hand: the finder and the audit layer refuse each load (a thread that was loading one
    as the guard started is stopped when its code runs or its C extension loads). An entry
    that names a submodule keeps the patches: ``from package import sub`` would otherwise
    fail as a plain ``ImportError`` (the import system drops the finder's refusal of a
    name in a ``from`` list).
    """
    if any("." in entry for entry in rules.denied):
        return True
    return not rules.tops.isdisjoint(sys.modules)


def install(options: dict[str, Any], runtime: Any) -> None:
    """Install one layer of the imports guard; ``options`` holds every option it declares."""
    rules = Rules(options)
    violation: Callable[..., Any] = runtime.violation
    tops = rules.tops
    by_name = rules.by_name
    entry_of = rules.entry

    def refuse(name: str, entry: str, what: str | None = None, path: Any = None) -> NoReturn:
        if rules.denied[entry] is DENIED:
            reason = "import denied"
            hint = (
                f"{entry} is in deny_imports; to allow it, drop --deny-import {entry} "
                f"or remove {entry!r} from deny_imports"
            )
        else:
            reason = NATIVE_REASON
            hint = f"{entry} loads and calls native libraries; {NATIVE_HINT}"
        exc = violation(
            what or f"import {name}", name, reason=reason, hint=hint, kind=ModuleNotFoundError
        )
        exc.name = name
        exc.path = path
        raise exc

    def check_name(name: Any) -> None:
        entry = entry_of(name)
        if entry is not None:
            refuse(name, entry)

    def check_extension(name: Any, path: Any) -> None:
        check_name(name)
        if rules.by_name and type(path) is str:
            check_file(path, "load the C extension of")
        if rules.native and not rules.extension_allowed(name, path):
            exc = violation(
                f"load the C extension {name} ({path})",
                name,
                reason=NATIVE_REASON,
                hint=EXTENSION_HINT,
                kind=ModuleNotFoundError,
            )
            exc.name = name
            exc.path = path
            raise exc

    names = PathNames()
    names_of = names.module_names

    def check_file(filename: str, verb: str) -> None:
        for name in names_of(filename, tops):
            entry = entry_of(name)
            if entry is not None:
                refuse(name, entry, f"{verb} {name} from {filename}", filename)

    # -- patches ---------------------------------------------------------------------------

    def refuse_disguised(name: str) -> NoReturn:
        plain = str.__str__(name)
        exc = violation(
            f"import a module named by a {type(name).__name__} ({plain!r}), a str subclass",
            plain,
            reason="import denied",
            hint="under deny_imports a module name must be a plain str: a subclass can "
            "hash and compare as another name, and so find a denied module",
            kind=ModuleNotFoundError,
        )
        exc.name = plain
        raise exc

    def before_import(
        name: Any, globals: Any = None, locals: Any = None, fromlist: Any = (), level: Any = 0
    ) -> None:
        # Runs for every import statement in the process, cached modules included: the
        # common case costs one partition and one set lookup on top of the import.
        if type(name) is not str and isinstance(name, str) and by_name:
            refuse_disguised(name)
        wanted = absolute_name(name, globals, level) if level else name
        if type(wanted) is not str or wanted.partition(".")[0] not in tops:
            return
        check_name(wanted)
        star = False
        for item in fromlist or ():
            if item == "*":
                star = True
            elif type(item) is str:
                check_name(f"{wanted}.{item}")
        if star:
            # `from package import *` imports the submodules in __all__, and the import
            # system drops a refusal of one of them (as if it did not exist): refuse the
            # statement before it binds any name. The package is imported first (the
            # statement would import it next), through the guarded import_module.
            module = _bootstrap._gcd_import(wanted)  # type: ignore[attr-defined]
            try:
                names = list(getattr(module, "__all__", ()))
            except Exception:
                names = []  # the import statement reports a broken __all__ itself
            for item in names:
                if type(item) is str:
                    check_name(f"{wanted}.{item}")

    def before_gcd_import(name: Any, package: Any = None, level: Any = 0) -> None:
        if type(name) is not str and isinstance(name, str) and by_name:
            refuse_disguised(name)
        if level:
            try:
                name = _resolve_name(name, package, level)
            except Exception:
                return  # the import system refuses it with its own error
        check_name(name)

    # Decided once per install: this guard is never parked (it has an uninstall hook), so a
    # module loaded while it is inactive meets a fresh install, and a fresh decision.
    if cache_can_answer(rules):
        runtime.check_before(builtins, "__import__", before_import)
        runtime.check_before(_bootstrap, "_gcd_import", before_gcd_import)

    finder: Finder

    native = rules.native

    def find_spec(name: Any, path: Any = None, target: Any = None) -> Any:
        # Runs for every module not imported yet: the common case is check_name inlined.
        if type(name) is str:
            if name.partition(".")[0] in tops:
                check_name(name)
        elif isinstance(name, str) and by_name:
            refuse_disguised(name)
        if not native:
            return None
        # Find what the rest of the import system would load, to swap a compiled module
        # that may not load for the Python source shipped next to it.
        meta_path = list(sys.meta_path)
        # first: where it is put, and where it normally stays
        here = 0 if meta_path and meta_path[0] is finder else _position(finder, meta_path)
        if here < 0:
            return None
        for other in meta_path[here + 1 :]:
            find = getattr(other, "find_spec", None)
            if find is None:
                return None  # a legacy finder: leave the search to the import system
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if isinstance(spec.loader, _ExtensionFileLoader) and not rules.extension_allowed(
            spec.name, spec.origin
        ):
            return source_instead(spec) or spec  # a spec refused when it is loaded
        return spec

    finder = Finder(find_spec)

    def before_create_module(loader: Any, spec: Any, *rest: Any) -> None:
        check_extension(getattr(spec, "name", None), getattr(spec, "origin", None))

    runtime.check_before(_ExtensionFileLoader, "create_module", before_create_module)

    # -- audit layer -----------------------------------------------------------------------

    def on_import(_event: str, args: tuple[Any, ...]) -> None:
        name = args[0]
        if args[1] is not None:
            check_extension(name, args[1])  # a C extension about to be loaded
        elif type(name) is not str or name.partition(".")[0] in tops:
            check_name(name)  # an uncached import through the interpreter

    runtime.on_audit("import", on_import)

    if rules.by_name:
        clean = names.clean

        def on_exec(_event: str, args: tuple[Any, ...]) -> None:
            # Runs for every module body (and every exec of code) in the process: a file
            # already known to hold no denied name costs one set lookup.
            try:
                code = args[0]
                if code.co_name != "<module>" or code.co_filename in clean:
                    return
                filename = code.co_filename
            except (AttributeError, IndexError, TypeError):
                return  # not a code object: an event raised by hand (sys.audit)
            if type(filename) is str and filename and filename[0] != "<":
                check_file(filename, "run the code of")

        def on_link(_event: str, _args: tuple[Any, ...]) -> None:
            # A symbolic link made or moved, a file or directory renamed: a cached real
            # path may be wrong now.
            names.forget()

        runtime.on_audit("exec", on_exec)
        runtime.on_audit("os.symlink", on_link)
        runtime.on_audit("os.rename", on_link)

    if rules.native:
        install_native(runtime)

    # Last: a failed install is undone by the runtime handle, which knows nothing of this.
    sys.meta_path.insert(0, finder)
    runtime.hermetic_imports_finder = finder


def install_native(runtime: Any) -> None:
    """The block_native layers for shared libraries: ctypes, cffi and SQLite extensions."""
    deny: Callable[..., NoReturn] = runtime.deny

    def refuse_library(name: Any, how: str) -> NoReturn:
        deny(
            f"open the program's own symbols with {how} (dlopen(NULL))"
            if name is None
            else f"load the shared library {name} with {how}",
            "<main program>" if name is None else str(name),
            reason=NATIVE_REASON,
            hint=f"no new shared library may load; {NATIVE_HINT}",
            kind=OSError,
        )

    def on_dlopen(_event: str, args: tuple[Any, ...]) -> None:
        refuse_library(args[0], "ctypes")

    def refuse_symbol(symbol: Any, kind: type[BaseException]) -> NoReturn:
        deny(
            f"look up the native function {symbol} with ctypes",
            str(symbol),
            reason=NATIVE_REASON,
            hint=f"no new native function may be reached; {NATIVE_HINT}",
            kind=kind,
        )

    def on_dlsym(_event: str, args: tuple[Any, ...]) -> None:
        refuse_symbol(args[1], AttributeError)  # what a missing symbol raises

    def on_dlsym_handle(_event: str, args: tuple[Any, ...]) -> None:
        refuse_symbol(args[1], OSError)  # what _ctypes.dlsym raises for a missing symbol

    def on_sqlite(event: str, args: tuple[Any, ...]) -> None:
        if event == "sqlite3.load_extension" or args[1]:
            deny(
                "load an SQLite extension"
                + (f" ({args[1]})" if event == "sqlite3.load_extension" else ""),
                str(args[1]) if event == "sqlite3.load_extension" else "sqlite3",
                reason=NATIVE_REASON,
                hint=f"SQLite extensions are shared libraries; {NATIVE_HINT}",
            )

    runtime.on_audit("ctypes.dlopen", on_dlopen)
    runtime.on_audit("ctypes.dlsym", on_dlsym)
    runtime.on_audit("ctypes.dlsym/handle", on_dlsym_handle)
    runtime.on_audit("sqlite3.enable_load_extension", on_sqlite)
    runtime.on_audit("sqlite3.load_extension", on_sqlite)

    # cffi loads libraries without an audit event: its backend's loader is patched when the
    # backend was imported before the guard (it cannot be imported under it).
    backend = sys.modules.get("_cffi_backend")
    if backend is not None and hasattr(backend, "load_library"):

        def before_load_library(name: Any = None, *rest: Any, **kwargs: Any) -> None:
            refuse_library(name, "cffi")

        runtime.check_before(backend, "load_library", before_load_library)


def uninstall(runtime: Any) -> None:
    """Take this layer's finder off ``sys.meta_path`` (the handle undoes the rest)."""
    finder = getattr(runtime, "hermetic_imports_finder", None)
    if finder is not None:
        try:
            sys.meta_path.remove(finder)
        except ValueError:
            pass
        runtime.hermetic_imports_finder = None
