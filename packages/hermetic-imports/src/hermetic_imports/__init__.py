"""hermetic-imports: the ``imports``, ``code_exec`` and ``interpreter`` guards.

``imports``: ``deny_imports=[M, ...]`` (``--deny-import M``) refuses importing M and its
submodules by any route; ``block_native=True`` (``--block-native``) refuses native code that
is not already loaded (C extensions from outside the standard library, ctypes, cffi).
"""

from hermetic_imports._imports import imports_guard

__all__ = ["imports_guard"]
