"""GuardRuntime.when_imported: patch a module when the program imports it, not before.

Each test makes modules of its own (unique names, in a temporary directory on sys.path)
and a private runtime, and checks for real: the callback ran or did not, the patch is in
place or gone, ``sys.meta_path`` holds the watch or is exactly what it was.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import itertools
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from hermetic._runtime import GuardRuntime, Runtime
from hermetic.errors import PolicyViolation

_counter = itertools.count()

Make = Callable[..., str]


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Make]:
    """``make_module(body)`` writes a module with a unique name and returns the name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(body: str = "") -> str:
        name = f"hermetic_watched_{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(
            body + "\ndef greet(x):\n    return 'hello ' + x\nDONE = True\n"
        )
        importlib.invalidate_caches()
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


def watcher(handle: GuardRuntime, seen: list[Any]) -> Callable[[Any], None]:
    """A callback that records the module (and whether its body ran) and patches greet."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        if args and args[0] == "mallory":
            handle.deny("greet mallory", "mallory")

    def callback(module: Any) -> None:
        seen.append((module, getattr(module, "DONE", False), threading.get_ident()))
        handle.check_before(module, "greet", refuse)

    return callback


def test_a_module_not_imported_yet_is_patched_when_it_is(make_module: Make) -> None:
    name = make_module()
    before = list(sys.meta_path)
    handle = GuardRuntime(Runtime(), "g")
    seen: list[Any] = []
    handle.when_imported(name, watcher(handle, seen))
    assert seen == []
    assert name not in sys.modules
    assert sys.meta_path[1:] == before and repr(sys.meta_path[0]).startswith("<hermetic")
    module = importlib.import_module(name)
    assert seen == [(module, True, threading.get_ident())]  # after the body, exactly once
    with pytest.raises(PolicyViolation, match="greet mallory"):
        module.greet("mallory")
    assert module.greet("bob") == "hello bob"
    # the module keeps its own loader: nothing of the watch stays in it
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert module.__spec__ is not None and module.__spec__.loader is module.__loader__
    handle.undo()
    assert sys.meta_path == before
    assert module.greet("mallory") == "hello mallory"
    assert module.greet.__code__.co_filename == module.__file__  # the original again


def test_an_imported_module_is_patched_at_once_and_no_finder_is_added(
    make_module: Make,
) -> None:
    name = make_module()
    module = importlib.import_module(name)
    before = list(sys.meta_path)
    handle = GuardRuntime(Runtime(), "g")
    seen: list[Any] = []
    handle.when_imported(name, watcher(handle, seen))
    assert seen == [(module, True, threading.get_ident())]
    assert sys.meta_path == before
    with pytest.raises(PolicyViolation):
        module.greet("mallory")
    handle.undo()
    assert module.greet("mallory") == "hello mallory"


def test_without_a_watch_nothing_is_patched(make_module: Make) -> None:
    # the other way: the same module, imported with no watch, is the plain module
    module = importlib.import_module(make_module())
    assert module.greet("mallory") == "hello mallory"


def test_reload_and_a_fresh_import_are_patched_again(make_module: Make) -> None:
    name = make_module()
    handle = GuardRuntime(Runtime(), "g")
    seen: list[Any] = []
    handle.when_imported(name, watcher(handle, seen))
    module = importlib.import_module(name)
    first = module.greet
    reloaded = importlib.reload(module)  # a new greet function in the same module
    assert reloaded is module and len(seen) == 2
    assert module.greet is not first
    with pytest.raises(PolicyViolation):
        module.greet("mallory")
    del sys.modules[name]
    fresh = importlib.import_module(name)
    assert fresh is not module and len(seen) == 3
    with pytest.raises(PolicyViolation):
        fresh.greet("mallory")
    # A copy run by hand from the module's own spec does not go through the import
    # system: it is not watched (a guard's audit layer is what covers such copies).
    spec = importlib.util.find_spec(name)
    assert spec is fresh.__spec__ and spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    assert len(seen) == 3
    assert copy.greet("mallory") == "hello mallory"
    handle.undo()
    for each in (module, fresh):
        assert each.greet("mallory") == "hello mallory"
    del sys.modules[name]
    importlib.import_module(name)
    assert len(seen) == 3  # undone: the watch is gone


def test_stacked_layers_patch_in_order_and_undo_in_any_order(make_module: Make) -> None:
    name = make_module()
    before = list(sys.meta_path)
    runtime = Runtime()
    order: list[str] = []
    handles = [GuardRuntime(runtime, n) for n in ("old", "new")]
    for handle in handles:

        def callback(module: Any, handle: GuardRuntime = handle) -> None:
            order.append(handle.name)

            def refuse(*args: Any, **kwargs: Any) -> None:
                if args and args[0] == handle.name:
                    handle.deny(f"greet {handle.name}")

            handle.check_before(module, "greet", refuse)

        handle.when_imported(name, callback)
    module = importlib.import_module(name)
    assert order == ["old", "new"]  # the older layer's patch is the inner one
    for who in ("old", "new"):
        with pytest.raises(PolicyViolation, match=f"greet {who}"):
            module.greet(who)
    handles[0].undo()  # the older layer goes first, as when a policy changes
    assert module.greet("old") == "hello old"
    with pytest.raises(PolicyViolation):
        module.greet("new")
    handles[1].undo()
    assert module.greet("new") == "hello new"
    assert sys.meta_path == before


def test_a_sealed_runtime_keeps_watching(make_module: Make) -> None:
    name = make_module()
    runtime = Runtime()
    handle = GuardRuntime(runtime, "g")
    seen: list[Any] = []
    handle.when_imported(name, watcher(handle, seen))
    runtime.seal()
    handle.undo()  # a no-op once sealed
    module = importlib.import_module(name)
    assert len(seen) == 1
    with pytest.raises(PolicyViolation):
        module.greet("mallory")
    # clean up this private runtime's state by hand (a sealed layer never leaves)
    for watch in handle._watches:
        watch.stop()
    runtime._sealed = False
    handle.undo()


def test_a_suspended_runtime_patches_inert_layers(make_module: Make) -> None:
    name = make_module()
    runtime = Runtime()
    handle = GuardRuntime(runtime, "g")
    seen: list[Any] = []
    handle.when_imported(name, watcher(handle, seen))
    assert runtime.suspend()
    module = importlib.import_module(name)
    assert len(seen) == 1
    assert module.greet("mallory") == "hello mallory"  # parked: passes through
    runtime.resume()
    with pytest.raises(PolicyViolation):
        module.greet("mallory")
    handle.undo()


def test_an_import_in_another_thread_is_patched_there(make_module: Make) -> None:
    name = make_module()
    handle = GuardRuntime(Runtime(), "g")
    seen: list[Any] = []
    handle.when_imported(name, watcher(handle, seen))
    outcome: list[Any] = []

    def use() -> None:
        module = importlib.import_module(name)
        try:
            module.greet("mallory")
        except PolicyViolation as exc:
            outcome.append(exc.guard)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join(10)
    assert outcome == ["g"]
    assert len(seen) == 1 and seen[0][2] == thread.ident
    handle.undo()


def test_a_module_being_imported_by_another_thread_is_patched_once_it_is_complete(
    make_module: Make,
) -> None:
    # The body announces it started, then takes its time: the watch is asked for while
    # the module is in sys.modules but not executed to the end.
    name = make_module("import sys, time\nsys._hermetic_started = True\ntime.sleep(0.3)\n")

    def importer() -> None:
        importlib.import_module(name)

    thread = threading.Thread(target=importer)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not hasattr(sys, "_hermetic_started") and time.monotonic() < deadline:
            time.sleep(0.005)
        assert name in sys.modules and not getattr(sys.modules[name], "DONE", False)
        before = list(sys.meta_path)
        handle = GuardRuntime(Runtime(), "g")
        seen: list[Any] = []
        handle.when_imported(name, watcher(handle, seen))
        assert len(seen) == 1 and seen[0][1] is True  # the body had finished
        assert sys.meta_path == before
        with pytest.raises(PolicyViolation):
            sys.modules[name].greet("mallory")
        handle.undo()
    finally:
        thread.join(10)
        vars(sys).pop("_hermetic_started", None)


def test_a_failing_callback_fails_the_import(make_module: Make) -> None:
    name = make_module()
    handle = GuardRuntime(Runtime(), "g")

    def broken(module: Any) -> None:
        raise RuntimeError("cannot patch")

    handle.when_imported(name, broken)
    with pytest.raises(RuntimeError, match="cannot patch"):
        importlib.import_module(name)
    assert name not in sys.modules  # never run weaker than asked
    handle.undo()
    assert importlib.import_module(name).DONE is True


def test_a_finder_that_searches_the_whole_meta_path_again(make_module: Make) -> None:
    name = make_module()
    busy = threading.local()

    class Recursive:
        """Like some import hooks: asks the import system itself, once per name."""

        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
            if fullname != name or getattr(busy, "on", False):
                return None
            busy.on = True
            try:
                return importlib.util.find_spec(fullname)
            finally:
                busy.on = False

    recursive = Recursive()
    sys.meta_path.insert(0, recursive)
    handle = GuardRuntime(Runtime(), "g")
    try:
        seen: list[Any] = []
        handle.when_imported(name, watcher(handle, seen))
        module = importlib.import_module(name)
        assert len(seen) == 1
        with pytest.raises(PolicyViolation):
            module.greet("mallory")
    finally:
        handle.undo()
        sys.meta_path.remove(recursive)


def test_source_and_resources_still_come_from_the_real_loader(make_module: Make) -> None:
    name = make_module()
    handle = GuardRuntime(Runtime(), "g")
    handle.when_imported(name, lambda module: None)
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    assert "DONE = True" in spec.loader.get_source(name)  # type: ignore[attr-defined]
    assert spec.loader.is_package(name) is False  # type: ignore[attr-defined]
    handle.undo()


def test_a_name_that_cannot_be_found_stays_missing(make_module: Make) -> None:
    handle = GuardRuntime(Runtime(), "g")
    seen: list[Any] = []
    handle.when_imported("hermetic_no_such_module_at_all", seen.append)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hermetic_no_such_module_at_all")
    assert seen == []
    handle.undo()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 no longer calls find_module()")
def test_a_legacy_finder_after_the_watch(make_module: Make) -> None:
    name = make_module()

    class Legacy:
        """A finder with find_module() only (Python 3.9-3.11 still ask it)."""

        def find_module(self, fullname: str, path: Any = None) -> Any:
            if fullname != name:
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname)
            return None if spec is None else spec.loader

    legacy: Any = Legacy()
    sys.meta_path.insert(0, legacy)
    handle = GuardRuntime(Runtime(), "g")
    try:
        seen: list[Any] = []
        handle.when_imported(name, watcher(handle, seen))
        assert sys.meta_path[1] is legacy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)
            module = importlib.import_module(name)
        assert len(seen) == 1
        with pytest.raises(PolicyViolation):
            module.greet("mallory")
    finally:
        handle.undo()
        sys.meta_path.remove(legacy)
