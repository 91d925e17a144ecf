"""The built wheels and sdists: names, versions, contents and metadata.

The metadata check stands in for ``twine check``: it parses and validates each METADATA /
PKG-INFO with ``packaging.metadata`` (the parser twine itself uses), then checks what twine
warns about (a description and its content type) and more: the description is the
project's README, the license file is inside, a wheel's RECORD covers every file with the
right hash, and the entry points and dependencies are the ones the design says.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.metadata import Metadata
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from hermetic_testsupport.wheels import PROJECTS, Wheelhouse, run_all

from .conftest import DEMO, GUARD_DISTRIBUTIONS, GUARDS_OF

pytestmark = pytest.mark.slow

MEMBERS = ("hermetic-core", *GUARD_DISTRIBUTIONS, "hermetic-cli")
ALL = (*MEMBERS, "hermetic-seal", DEMO)
#: The import package of each distribution that has code.
PACKAGE = {name: "hermetic" if name == "hermetic-core" else name.replace("-", "_") for name in ALL}
PACKAGE["hermetic-seal"] = ""

#: The entry points each distribution declares: {group: {name: value}}.
ENTRY_POINTS: dict[str, dict[str, dict[str, str]]] = {
    "hermetic-core": {"pytest11": {"hermetic": "hermetic.pytest_plugin"}},
    "hermetic-cli": {"console_scripts": {"hermetic": "hermetic_cli:main"}},
    "hermetic-seal": {},
    DEMO: {"hermetic.guards": {"webbrowser": "hermetic_demo_guard:guard"}},
}


@pytest.fixture(scope="session")
def built(house: Wheelhouse) -> dict[str, tuple[Path, Path]]:
    """``{distribution: (wheel, sdist)}`` of every distribution this repository builds."""
    wheels = house.wheels(ALL)
    sdists = house.sdists(ALL)
    return {name: (wheels[name], sdists[name]) for name in ALL}


def _expected_version(name: str, version: str) -> str:
    return "0.1.0" if name == DEMO else version


def _check_metadata(text: str, name: str, version: str) -> Metadata:
    meta = Metadata.from_email(text, validate=True)  # raises on any invalid field
    assert canonicalize_name(meta.name) == name
    assert str(meta.version) == version
    assert meta.summary and "\n" not in meta.summary
    assert meta.description_content_type == "text/markdown"
    readme = (PROJECTS[name] / "README.md").read_text(encoding="utf-8")
    assert (meta.description or "").strip() == readme.strip()
    assert meta.license_expression == "MIT"
    assert meta.license_files == ["LICENSE"]
    assert meta.requires_python == SpecifierSet(">=3.9")
    return meta


def _requirements(name: str, version: str) -> list[str]:
    if name == "hermetic-core":
        return []
    if name == "hermetic-seal":
        return sorted(f"{member}=={version}" for member in MEMBERS)
    return ["hermetic-core"]


def _entry_points(text: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = groups.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return groups


def _record_problems(wheel: zipfile.ZipFile, record_name: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(wheel.read(record_name).decode())))
    listed = {row[0]: row for row in rows}
    problems = [f"{n} not in RECORD" for n in wheel.namelist() if n not in listed]
    for path, digest, size in rows:
        if path == record_name:
            continue
        data = wheel.read(path)
        actual = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if digest != f"sha256={actual}" or int(size) != len(data):
            problems.append(f"{path}: RECORD says {digest} {size}")
    return problems


def test_every_first_party_build_carries_the_checkout_version(
    built: dict[str, tuple[Path, Path]], version: str
) -> None:
    for name, (wheel, sdist) in built.items():
        stem = f"{name.replace('-', '_')}-{_expected_version(name, version)}"
        assert wheel.name == f"{stem}-py3-none-any.whl"
        assert sdist.name == f"{stem}.tar.gz"


@pytest.mark.parametrize("name", ALL)
def test_wheel(built: dict[str, tuple[Path, Path]], version: str, name: str) -> None:
    wheel_path, _sdist = built[name]
    expected = _expected_version(name, version)
    info = f"{name.replace('-', '_')}-{expected}.dist-info"
    with zipfile.ZipFile(wheel_path) as wheel:
        names = wheel.namelist()
        meta = _check_metadata(wheel.read(f"{info}/METADATA").decode(), name, expected)
        assert sorted(str(r) for r in meta.requires_dist or []) == _requirements(name, version)
        assert wheel.read(f"{info}/licenses/LICENSE") == (PROJECTS[name] / "LICENSE").read_bytes()
        wheel_file = wheel.read(f"{info}/WHEEL").decode()
        assert "Root-Is-Purelib: true" in wheel_file and "Tag: py3-none-any" in wheel_file
        assert _record_problems(wheel, f"{info}/RECORD") == []
        listed = f"{info}/entry_points.txt" in names
        found = _entry_points(wheel.read(f"{info}/entry_points.txt").decode()) if listed else {}
        if name in GUARDS_OF:  # the objects' names are the guard packages' business
            assert set(found) == {"hermetic.guards"}, found
            assert sorted(found["hermetic.guards"]) == sorted(GUARDS_OF[name])
            assert all(v.startswith(f"{PACKAGE[name]}:") for v in found["hermetic.guards"].values())
        else:
            assert found == ENTRY_POINTS[name]
    package = PACKAGE[name]
    code = [n for n in names if not n.startswith(info + "/")]
    if not package:
        assert code == []  # the meta-package holds metadata only
        return
    assert f"{package}/py.typed" in code
    assert f"{package}/__init__.py" in code
    assert all(n.startswith(f"{package}/") for n in code), code
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    src = PROJECTS[name] / "src"
    tracked = {
        str(p.relative_to(src))
        for p in (src / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert set(code) == tracked


def _sdist_members(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as tar:
        return tar.getnames()


@pytest.mark.parametrize("name", ALL)
def test_sdist(built: dict[str, tuple[Path, Path]], version: str, name: str) -> None:
    _wheel, sdist = built[name]
    expected = _expected_version(name, version)
    top = f"{name.replace('-', '_')}-{expected}"
    members = _sdist_members(sdist)
    assert all(m == top or m.startswith(top + "/") for m in members), members
    files = {m[len(top) + 1 :] for m in members if m != top}
    assert {"PKG-INFO", "pyproject.toml", "README.md", "LICENSE"} <= files
    with tarfile.open(sdist) as tar:
        pkg_info = tar.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        _check_metadata(pkg_info.read().decode(), name, expected)
    # nothing of the rest of the repository leaks in
    assert not any(f.split("/")[0] in {"packages", "tests", "docs", ".git", "site"} for f in files)
    if PACKAGE[name]:
        assert f"src/{PACKAGE[name]}/py.typed" in files
    else:
        assert "hatch_build.py" in files  # the pin hook the rebuild needs


def _unpack(sdist: Path, where: Path) -> Path:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(where, filter="data")
        else:  # pragma: no cover - Python 3.9 builds before 3.9.17
            tar.extractall(where)
    (root,) = where.iterdir()
    return root


def _digests(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n: hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist()}


def test_every_sdist_rebuilds_the_same_wheel_outside_the_checkout(
    built: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """Unpacked inside an unrelated git repository tagged v9.9.9: the version must still come
    from the sdist (PKG-INFO), and the wheel must be the one built from the checkout."""
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "x"], ["tag", "v9.9.9"]):
        subprocess.run([*git, *args], cwd=unrelated, check=True, capture_output=True)
    jobs = []
    for i, (name, (_wheel, sdist)) in enumerate(built.items()):
        root = _unpack(sdist, unrelated / f"s{i}")
        jobs.append(
            (
                [
                    sys.executable,
                    "-m",
                    "hatchling",
                    "build",
                    "-t",
                    "wheel",
                    "-d",
                    str(tmp_path / name),
                ],
                root,
            )
        )
    for (name, (wheel, _sdist)), proc in zip(built.items(), run_all(jobs)):
        assert proc.returncode == 0, f"{name}:\n{proc.stdout}\n{proc.stderr}"
        (rebuilt,) = (tmp_path / name).iterdir()
        assert rebuilt.name == wheel.name
        assert _digests(rebuilt) == _digests(wheel), name
