"""hermetic-imports: the ``imports``, ``code_exec`` and ``interpreter`` guards.

``block_interpreter_mutation=True`` (``--no-interpreter-mutation``) refuses changes to
``sys.path``, ``sys.meta_path``, ``sys.path_hooks``, the working directory, tracing and
``.pth`` processing (``interpreter_guard``).
"""

from hermetic_imports._interpreter import interpreter_guard

__all__ = ["interpreter_guard"]
