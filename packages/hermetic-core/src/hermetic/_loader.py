"""The head of every generated ``sitecustomize.py``: load code through hermetic's code cache.

The bootstrap carries the runtime and the guards' patch modules as source text. Compiling
them costs ~16 ms per start, unmarshalling ~0.2 ms, and the interpreter's own ``.pyc``
cache is off whenever ``PYTHONDONTWRITEBYTECODE``/``-B`` is set. So the generated file is
this small loader plus string literals: each piece is compiled once per interpreter version
and kept as marshalled code next to the file, named by the digest of its source.

Stdlib only, and copied verbatim into the generated file: keep it short.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType


def _hermetic_load_code(here: str, name: str, digest: str, source: str, always: bool) -> CodeType:
    """Return the code of ``source``, from ``here/__pycache__`` when it was cached before.

    ``always`` writes the cache even under ``PYTHONDONTWRITEBYTECODE``: set for hermetic's
    own cache directory, which is no one's source tree.
    """
    tag = sys.implementation.cache_tag
    path = None
    if tag:
        path = os.path.join(here, "__pycache__", f"{name}-{digest}.{tag}.code")
        try:
            with open(path, "rb") as cached:
                code = marshal.loads(cached.read())
            if type(code) is type(_hermetic_load_code.__code__):
                return code
        except (OSError, ValueError, EOFError, TypeError):
            pass
    code = compile(source, f"<hermetic {name}>", "exec", dont_inherit=True)
    if path is not None and (always or not sys.dont_write_bytecode):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as out:
                out.write(marshal.dumps(code))
            os.replace(tmp, path)
        except OSError:
            pass
    return code
