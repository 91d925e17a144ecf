"""The filesystem guard's declarations: options, flags, normalisation and merging."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hermetic.contract import DEEPER, Option
from hermetic.errors import PolicyError
from hermetic.policy import BlockConfig
from hermetic.registry import FIRST_PARTY, registry
from hermetic_fs import guard
from hermetic_fs._options import merge_writable, normalize_root, normalize_writable, within


def test_the_guard_is_registered_with_its_three_options() -> None:
    found = registry().guards["filesystem"]
    assert found is guard
    assert found.distribution == "hermetic-fs"
    assert [o.name for o in guard.options] == ["fs_readonly", "fs_root", "allow_write"]
    readonly, root, writable = guard.options
    assert (readonly.type, readonly.flags, readonly.enables) == (bool, ("--fs-readonly",), True)
    assert readonly.value_into == "fs_root"
    assert (root.type, root.flags, root.enables, root.merge) == (str, ("--fs-root",), True, DEEPER)
    assert (writable.type, writable.flags, writable.enables) == (list, ("--allow-write",), False)
    assert writable.merge is merge_writable


def test_the_first_party_table_row_matches_the_declarations() -> None:
    (row,) = [r for r in FIRST_PARTY if r[0] == "hermetic-fs"]
    assert row[1] == guard.name
    assert set(row[2]) == {n for o in guard.options for n in (o.name, *o.aliases)}
    assert set(row[3]) == {f for o in guard.options for f in o.flags}


def test_a_root_is_resolved_to_its_real_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path(os.path.realpath(tmp_path))
    (real / "data").mkdir()
    (real / "link").symlink_to("data")
    monkeypatch.chdir(real)
    assert BlockConfig(fs_root="data").fs_root == str(real / "data")
    assert BlockConfig(fs_root="link/../data").fs_root == str(real / "data")
    assert BlockConfig(fs_root=real / "link").fs_root == str(real / "data")
    assert normalize_root(normalize_root("link")) == normalize_root("link")


def test_a_missing_root_or_a_file_as_root_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(PolicyError, match=r"invalid fs_root: the root '.*nope' does not exist"):
        BlockConfig(fs_root=str(tmp_path / "nope"))
    with pytest.raises(PolicyError, match=r"invalid fs_root: the root '.*file' is not a directory"):
        BlockConfig(fs_root=str(tmp_path / "file"))
    with pytest.raises(PolicyError, match="empty path"):
        BlockConfig(fs_root="")


def test_fs_readonly_with_a_path_sets_the_root_too(tmp_path: Path) -> None:
    config = BlockConfig(fs_readonly=str(tmp_path))
    assert config.fs_readonly is True
    assert config.fs_root == os.path.realpath(tmp_path)
    assert BlockConfig(fs_readonly=True).fs_root is None


def test_a_root_alone_switches_the_guard_on(tmp_path: Path) -> None:
    assert [g.name for g in BlockConfig(fs_root=str(tmp_path)).enabled_guards()] == ["filesystem"]
    assert list(BlockConfig(allow_write=[str(tmp_path)]).enabled_guards()) == []
    options = BlockConfig(fs_readonly=True).guard_options()["filesystem"]
    assert options == {"fs_readonly": True, "fs_root": None, "allow_write": ()}


def test_allow_write_entries_are_real_paths_and_need_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.path.realpath(tmp_path)
    monkeypatch.chdir(real)
    config = BlockConfig(fs_readonly=True, allow_write=["out", "./out", Path("later/../x")])
    assert config.allow_write == (f"{real}/out", f"{real}/x")
    assert normalize_writable(config.allow_write) == config.allow_write
    with pytest.raises(PolicyError, match="empty path"):
        BlockConfig(allow_write=[""])
    with pytest.raises(PolicyError, match="list of strings"):
        BlockConfig(allow_write="/tmp")


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        (("/tmp",), ("/tmp/out",), ("/tmp/out",)),
        (("/tmp/out",), ("/tmp",), ("/tmp/out",)),
        (("/tmp", "/srv"), ("/srv/a", "/tmp/b", "/var"), ("/tmp/b", "/srv/a")),
        (("/tmp",), ("/tmpx",), ()),
        (("/",), ("/data",), ("/data",)),
        ((), ("/tmp",), ()),
        (("/a", "/a/b"), ("/a/b/c",), ("/a/b/c",)),
    ],
)
def test_stacked_allow_write_keeps_only_what_both_allow(
    a: tuple[str, ...], b: tuple[str, ...], both: tuple[str, ...]
) -> None:
    assert merge_writable(a, b) == both


def test_within_is_path_aware() -> None:
    assert within("/tmp/a", "/tmp")
    assert within("/tmp", "/tmp")
    assert not within("/tmpa", "/tmp")
    assert within("/anything", "/")


def test_policies_merge_stricter_wins(tmp_path: Path) -> None:
    real = Path(os.path.realpath(tmp_path))
    (real / "root" / "deeper").mkdir(parents=True)
    (real / "other").mkdir()
    outer = BlockConfig(fs_root=str(real / "root"), allow_write=[str(real)])
    inner = BlockConfig(fs_root=str(real / "root" / "deeper"), allow_write=[str(real / "root")])
    merged = outer | inner
    assert merged.fs_root == str(real / "root" / "deeper")
    assert merged.allow_write == (str(real / "root"),)
    assert (outer | BlockConfig(fs_readonly=True)).fs_root == str(real / "root")
    # An allow-list in a policy that does not switch the guard on widens nothing.
    assert (BlockConfig(fs_readonly=True) | BlockConfig(allow_write=[str(real)])).allow_write == ()
    with pytest.raises(PolicyError, match="neither contains the other"):
        _ = BlockConfig(fs_root=str(real / "root")) | BlockConfig(fs_root=str(real / "other"))


def test_the_cli_flags_fill_the_same_options(tmp_path: Path) -> None:
    flags = pytest.importorskip("hermetic_cli.flags")
    real = os.path.realpath(tmp_path)
    request = flags.parse(["--fs-readonly=" + real, "--allow-write", real + "/out"], registry())
    config = BlockConfig(**request.policy())
    assert (config.fs_readonly, config.fs_root, config.allow_write) == (
        True,
        real,
        (real + "/out",),
    )
    request = flags.parse(["--fs-readonly", "--fs-root", real], registry())
    assert BlockConfig(**request.policy()).fs_root == real


def test_options_are_plain_option_objects() -> None:
    assert all(isinstance(o, Option) for o in guard.options)
