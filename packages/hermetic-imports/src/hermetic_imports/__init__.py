"""hermetic-imports: the ``imports``, ``code_exec`` and ``interpreter`` guards.

* ``imports``: ``deny_imports=[M, ...]`` (``--deny-import M``) refuses importing M and its
  submodules by any route; ``block_native=True`` (``--block-native``) refuses native code
  that is not already loaded (C extensions from outside the standard library, ctypes, cffi).
* ``interpreter``: ``block_interpreter_mutation=True`` (``--no-interpreter-mutation``)
  refuses changes to ``sys.path``, ``sys.meta_path``, ``sys.path_hooks``, the working
  directory, tracing and ``.pth`` processing.
"""

from hermetic_imports._imports import imports_guard
from hermetic_imports._interpreter import interpreter_guard

__all__ = ["imports_guard", "interpreter_guard"]
