"""``--list-guards``, ``--list-profiles`` and ``--version``."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hermetic.registry import Registry


def guard_rows(reg: Registry) -> list[dict[str, Any]]:
    """One record per registered guard, loaded or not (``error`` says why not)."""
    from hermetic.registry import distribution_version

    rows: list[dict[str, Any]] = []
    for guard in reg.guards.values():
        rows.append(
            {
                "name": guard.name,
                "distribution": guard.distribution,
                "version": guard.version,
                "flags": [flag for option in guard.options for flag in option.flags],
                "summary": guard.summary,
                "options": [
                    {
                        "name": option.name,
                        "type": option.type.__name__,
                        "flags": list(option.flags),
                        "aliases": list(option.aliases),
                        "help": option.help,
                    }
                    for option in guard.options
                ],
                "error": None,
            }
        )
    for failure in reg.failures:
        rows.append(
            {
                "name": failure.name,
                "distribution": failure.distribution,
                "version": distribution_version(failure.distribution),
                "flags": [],
                "summary": None,
                "options": [],
                "error": failure.error,
            }
        )
    return rows


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines) + "\n"


def list_guards(reg: Registry, *, as_json: bool) -> int:
    """Print the guards: name, distribution, version, flags, summary (or load error)."""
    rows = guard_rows(reg)
    if as_json:
        import json

        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not rows:
        sys.stdout.write("no guards installed (pip install hermetic-seal for all of them)\n")
        return 0
    table = [
        (
            row["name"],
            row["distribution"] or "?",
            row["version"] or "?",
            " ".join(row["flags"]) or "-",
            row["summary"] if row["error"] is None else f"FAILED TO LOAD: {row['error']}",
        )
        for row in rows
    ]
    sys.stdout.write(_table(("GUARD", "DISTRIBUTION", "VERSION", "FLAGS", "SUMMARY"), table))
    return 0


def list_profiles(reg: Registry, *, as_json: bool) -> int:
    """Print each profile, what it switches on, and whether its guards are installed."""
    from hermetic.errors import PolicyError
    from hermetic.profiles import DESCRIPTIONS, PROFILES, profile

    rows: list[dict[str, Any]] = []
    for name, config in PROFILES.items():
        try:
            profile(name)
            problem = None
        except PolicyError as exc:
            problem = str(exc)
        rows.append(
            {
                "name": name,
                "description": DESCRIPTIONS.get(name, ""),
                "options": {k: v for k, v in config.values.items()},
                "available": problem is None,
                "error": problem,
            }
        )
    if as_json:
        import json

        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    table = [
        (
            row["name"],
            "yes" if row["available"] else "no",
            row["description"] + ("" if row["available"] else f" [{row['error']}]"),
        )
        for row in rows
    ]
    sys.stdout.write(_table(("PROFILE", "AVAILABLE", "DESCRIPTION"), table))
    return 0


def versions(reg: Registry) -> int:
    """Print the versions of hermetic-cli, hermetic-core, each guard and the interpreter."""
    from hermetic.registry import distribution_version

    lines = [
        f"hermetic-cli {distribution_version('hermetic-cli') or 'unknown'}",
        f"hermetic-core {distribution_version('hermetic-core') or 'unknown'}",
    ]
    for guard in reg.guards.values():
        lines.append(f"{guard.name}: {guard.distribution} {guard.version or 'unknown'}")
    for failure in reg.failures:
        version = distribution_version(failure.distribution) or "unknown"
        lines.append(f"{failure.name}: {failure.distribution} {version} (failed to load)")
    implementation = sys.implementation.name
    lines.append(f"{implementation} {sys.version.split()[0]} ({sys.executable})")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


__all__ = ["guard_rows", "list_guards", "list_profiles", "versions"]
