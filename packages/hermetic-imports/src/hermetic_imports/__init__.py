"""hermetic-imports: the ``imports``, ``code_exec`` and ``interpreter`` guards.

``code_exec_guard``: ``block_code_exec=True`` (``--no-code-exec``) refuses ``eval``, ``exec``,
``compile`` and ``runpy`` called by the program, while imports and the standard library's own
code generators keep working.
"""

from hermetic_imports._code_exec import code_exec_guard

__all__ = ["code_exec_guard"]
