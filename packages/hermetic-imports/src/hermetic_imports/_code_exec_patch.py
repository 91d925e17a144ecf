"""The code-exec guard's one implementation: standard library only, never imports hermetic.

hermetic imports this module in-process and executes its source inside the bootstrap of a
foreign interpreter. ``install(options, runtime)`` builds two layers that share one verdict,
:func:`Rules.trusted`, on the Python frame that called ``eval``, ``exec`` or ``compile``:

* patches on ``builtins.eval``, ``builtins.exec`` and ``builtins.compile``: they know the
  builtin that was called and its arguments, refuse before anything is compiled, and then
  run an allowed call as if they were not there (the caller's globals, locals and
  ``from __future__`` flags, which these builtins otherwise take from the frame calling
  them: this module's own);
* audit handlers on the ``compile`` and ``exec`` events, which CPython raises in C for every
  path into the compiler and for every code object run by ``exec``/``eval``, references
  captured before the guard, ``runpy``, ``PyRun_*`` through ctypes and C callers included.
  They keep enforcing in a sealed process whose patches were undone.

A call belongs to "the interpreter's own machinery" when there is no Python frame at all
(the interpreter running ``__main__``: a script, ``-c``, the basic REPL) or when the frame
making it is one of the functions in :data:`RULES` (the import system, ``runpy`` running
``-m``, the standard library's code generators, pytest's assertion rewriting), identified by
module name, function name and the file its code was compiled from, and, for a function that
runs whatever it is handed (``importlib``'s ``_call_with_frames_removed``, ``runpy``'s
``_run_code``), by who called it. Everything else is the program's. The patches add two
verdicts that need the call's arguments: a code object of a module body run into that
module's own ``__dict__`` is importing (third-party loaders), and ``compile`` with
``PyCF_ONLY_AST`` only parses. docs/guards/code-exec.md lists what this does not stop.

No ``from __future__ import annotations`` here, on purpose: every frame of this module
that calls the real builtins must carry no compiler flags of its own (see
:func:`install`), so annotations are written as strings.
"""

import __future__

import _frozen_importlib
import _frozen_importlib_external
import _thread
import builtins
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Any, Callable, NoReturn, Optional

    Rule = tuple[str, frozenset[tuple[str, str]]]

_getframe = sys._getframe
# The builtins themselves: this module runs before its first layer is installed.
_compile = compile
_BUILTINS = {"exec": exec, "compile": compile}
# Not compile(): a code-exec guard already installed (the bootstrap's) would refuse it here.
_CodeType = type((lambda: None).__code__)

#: The import system's modules and the builtins they call by name. They get the builtins
#: themselves as module globals (which come before builtins in a name lookup), so a module
#: body runs with no frame of this guard below it: its tracebacks, and the caller that
#: ``warnings.warn(stacklevel=2)`` finds, stay what they are without the guard. The audit
#: layer still judges every one of those calls.
IMPORT_SYSTEM = (
    ("_frozen_importlib_external", ("exec", "compile")),
    ("_frozen_importlib", ("exec",)),
    ("zipimport", ("exec", "compile")),
)
#: The installed layers (their runtime handles) that keep the import system's builtins.
_HOLDERS: "list[Any]" = []

#: ``compile(..., flags=ast.PyCF_ONLY_AST)``: produce an AST, no code object.
PyCF_ONLY_AST = 0x400
#: The ``from __future__`` flags a frame passes on to code compiled from it.
FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    if _feature not in ("nested_scopes", "generators"):  # obsolete: not compiler flags
        FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag
del _feature

REASON = "code execution disabled"
SWITCH_HINT = (
    "to allow it, drop --no-code-exec / block_code_exec=True; code run by an importable module "
    "can be trusted with --allow-code-exec-from MODULE"
)

# How a function of RULES is trusted: for anything it compiles or runs (ANY); only when
# called by one of the listed functions, themselves trusted (VIA); only when called from C
# with no Python frame below it (ROOT: runpy._run_module_as_main, which runs ``python -m``).
ANY = "any"
VIA = "via"
ROOT = "root"

_BOOT = ("importlib._bootstrap", "_frozen_importlib")
_EXTERNAL = ("importlib._bootstrap_external", "_frozen_importlib_external")
#: Module names whose code objects are compiled from another name's file.
ALIASES = {
    "_frozen_importlib": "importlib._bootstrap",
    "_frozen_importlib_external": "importlib._bootstrap_external",
}
#: Modules of RULES that are not part of the standard library (matched by file name only).
THIRD_PARTY = frozenset(["_pytest.assertion.rewrite", "_pytest.mark.expression"])

_TABLE = (
    # -- the import system: a module body compiled from its file and run into its module
    (_BOOT, "_call_with_frames_removed", VIA, [(m, "exec_module") for m in _EXTERNAL]),
    (_BOOT, "_call_with_frames_removed", VIA, [(m, "source_to_code") for m in _EXTERNAL]),
    (_EXTERNAL, "exec_module", ANY, ()),  # _LoaderBasics: every source and .pyc loader
    (_EXTERNAL, "source_to_code", ANY, ()),
    (_EXTERNAL, "get_code", ANY, ()),  # NamespaceLoader compiles an empty module
    (_BOOT, "exec_module", ANY, ()),  # FrozenImporter runs a frozen module's code
    ("zipimport", "_compile_source", ANY, ()),
    ("zipimport", "load_module", ANY, ()),
    ("importlib.abc", "source_to_code", ANY, ()),  # InspectLoader-based loaders
    # -- runpy, when it runs ``python -m`` or a multiprocessing child's __main__
    ("runpy", "_run_module_as_main", ROOT, ()),
    ("runpy", "_run_code", VIA, [("runpy", f) for f in ("_run_module_as_main", "run_module")]),
    ("runpy", "_run_code", VIA, [("runpy", "_run_module_code")]),
    ("runpy", "_run_module_code", VIA, [("runpy", f) for f in ("run_path", "run_module")]),
    ("runpy", "_get_code_from_file", VIA, [("runpy", "run_path")]),
    ("runpy", "run_path", VIA, [("multiprocessing.spawn", "_fixup_main_from_path")]),
    ("runpy", "run_module", VIA, [("multiprocessing.spawn", "_fixup_main_from_name")]),
    ("multiprocessing.spawn", "_fixup_main_from_path", ANY, ()),
    ("multiprocessing.spawn", "_fixup_main_from_name", ANY, ()),
    # -- the standard library's code generators (text they build from what they are given)
    ("collections", "namedtuple", ANY, ()),
    ("dataclasses", "_create_fn", ANY, ()),  # 3.9-3.12
    ("dataclasses", "add_fns_to_class", ANY, ()),  # 3.13
    ("unittest.mock", "_set_signature", ANY, ()),
    ("unittest.mock", "_set_async_signature", ANY, ()),
    ("gettext", "c2py", ANY, ()),  # plural forms of a translation catalogue
    ("multiprocessing.managers", "MakeProxyType", ANY, ()),
    ("multiprocessing.sharedctypes", "make_property", ANY, ()),
    # -- annotations written as strings, and parsing without compiling
    ("typing", "__init__", ANY, ()),  # ForwardRef.__init__ compiles the annotation
    ("typing", "_evaluate", ANY, ()),  # ForwardRef._evaluate evaluates it
    ("inspect", "get_annotations", ANY, ()),  # eval_str=True
    ("inspect", "<dictcomp>", VIA, [("inspect", "get_annotations")]),  # 3.10, 3.11
    ("inspect", "wrap_value", ANY, ()),  # dotted names in builtins' text signatures
    ("ast", "parse", ANY, ()),  # an AST, never a code object
    # -- pytest: assertion rewriting of test modules, -k / -m expressions
    ("_pytest.assertion.rewrite", "_rewrite_test", ANY, ()),
    ("_pytest.assertion.rewrite", "exec_module", ANY, ()),
    ("_pytest.mark.expression", "compile", ANY, ()),
    ("_pytest.mark.expression", "evaluate", ANY, ()),
)


def _code(owner: "Any", *path: str) -> "Any":
    """The code object of function ``owner.<path>`` (``None`` if there is none)."""
    for attr in path:
        owner = getattr(owner, attr, None)
    code = getattr(owner, "__code__", None)
    return code if isinstance(code, _CodeType) else None


#: The import system compiling or running a module: ``_call_with_frames_removed`` called by
#: these loader functions (the RULES say the same; these are checked first, by identity of
#: code and globals, which a program cannot forge the way it can forge a ``__name__``).
RELAY = _code(_frozen_importlib, "_call_with_frames_removed")
RELAYED_BY = (
    _code(_frozen_importlib_external, "_LoaderBasics", "exec_module"),
    _code(_frozen_importlib_external, "SourceLoader", "source_to_code"),
)


def _build_rules() -> "dict[str, dict[str, Rule]]":
    rules: dict[str, dict[str, tuple[str, set[tuple[str, str]]]]] = {}
    for modules, function, kind, callers in _TABLE:
        expanded = {(a, f) for m, f in callers for a in ((m,) if isinstance(m, str) else m)}
        for module in (modules,) if isinstance(modules, str) else modules:
            rule = rules.setdefault(module, {}).setdefault(function, (kind, set()))
            rule[1].update(expanded)
    return {m: {f: (k, frozenset(c)) for f, (k, c) in fs.items()} for m, fs in rules.items()}


#: module ``__name__`` -> function ``co_name`` -> (kind, trusted callers for VIA).
RULES = _build_rules()


def stdlib_dirs() -> "frozenset[str]":
    """The directories the standard library's source files are loaded from."""
    dirs: set[str] = set()
    for path in (getattr(os, "__file__", None), getattr(sys, "_stdlib_dir", None)):
        if path:
            directory = path if not path.endswith(".py") else os.path.dirname(path)
            dirs.update((directory, os.path.realpath(directory)))
    return frozenset(dirs)


def file_matches(module: str, filename: str, stdlib: "Optional[frozenset[str]]") -> bool:
    """Whether ``filename`` is where code of ``module`` comes from.

    ``<frozen NAME>``, or a path ending in NAME's file (``collections/__init__.py``); with
    ``stdlib``, the path must also lie in one of those directories. A program that sets
    ``__name__ = "dataclasses"`` in its own file does not pass.
    """
    real = ALIASES.get(module, module)
    if filename == "<frozen " + real + ">":
        return True
    relative = real.replace(".", os.sep)
    for tail in (relative + ".py", relative + os.sep + "__init__.py"):
        if filename.endswith(os.sep + tail):
            if stdlib is None:
                return True
            directory = filename[: -len(tail) - 1]
            return directory in stdlib or os.path.realpath(directory) in stdlib
    return False


def in_stdlib(filename: str, stdlib: "frozenset[str]") -> bool:
    """Whether ``filename`` is a file of the standard library (site-packages excluded)."""
    if filename.startswith("<frozen "):
        return True
    for directory in stdlib:
        if filename.startswith(directory + os.sep):
            rest = filename[len(directory) + 1 :]
            return not rest.startswith(("site-packages", "dist-packages"))
    return False


def excerpt(source: "Any") -> str:
    """A short, printable rendering of source text for a message."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        text = bytes(source).decode("utf-8", "replace")
    elif isinstance(source, str):
        text = source
    elif isinstance(source, _CodeType):
        return f"<code {source.co_name} of {source.co_filename}>"
    else:
        return f"a {type(source).__name__} object"
    text = " ".join(text.split())
    if len(text) > 48:
        text = text[:45] + "..."
    return repr(text)


class Rules:
    """One install's verdicts on frames: the interpreter's machinery, or the program."""

    def __init__(self, allowed: "tuple[str, ...]", stdlib: "frozenset[str]") -> None:
        """Trust RULES plus the modules in ``allowed`` (``allow_code_exec_from``)."""
        self.allowed = allowed
        self.stdlib = stdlib
        #: Namespaces whose frames call the builtins on someone else's behalf (this
        #: module's, the runtime's patch wrappers): passed over, never judged.
        self.transparent: list[Any] = []
        #: (module name, file of a function's code) -> file_matches() for the rules: the
        #: same few functions of RULES ask again and again (a dataclass asks six times).
        self._matches: dict[tuple[str, str], bool] = {}

    def comes_from(self, name: str, filename: str) -> bool:
        """``file_matches`` of a RULES module, checked against the standard library's files."""
        key = (name, filename)
        found = self._matches.get(key)
        if found is None:
            found = file_matches(name, filename, None if name in THIRD_PARTY else self.stdlib)
            if len(self._matches) > 1024:
                self._matches.clear()
            self._matches[key] = found
        return found

    def outside(self, frame: "Optional[FrameType]") -> "Optional[FrameType]":
        """``frame``, or the first frame below it that is not a transparent one."""
        while frame is not None:
            namespace = frame.f_globals
            for transparent in self.transparent:
                if namespace is transparent:
                    break
            else:
                return frame
            frame = frame.f_back
        return None

    def allowed_module(self, name: "Any", frame: "FrameType") -> bool:
        """Whether ``frame`` is code of a module the policy trusts by name."""
        if not self.allowed or type(name) is not str:
            return False
        for module in self.allowed:
            if name == module or name.startswith(module + "."):
                return file_matches(name, frame.f_code.co_filename, None)
        return False

    def trusted(self, frame: "FrameType") -> bool:
        """Whether a compile or exec made by ``frame`` is the interpreter's machinery."""
        code = frame.f_code  # an audited read (object.__getattr__): read each frame's once
        for _ in range(8):  # the longest chain of VIA rules is four frames
            name = frame.f_globals.get("__name__")
            if type(name) is not str:
                return False
            functions = RULES.get(name)
            if functions is None:
                return self.allowed_module(name, frame)
            rule = functions.get(code.co_name)
            if rule is None or not self.comes_from(name, code.co_filename):
                return self.allowed_module(name, frame)
            kind, callers = rule
            if kind is ANY:
                return True
            caller = self.outside(frame.f_back)
            if kind is ROOT:
                return caller is None
            if caller is None:
                return False
            caller_name = caller.f_globals.get("__name__")
            if type(caller_name) is not str:
                return False
            code = caller.f_code
            if (caller_name, code.co_name) not in callers:
                return False
            frame = caller  # trusted only if that caller is, by its own rule
        return False

    def blame(self, frame: "FrameType") -> "tuple[str, FrameType]":
        """Where the program made a refused call: ``(entry, site)``.

        ``entry`` is the standard-library function the program called on the way
        (``runpy.run_path``), ``""`` if it called the builtin itself; ``site`` is the
        program's own frame (``frame`` itself when every frame is the standard library's).
        """
        entry = ""
        current: Optional[FrameType] = frame
        while current is not None and in_stdlib(current.f_code.co_filename, self.stdlib):
            entry = f"{current.f_globals.get('__name__')}.{current.f_code.co_name}"
            current = self.outside(current.f_back)
        if current is None:
            return "", frame
        return entry, current


class _Expected(_thread._local):
    """Per thread: the audit events an allowed call of the patches is about to raise.

    ``None`` is a class attribute: reading it in a thread that has set nothing yet raises
    no ``AttributeError`` inside (``getattr`` with a default would, on every event).
    """

    expect: "Optional[tuple[str, ...]]" = None


def _locals_of(frame: "FrameType") -> "Any":
    # What exec/eval take by default: on 3.13 a function's locals are a snapshot dict,
    # never the write-through proxy frame.f_locals returns.
    found = frame.f_locals
    if type(found).__name__ == "FrameLocalsProxy":
        return dict(found)
    return found


def _compile_arguments(
    source: "Any",
    filename: "Any",
    mode: "Any",
    flags: "Any" = 0,
    dont_inherit: "Any" = False,
    optimize: "Any" = -1,
    **extra: "Any",
) -> "tuple[Any, Any, Any, Any, Any, Any, dict[str, Any]]":
    return source, filename, mode, flags, dont_inherit, optimize, extra


def install(options: "dict[str, Any]", runtime: "Any") -> None:
    """Install one layer of the code-exec guard; ``options`` holds every option it declares.

    Calls the guard lets through are made from this module's frames, so they are run the
    way the builtin would have run them for the original caller: with its globals and
    locals when none are given, and with its ``from __future__`` flags.
    """
    rules = Rules(tuple(options.get("allow_code_exec_from") or ()), stdlib_dirs())
    deny: Callable[..., NoReturn] = runtime.deny
    # The events an allowed call of the patches is about to raise: the audit layer lets
    # exactly those through (the patch decided, on arguments the events do not carry).
    state = _Expected()
    rules.transparent.append(globals())
    outside = rules.outside

    def hint_for(frame: "FrameType") -> str:
        # The module whose code called the builtin is the one to trust, if any.
        name = frame.f_globals.get("__name__")
        if (
            type(name) is str
            and name != "__main__"
            and all(p.isidentifier() for p in name.split("."))
            and file_matches(name, frame.f_code.co_filename, None)
        ):
            return (
                f"if {name} generates code on purpose, trust it with "
                f"--allow-code-exec-from {name} or allow_code_exec_from=[{name!r}]"
            )
        return SWITCH_HINT

    def refuse(call: str, frame: "FrameType") -> "NoReturn":
        entry, site = rules.blame(frame)
        target = call.partition("(")[0].split(" ")[0]
        if entry.startswith("runpy."):
            target = "runpy." + entry.rpartition(".")[2]
        what = call if not entry else f"{call} through {entry}()"
        where = f"{site.f_code.co_filename}:{site.f_lineno}"
        deny(f"{what} in {where}", target, reason=REASON, hint=hint_for(frame))

    boot_globals = vars(_frozen_importlib)
    external_globals = vars(_frozen_importlib_external)
    relay = RELAY
    exec_module, source_to_code = RELAYED_BY

    def on_event(event: str, args: "tuple[Any, ...]") -> None:
        expected = state.expect
        if expected is not None:
            if expected[0] == event:
                state.expect = expected[1:] or None
                return
            state.expect = None
        try:
            frame = _getframe(2)  # 0: this handler, 1: the runtime's hook
        except ValueError:
            return  # no Python frame: the interpreter itself runs __main__
        # The common case first, each import's module body (RULES say the same, slower):
        # _call_with_frames_removed called by the loader that compiles or runs it.
        if frame.f_globals is boot_globals and frame.f_code is relay:
            back = frame.f_back
            if back is not None and back.f_globals is external_globals:
                code = back.f_code
                if code is exec_module or code is source_to_code:
                    return
        caller = outside(frame)
        if caller is None or rules.trusted(caller):
            return
        if event == "compile":
            refuse(f"compile of {excerpt(args[0] if args else None)}", caller)
        refuse(f"exec of {excerpt(args[0] if args else None)}", caller)

    runtime.on_audit("compile", on_event)
    runtime.on_audit("exec", on_event)

    def expecting(events: "tuple[str, ...]", function: "Any", *args: "Any") -> "Any":
        state.expect = events
        try:
            return function(*args)
        finally:
            state.expect = None

    def prepare(name: str, args: "tuple[Any, ...]", kwargs: "dict[str, Any]") -> "Any":
        """Judge a call of eval or exec: how to make it, or ``None`` to pass it on as is.

        How: ``(the events it raises, its arguments, its keyword arguments)``.
        """
        caller = outside(_getframe(1))
        if not args or caller is None:
            return None  # a TypeError of the builtin's own, or a C caller
        source = args[0]
        is_code = isinstance(source, _CodeType)
        if not rules.trusted(caller):
            namespace = args[1] if len(args) > 1 else kwargs.get("globals")
            if (
                name == "exec"
                and is_code
                and _module_body_into_module(source, namespace)
                # the standard library's own loaders are in RULES; any other of its
                # functions running a module body (runpy, pdb) runs what the program chose
                and not in_stdlib(caller.f_code.co_filename, rules.stdlib)
            ):
                return ("exec",), args, kwargs
            refuse(f"{name}({excerpt(source)})", caller)
        if sys.version_info < (3, 13) and ("globals" in kwargs or "locals" in kwargs):
            return None  # the builtin's own TypeError
        rest = dict(kwargs)
        namespace = args[1] if len(args) > 1 else rest.pop("globals", None)
        local = args[2] if len(args) > 2 else rest.pop("locals", None)
        if namespace is None:
            namespace = caller.f_globals
            if local is None:
                local = _locals_of(caller)
        if is_code:
            return ("exec",), (source, namespace, local), rest
        flags = caller.f_code.co_flags & FUTURE_FLAGS
        if not flags:
            return ("compile", "exec"), (source, namespace, local), rest
        if not isinstance(source, (str, bytes, bytearray)):
            return (), (source, namespace, local), rest  # the builtin's own TypeError
        if name == "eval":  # eval ignores leading blanks; compile would refuse them
            source = source.lstrip(" \t") if isinstance(source, str) else source.lstrip(b" \t")
        code = expecting(("compile",), _compile, source, "<string>", name, flags, True)
        return ("exec",), (code, namespace, local), rest

    def runner(name: str) -> "Callable[..., Any]":
        # One frame of this module between the caller and the builtin (plus the runtime's
        # wrapper): the code that exec and eval run has them below it in tracebacks.
        def around(original: "Any", *args: "Any", **kwargs: "Any") -> "Any":
            plan = prepare(name, args, kwargs)
            if plan is None:
                return original(*args, **kwargs)
            state.expect = plan[0] or None
            try:
                return original(*plan[1], **plan[2])
            finally:
                state.expect = None

        return around

    def around_compile(original: "Any", *args: "Any", **kwargs: "Any") -> "Any":
        caller = outside(_getframe(1))
        try:
            source, filename, mode, flags, dont_inherit, optimize, extra = _compile_arguments(
                *args, **kwargs
            )
        except TypeError:
            return original(*args, **kwargs)
        if caller is None or type(flags) is not int:
            return original(*args, **kwargs)
        if not (flags & PyCF_ONLY_AST or rules.trusted(caller)):
            refuse(f"compile({excerpt(source)}, {filename!r}, {mode!r})", caller)
        if not dont_inherit:
            flags |= caller.f_code.co_flags & FUTURE_FLAGS
        state.expect = ("compile",)
        try:
            return original(source, filename, mode, flags, True, optimize, **extra)
        finally:
            state.expect = None

    arounds = (("exec", runner("exec")), ("eval", runner("eval")), ("compile", around_compile))
    for attr, around in arounds:
        runtime.wrap(builtins, attr, around)
        wrapper_globals = getattr(vars(builtins)[attr], "__globals__", None)
        if wrapper_globals is not None and all(
            wrapper_globals is not ns for ns in rules.transparent
        ):
            rules.transparent.append(wrapper_globals)
    _HOLDERS.append(runtime)
    _lend_builtins(True)


def _lend_builtins(lend: bool) -> None:
    """Give the import system the real builtins (``lend``), or take back what was given."""
    for module_name, names in IMPORT_SYSTEM:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        namespace = vars(module)
        for name in names:
            if lend:
                namespace.setdefault(name, _BUILTINS[name])
            elif namespace.get(name) is _BUILTINS[name]:
                del namespace[name]


def _module_body_into_module(code: "CodeType", namespace: "Any") -> bool:
    """Whether ``exec(code, namespace)`` runs a module body into its module: importing."""
    if code.co_name != "<module>" or type(namespace) is not dict:
        return False
    name = namespace.get("__name__")
    module = sys.modules.get(name) if type(name) is str else None
    return module is not None and getattr(module, "__dict__", None) is namespace


def uninstall(runtime: "Any") -> None:
    """Take back the import system's builtins when the last layer goes.

    Having an uninstall hook also means this layer is never parked: a parked (suspended)
    patch passes calls through from the runtime's own frame, and ``exec``, ``eval`` and
    ``compile`` would then take that frame's globals and compiler flags instead of their
    caller's. The layer is removed for real instead.
    """
    if runtime in _HOLDERS:
        _HOLDERS.remove(runtime)
    if not _HOLDERS:
        _lend_builtins(False)
