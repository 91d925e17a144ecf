"""The ``code_exec`` guard's declaration: its options and its patch module.

``block_code_exec=True`` (``--no-code-exec``) refuses ``eval``, ``exec``, ``compile`` and
``runpy.run_path`` / ``run_module`` when the program calls them, while the interpreter's
own machinery (imports, dataclasses, namedtuple, typing, ...) keeps working;
``allow_code_exec_from=[MODULE, ...]`` (``--allow-code-exec-from MODULE``) trusts a module
that generates code on purpose (attrs, a template engine) the way the standard library's
code generators are trusted. The implementation is ``hermetic_imports._code_exec_patch``.
"""

from __future__ import annotations

from hermetic.contract import INTERSECTION, Option, define_guard


def normalize_modules(value: tuple[str, ...]) -> tuple[str, ...]:
    """Check that every ``allow_code_exec_from`` entry is a dotted module name."""
    names = []
    for entry in value:
        name = entry.strip()
        if not name or not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(
                f"{entry!r} is not a module name (write it as attr or jinja2.environment)"
            )
        names.append(name)
    return tuple(names)


code_exec_guard = define_guard(
    "code_exec",
    summary="Refuses eval, exec, compile and runpy by the program; imports, dataclasses "
    "and the standard library's other code generators keep working.",
    patch_module="hermetic_imports._code_exec_patch",
    options=[
        Option(
            "block_code_exec",
            bool,
            flags=["--no-code-exec"],
            aliases=["no_code_exec"],
            help="Refuse eval, exec, compile and runpy.run_path/run_module called by the "
            "program (imports and the standard library's code generators keep working).",
            enables=True,
        ),
        Option(
            "allow_code_exec_from",
            list,
            flags=["--allow-code-exec-from"],
            metavar="MODULE",
            help="Trust eval/exec/compile called by MODULE or its submodules, a library that "
            "generates code on purpose such as attrs.",
            merge=INTERSECTION,
            normalize=normalize_modules,
        ),
    ],
)

__all__ = ["code_exec_guard", "normalize_modules"]
