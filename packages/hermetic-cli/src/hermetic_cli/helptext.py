"""``hermetic --help``: hermetic's own flags, then each installed guard's, with its source."""

from __future__ import annotations

import textwrap

from hermetic_cli import EXIT_USAGE, EXIT_VIOLATION
from hermetic_cli.flags import CORE_FLAGS, flag_metavar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hermetic.contract import Guard, Option
    from hermetic.registry import Registry

USAGE = """\
usage: hermetic [FLAGS] -- TARGET [ARGS...]
       hermetic [FLAGS] --print-bootstrap
       hermetic --list-guards [--json] | --list-profiles [--json] | --version | --help"""

INTRO = """\
Run a Python program with chosen APIs switched off; a blocked action fails loudly with
a PolicyViolation naming the guard. A tripwire and a seatbelt, not a security boundary.

TARGET is a console script on PATH, python/python3 or the path of any Python
interpreter followed by its own arguments (script.py, -m module, -c code), a .py file,
or module:function. Targets on hermetic's own interpreter run in-process; others are
exec'd with a bootstrap on PYTHONPATH that child Python processes inherit."""

EXIT_CODES = f"""\
exit codes:
  the target's own    whatever the target exits with (signals pass through)
  {EXIT_USAGE:<19} hermetic refused: usage error, unknown flag, guard not installed,
                      a target that is not a Python program or would run unguarded
  {EXIT_VIOLATION:<19} the target ended on an uncaught PolicyViolation
                      (one line on stderr: hermetic: blocked <guard>: <what>)"""

_WIDTH = 88
_COLUMN = 30


def _spelling(guard: Guard, option: Option) -> str:
    flags = ", ".join(option.flags)
    if option.type is bool:
        if option.value_into:
            return f"{flags}[={flag_metavar(guard, option)}]"
        return flags
    return f"{flags} {flag_metavar(guard, option)}"


def _row(left: str, text: str) -> list[str]:
    indent = " " * _COLUMN
    lines = textwrap.wrap(text, _WIDTH - _COLUMN) or [""]
    if len(left) + 2 >= _COLUMN - 2:
        return [f"  {left}", *(indent + line for line in lines)]
    first = f"  {left}".ljust(_COLUMN) + lines[0]
    return [first, *(indent + line for line in lines[1:])]


def render(reg: Registry) -> str:
    """The full ``--help`` text for the guards installed in ``reg``."""
    from hermetic.profiles import PROFILES
    from hermetic.registry import FIRST_PARTY

    out = [USAGE, "", INTRO, "", "hermetic:"]
    for flag, metavar, text in CORE_FLAGS:
        if flag == "--profile":
            text = f"{text[:-2]}: {', '.join(PROFILES)})."
        out.extend(_row(f"{flag} {metavar}" if metavar else flag, text))
    for guard in reg.guards.values():
        out.append("")
        title = f"{guard.name} guard ({guard.distribution or '?'} {guard.version or ''}".rstrip()
        out.append(f"{title}): {guard.summary}")
        for option in guard.options:
            if not option.flags:
                continue
            text = option.help or ""
            if option.type is list:
                text = f"{text} Repeatable.".strip()
            out.extend(_row(_spelling(guard, option), text))
    failed = {failure.name for failure in reg.failures}
    absent = [
        (dist, flags)
        for dist, name, _names, flags in FIRST_PARTY
        if name not in reg.guards and name not in failed
    ]
    if absent or reg.failures:
        out += ["", "not available:"]
        for failure in reg.failures:
            out.extend(_row(failure.name, failure.describe()))
        for dist, flags in absent:
            out.extend(_row(", ".join(flags), f"requires {dist}: pip install {dist}"))
    out += ["", EXIT_CODES]
    return "\n".join(out) + "\n"


def usage_hint() -> str:
    """The short reminder printed after a usage error."""
    return "usage: hermetic [FLAGS] -- TARGET [ARGS...]   (see hermetic --help)"


__all__ = ["EXIT_CODES", "USAGE", "render", "usage_hint"]
