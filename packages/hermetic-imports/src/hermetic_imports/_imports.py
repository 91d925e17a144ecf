"""The ``imports`` guard's declaration: its options and how their values are checked.

``deny_imports=[M, ...]`` (``--deny-import M``, repeatable) refuses importing the modules M
and their submodules; ``block_native=True`` (``--block-native``) refuses loading native code
that is not already loaded: C extension modules from outside the interpreter's standard
library, ``ctypes``, ``cffi`` and shared libraries. Either switches the guard on. The
implementation is the patch module ``hermetic_imports._imports_patch``.
"""

from __future__ import annotations

from hermetic.contract import Option, define_guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def _problem(name: str) -> str | None:
    """Why ``name`` is not an absolute, dotted module name (``None`` if it is one)."""
    if not name:
        return "an empty module name"
    if name != name.strip() or any(c.isspace() for c in name):
        return f"{name!r} contains white space"
    if "*" in name:
        base = name.split("*")[0].rstrip(".")
        return f"{name!r}: wildcards are not needed; a module also denies its submodules" + (
            f" (write {base!r})" if base else ""
        )
    if name.startswith("."):
        return f"{name!r} is a relative name; give the absolute module name"
    if "/" in name or "\\" in name or name.endswith(".py"):
        return f"{name!r} is a path; give the module name (package.module)"
    parts = name.split(".")
    if "" in parts:
        return f"{name!r} has an empty part between dots"
    for part in parts:
        if not part.isidentifier():
            problem = f"{name!r} is not a module name: {part!r} is not an identifier"
            if "-" in part and part.replace("-", "_").isidentifier():
                problem += (
                    f" (a distribution name? its import name is usually {name.replace('-', '_')!r})"
                )
            return problem
    if not name.isascii():
        import unicodedata

        normal = unicodedata.normalize("NFKC", name)
        if normal != name:
            # The parser NFKC-normalises identifiers: `import` statements never ask for it.
            return f"{name!r} is not in NFKC normal form; write {normal!r}"
    return None


def normalize_modules(value: Iterable[str]) -> tuple[str, ...]:
    """Check every ``deny_imports`` entry; return them unchanged, in order, once each.

    Raises:
        ValueError: an entry is not an absolute dotted module name.
    """
    names = tuple(dict.fromkeys(value))
    for name in names:
        problem = _problem(name)
        if problem is not None:
            raise ValueError(problem)
    return names


imports_guard = define_guard(
    "imports",
    summary="Refuses denied modules and native code that is not already loaded.",
    patch_module="hermetic_imports._imports_patch",
    options=[
        Option(
            "deny_imports",
            list,
            flags=["--deny-import"],
            metavar="MODULE",
            help="Refuse importing MODULE and its submodules, by any route.",
            enables=True,
            normalize=normalize_modules,
        ),
        Option(
            "block_native",
            bool,
            flags=["--block-native"],
            help="Refuse loading native code: C extensions from outside the standard "
            "library, ctypes, cffi and shared libraries (already loaded ones keep working).",
            enables=True,
        ),
    ],
)

__all__ = ["imports_guard", "normalize_modules"]
