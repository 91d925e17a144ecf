"""Discovery through the hermetic.guards entry-point group, failures and clashes."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from hermetic import registry as reg_module
from hermetic.contract import patch_module_problems
from hermetic.errors import GuardNotInstalled, PolicyError
from hermetic.registry import FIRST_PARTY, Registry, metadata_dirs, normalize_name, scan
from hermetic_testsupport.fakeguards import entry, fake_registry


def make_dist(site: Path, dirname: str, entry_points: str | None, version: str = "1.0") -> Path:
    meta = site / dirname
    meta.mkdir(parents=True)
    name = dirname.rsplit(".", 1)[0].split("-")[0]
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    if entry_points is not None:
        (meta / "entry_points.txt").write_text(entry_points)
    return meta


def test_normalize_name() -> None:
    assert normalize_name("Hermetic_Net") == "hermetic-net"
    assert normalize_name("a.b__c") == "a-b-c"


def test_scan_reads_only_the_guards_group(tmp_path: Path) -> None:
    make_dist(
        tmp_path,
        "one-1.0.dist-info",
        "[console_scripts]\nx = y:z\n\n[hermetic.guards]\n# comment\nfoo = one_mod:guard\n",
    )
    make_dist(tmp_path, "two-2.0.dist-info", None)
    make_dist(tmp_path, "three.egg-info", "[hermetic.guards]\nbar = three:g\n")
    found = scan(path=[str(tmp_path)])
    assert [(e.name, e.value, e.distribution) for e in found] == [
        ("foo", "one_mod:guard", "one"),
        ("bar", "three:g", "three"),
    ]


def test_first_distribution_on_the_path_wins(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_dist(a, "dup-1.0.dist-info", "[hermetic.guards]\nx = first:g\n")
    make_dist(b, "Dup-2.0.dist-info", "[hermetic.guards]\nx = second:g\n")
    assert [e.value for e in scan(path=[str(a), str(b)])] == ["first:g"]
    assert [e.value for e in scan(path=[str(b), str(a)])] == ["second:g"]
    assert [d for d, _ in metadata_dirs([str(a), str(b), str(tmp_path / "missing")])] == ["dup"]


def test_scan_matches_importlib_metadata() -> None:
    """One code path, same answer as importlib.metadata on every Python version."""
    import importlib.metadata as md

    eps = md.entry_points()
    if sys.version_info >= (3, 10):
        group = list(eps.select(group=reg_module.GROUP))
    else:
        group = list(eps.get(reg_module.GROUP, ()))
    expected = sorted({(e.name, e.value) for e in group})
    assert sorted((e.name, e.value) for e in scan()) == expected


def test_distribution_version() -> None:
    import importlib.metadata as md

    assert reg_module.distribution_version("hermetic-core") == md.version("hermetic-core")
    assert reg_module.distribution_version("Hermetic_Core") == md.version("hermetic-core")
    assert reg_module.distribution_version("no-such-dist-anywhere") is None


def test_registry_loads_guards_and_indexes_options() -> None:
    with fake_registry() as reg:
        assert list(reg.guards) == ["alpha", "beta"]
        assert reg.guards["alpha"].distribution == "hermetic-fake"
        assert reg.lookup("no_alpha")[1].name == "block_alpha"
        assert reg.flags["--allow-alpha"][1].name == "allow_alpha"
        assert reg.failures == []


def test_broken_entry_points_are_reported_not_raised() -> None:
    with fake_registry(
        entry("alpha", "alpha"),
        entry("missing", "does_not_exist", dist="hermetic-broken"),
        entry("object", "not_a_guard"),
        entry("gamma-alias", "misnamed"),
        entry("clash", "clashing"),
        entry("reserved", "reserved"),
        entry("alpha", "alpha", dist="hermetic-again"),
    ) as reg:
        assert list(reg.guards) == ["alpha"]
        errors = {f.name: f for f in reg.failures}
        assert errors["missing"].distribution == "hermetic-broken"
        assert "AttributeError" in errors["missing"].error
        assert "not a hermetic Guard" in errors["object"].error
        assert "names a guard called 'gamma'" in errors["gamma-alias"].error
        assert "already declared by guard 'alpha'" in errors["clash"].error
        assert "reserved by hermetic" in errors["reserved"].error
        assert "already provided by hermetic-fake" in errors["alpha"].error
        assert "failed to load" in errors["missing"].describe()


def test_an_import_error_in_a_guard_module_is_contained(tmp_path: Path) -> None:
    (tmp_path / "explodes_on_import.py").write_text("raise ImportError('no such C library')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        reg = Registry(
            [
                reg_module.EntryPoint("boom", "explodes_on_import:guard", "boom-dist", "/x"),
                entry("beta", "beta"),
            ]
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("explodes_on_import", None)
    assert list(reg.guards) == ["beta"]
    assert reg.failures[0].describe() == (
        "guard 'boom' from boom-dist failed to load: ImportError: no such C library"
    )


def test_missing_first_party_option_names_the_distribution() -> None:
    with fake_registry() as reg:
        error = reg.missing("block_network")
        assert isinstance(error, GuardNotInstalled)
        assert str(error) == "block_network requires hermetic-net: pip install hermetic-net"
        assert error.distribution == "hermetic-net"
        flag = reg.missing("--no-subprocess", flag=True)
        assert str(flag) == "--no-subprocess requires hermetic-proc: pip install hermetic-proc"


def test_missing_option_of_a_broken_first_party_guard_says_why() -> None:
    with fake_registry(
        entry("alpha", "alpha"), entry("network", "does_not_exist", dist="hermetic-net")
    ) as reg:
        message = str(reg.missing("allow_domains"))
        assert message.startswith("allow_domains needs the guard 'network' from hermetic-net")
        assert "failed to load" in message


def test_unknown_option_lists_the_known_ones_and_broken_guards() -> None:
    entries = (entry("alpha", "alpha"), entry("x", "nope", dist="third-party"))
    with fake_registry(*entries) as reg, pytest.raises(PolicyError) as info:
        reg.lookup("blok_alpha")
    message = str(info.value)
    assert "unknown option 'blok_alpha' (did you mean 'block_alpha'?)" in message
    assert "known options: allow_alpha, alpha_root, alpha_strict, block_alpha, no_alpha" in message
    assert "sealed, trace" in message
    assert "guard 'x' from third-party failed to load" in message


def test_first_party_table_lists_the_seed_spellings() -> None:
    names = {n for row in FIRST_PARTY for n in row[2]}
    flags = {f for row in FIRST_PARTY for f in row[3]}
    assert {"block_network", "no_network", "no_env", "deny_imports", "fs_root"} <= names
    assert {"--no-network", "--fs-readonly", "--no-env", "--block-native"} <= flags


def test_first_party_table_matches_installed_guards() -> None:
    """The static table names exactly what the first-party guards declare."""
    reg = reg_module.registry()
    # The test environment holds every first-party guard: none may be missing or broken.
    assert not reg.failures, reg.failures
    assert {row[1] for row in FIRST_PARTY} <= set(reg.guards)
    for dist, guard_name, names, flags in FIRST_PARTY:
        guard = reg.guards[guard_name]
        assert guard.distribution == dist
        declared = {n for o in guard.options for n in (o.name, *o.aliases)}
        assert declared == set(names), guard_name
        assert {f for o in guard.options for f in o.flags} == set(flags), guard_name


@pytest.mark.parametrize("name", sorted(reg_module.registry().guards))
def test_every_installed_guard_s_patch_module_is_fit_for_the_bootstrap(name: str) -> None:
    """BOOTSTRAP_CODE is the patch module's file, and it imports neither hermetic nor itself."""
    guard = reg_module.registry().guards[name]
    module = importlib.import_module(guard.patch_module)
    source = guard.BOOTSTRAP_CODE
    assert source == Path(module.__file__ or "").read_text(encoding="utf-8")
    own = guard.patch_module.partition(".")[0]
    assert patch_module_problems(source, own_package=own) == []


def test_installed_guards_leave_repeatability_to_the_tools() -> None:
    """The CLI and the pytest plugin say that a list option repeats; help texts must not."""
    for guard in reg_module.registry().guards.values():
        for option in guard.options:
            assert "repeatable" not in option.help.lower(), (guard.name, option.name)


def test_registry_is_cached_and_refreshable() -> None:
    first = reg_module.registry()
    assert reg_module.registry() is first
    try:
        assert reg_module.refresh() is not first
    finally:
        reg_module.refresh()
