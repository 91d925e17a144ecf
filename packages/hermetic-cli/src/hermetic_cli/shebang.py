"""What a program file is, from its first bytes: a compiled binary, or a ``#!`` script.

Stdlib only and cheap: this runs on every start.
"""

from __future__ import annotations

import os

#: Magic numbers of compiled executables (ELF; Mach-O thin and fat, both byte orders).
BINARY_MAGIC = (
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)

_SHELLS = ("sh", "bash", "dash", "ksh", "zsh")


def read_head(path: str, size: int = 1024) -> bytes:
    """The first ``size`` bytes of ``path`` (``OSError`` if it cannot be read)."""
    with open(path, "rb") as f:
        return f.read(size)


def is_binary(head: bytes) -> bool:
    """Whether ``head`` starts like a compiled executable."""
    return head[:4] in BINARY_MAGIC


def interpreter_line(head: bytes) -> list[str] | None:
    """The ``#!`` line as the kernel reads it: ``[interpreter]`` or ``[interpreter, arg]``.

    Linux passes everything after the interpreter as one argument; callers that look for
    options split it themselves. None when ``head`` has no ``#!`` line.
    """
    if not head.startswith(b"#!"):
        return None
    line = os.fsdecode(head[2:].split(b"\n", 1)[0].rstrip(b"\r")).strip()
    if not line:
        return None
    parts = line.split(None, 1)
    return [parts[0], parts[1].strip()] if len(parts) == 2 and parts[1].strip() else [parts[0]]


def shell_exec_line(head: bytes) -> list[str] | None:
    """The interpreter and its options from a ``#!/bin/sh`` console-script wrapper.

    pip (distlib) and uv write console scripts whose interpreter path is too long for a
    ``#!`` line, or contains spaces, as::

        #!/bin/sh
        '''exec' "/path with spaces/bin/python" "$0" "$@"
        ' '''

    Returns ``[interpreter, *options]`` for that shape, else None.
    """
    first = interpreter_line(head)
    if not first or os.path.basename(first[0]) not in _SHELLS:
        return None
    lines = head.split(b"\n", 2)
    if len(lines) < 2:
        return None
    text = os.fsdecode(lines[1]).strip()
    prefix = "'''exec' "
    if not text.startswith(prefix):
        return None
    words = _shell_words(text[len(prefix) :])
    if words is None or '"$0"' not in words:
        return None
    found = words[: words.index('"$0"')]
    return found or None


def _shell_words(text: str) -> list[str] | None:
    """Split the simple quoting these wrappers use; ``"$0"``/``"$@"`` kept verbatim."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text.startswith(('"$0"', '"$@"'), i):
            words.append(text[i : i + 4])
            i += 4
            continue
        quote = text[i] if text[i] in "\"'" else None
        if quote:
            end = text.find(quote, i + 1)
            if end < 0:
                return None
            words.append(text[i + 1 : end])
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace():
                end += 1
            words.append(text[i:end])
            i = end
    return words


__all__ = ["BINARY_MAGIC", "interpreter_line", "is_binary", "read_head", "shell_exec_line"]
