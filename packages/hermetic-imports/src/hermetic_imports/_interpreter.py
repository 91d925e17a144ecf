"""The ``interpreter`` guard's declaration: its one option and its patch module.

``block_interpreter_mutation=True`` (``--no-interpreter-mutation``, alias
``no_interpreter_mutation``) freezes ``sys.path``, ``sys.meta_path`` and ``sys.path_hooks``,
the working directory, trace and profile functions, and ``.pth`` processing for the
program; reading all of them keeps working. The implementation is
``hermetic_imports._interpreter_patch``.
"""

from __future__ import annotations

from hermetic.contract import Option, define_guard

interpreter_guard = define_guard(
    "interpreter",
    summary="Refuses changes to sys.path and the import hooks, chdir, tracing and .pth files.",
    patch_module="hermetic_imports._interpreter_patch",
    options=[
        Option(
            "block_interpreter_mutation",
            bool,
            flags=["--no-interpreter-mutation"],
            aliases=["no_interpreter_mutation"],
            help="Refuse changes to sys.path, sys.meta_path and sys.path_hooks, os.chdir, "
            "trace and profile functions, and site.addsitedir (.pth files).",
            enables=True,
        ),
    ],
)

__all__ = ["interpreter_guard"]
