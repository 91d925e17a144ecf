"""Every read and write surface of the issue, proven both ways, in both delivery modes.

One table of cases runs in a fresh interpreter under four policies: none (each read really
gets the secret, each write really changes the C environment), ``block_environment``
(each is refused by the environment guard, the secret appears nowhere in the output and
the C environment is unchanged), ``allow_env=["HT_*"]`` (named reads and writes work again,
listing stays refused) and ``allow_env=["*"]`` (everything works).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from .conftest import BLOCK, SECRET, EnvRun, refused, value


class Case(NamedTuple):
    """One surface: a statement, and the variable it names (``*`` for listings)."""

    code: str
    target: str
    listing: bool = False


READS: dict[str, Case] = {
    "os.environ[]": Case("reveals(os.environ['HT_SECRET'])", "HT_SECRET"),
    "os.environ.get": Case("reveals(os.environ.get('HT_SECRET'))", "HT_SECRET"),
    "os.getenv": Case("reveals(os.getenv('HT_SECRET'))", "HT_SECRET"),
    "os.getenvb": Case("reveals(os.getenvb(b'HT_SECRET'))", "HT_SECRET"),
    "os.environb[]": Case("reveals(os.environb[b'HT_SECRET'])", "HT_SECRET"),
    "posix.environ[]": Case("reveals(posix.environ[b'HT_SECRET'])", "HT_SECRET"),
    "posix.environ.get": Case("reveals(posix.environ.get(b'HT_SECRET'))", "HT_SECRET"),
    "in": Case("assert 'HT_SECRET' in os.environ", "HT_SECRET"),
    "keys view in": Case("assert 'HT_SECRET' in os.environ.keys()", "HT_SECRET"),
    "setdefault": Case("reveals(os.environ.setdefault('HT_SECRET', 'x'))", "HT_SECRET"),
    "from os import environ": Case(
        "from os import environ as e; reveals(e['HT_SECRET'])", "HT_SECRET"
    ),
    "bound __getitem__": Case("reveals(os.environ.__getitem__('HT_SECRET'))", "HT_SECRET"),
    "str subclass key": Case(
        "class S(str): pass\nreveals(os.environ[S('HT_SECRET')])", "HT_SECRET"
    ),
    "list": Case("assert 'HT_SECRET' in list(os.environ)", "*", True),
    "for loop": Case("assert 'HT_SECRET' in [k for k in os.environ]", "*", True),
    "dict()": Case("reveals(dict(os.environ))", "*", True),
    "copy()": Case("reveals(os.environ.copy())", "*", True),
    "** unpacking": Case("reveals({**os.environ})", "*", True),
    "items()": Case("reveals(list(os.environ.items()))", "*", True),
    "values()": Case("reveals(list(os.environ.values()))", "*", True),
    "| operator": Case("reveals(os.environ | {})", "*", True),
    "len": Case("assert len(os.environ) == len(os.environ._data)", "*", True),
    "repr": Case("reveals(repr(os.environ))", "*", True),
    "str": Case("reveals(str(os.environb))", "*", True),
    "!=": Case("assert os.environ != {}", "*", True),
    "posix.environ listing": Case("reveals(dict(posix.environ))", "*", True),
}

# Each write names its own variable; the C library is asked afterwards what it holds.
WRITES: dict[str, tuple[str, str, str | None]] = {
    # label: (statement, variable, its value afterwards when the write happened)
    "os.environ[]=": ("os.environ['HT_NEW1'] = 'new'", "HT_NEW1", "new"),
    "os.environb[]=": ("os.environb[b'HT_NEW2'] = b'new'", "HT_NEW2", "new"),
    "os.putenv": ("os.putenv('HT_NEW3', 'new')", "HT_NEW3", "new"),
    "posix.putenv": ("posix.putenv(b'HT_NEW4', b'new')", "HT_NEW4", "new"),
    "update": ("os.environ.update(HT_NEW5='new')", "HT_NEW5", "new"),
    "posix.environ[]=": ("posix.environ[b'HT_NEW6'] = b'new'", "HT_NEW6", None),
    "del os.environ[]": ("del os.environ['HT_DOOMED']", "HT_DOOMED", None),
    "os.unsetenv": ("os.unsetenv('HT_DOOMED2')", "HT_DOOMED2", None),
    "pop": ("os.environ.pop('HT_DOOMED3')", "HT_DOOMED3", None),
}


def _body() -> str:
    lines = ["import os, posix"]
    for label, case in READS.items():
        lines.append(f"def case():\n{_indent(case.code)}\nattempt({label!r}, case)")
    for label, (code, name, _after) in WRITES.items():
        lines.append(f"def case():\n{_indent(code)}\nattempt({label!r}, case)")
        lines.append(f"report('after ' + {label!r}, c_getenv({name!r}))")
        lines.append(f"report('dict ' + {label!r}, raw_get({name!r}))")
    # last: it empties the environment when nothing stops it
    lines.append("attempt('clear', os.environ.clear)")
    lines.append("report('after clear', c_getenv('HT_SECRET'))")
    return "\n".join(lines) + "\n"


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.splitlines())


BODY = _body()
LABELS = [*READS, *WRITES, "clear"]


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_every_surface_both_ways(env_run: EnvRun, mode: str) -> None:
    plain = env_run(mode, {}, BODY)
    failed = {k: plain.outcomes[k] for k in LABELS if plain.status(k) != "ok"}
    assert not failed, plain.stderr
    for label, (_code, _name, after) in WRITES.items():
        if label == "posix.environ[]=":  # a plain dict without the guard: the C side stays
            assert value(plain, "dict " + label) == "new"
            continue
        assert value(plain, "after " + label) == after, label
    assert value(plain, "after clear") is None

    run = env_run(mode, BLOCK, BODY)
    not_refused = {k: run.outcomes[k] for k in LABELS if run.status(k) != "blocked"}
    assert not not_refused, run.stderr
    for label, case in READS.items():
        assert refused(run, label) == ("blocked", "environment", case.target), label
    for label, (_code, name, _after) in WRITES.items():
        assert refused(run, label) == ("blocked", "environment", name), label
        before = "doomed" if name.startswith("HT_DOOMED") else None
        assert value(run, "after " + label) == before, label
        assert value(run, "dict " + label) == before, label
    assert refused(run, "clear") == ("blocked", "environment", "*")
    assert value(run, "after clear") == SECRET
    shown = [line for line in run.stdout.splitlines() if "after clear" not in line]
    assert SECRET not in "\n".join(shown)  # no refusal message carries a value


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_allow_env_patterns_allow_named_reads_and_writes_but_not_listing(
    env_run: EnvRun, mode: str
) -> None:
    run = env_run(mode, {**BLOCK, "allow_env": ["HT_*"]}, BODY)
    for label, case in READS.items():
        expected = "blocked" if case.listing else "ok"
        assert run.status(label) == expected, (label, run.outcomes[label])
    for label in WRITES:
        assert run.status(label) == "ok", (label, run.outcomes[label])
    assert value(run, "after os.environ[]=") == "new"
    assert value(run, "after os.unsetenv") is None
    assert run.status("clear") == "blocked"


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_allow_everything(env_run: EnvRun, mode: str) -> None:
    run = env_run(mode, {**BLOCK, "allow_env": ["*"]}, BODY)
    failed = {k: run.outcomes[k] for k in LABELS if run.status(k) != "ok"}
    assert not failed, run.stderr
    assert value(run, "after clear") is None
