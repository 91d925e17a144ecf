"""hermetic-imports: the ``imports``, ``code_exec`` and ``interpreter`` guards.

* ``imports``: ``deny_imports=[M, ...]`` (``--deny-import M``) refuses importing M and its
  submodules by any route; ``block_native=True`` (``--block-native``) refuses native code
  that is not already loaded (C extensions from outside the standard library, ctypes, cffi).
* ``code_exec``: ``block_code_exec=True`` (``--no-code-exec``) refuses ``eval``, ``exec``,
  ``compile`` and ``runpy`` called by the program, while imports and the standard library's
  own code generators keep working.
* ``interpreter``: ``block_interpreter_mutation=True`` (``--no-interpreter-mutation``)
  refuses changes to ``sys.path``, ``sys.meta_path``, ``sys.path_hooks``, the working
  directory, tracing and ``.pth`` processing.
"""

from hermetic_imports._code_exec import code_exec_guard
from hermetic_imports._imports import imports_guard
from hermetic_imports._interpreter import interpreter_guard

__all__ = ["code_exec_guard", "imports_guard", "interpreter_guard"]
