"""Console scripts for hermetic-cli's end-to-end tests; each does one observable thing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def fetch() -> int:
    """``ht-fetch URL``: GET the URL and print the body."""
    import urllib.request

    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        sys.stdout.write(response.read().decode())
    return 0


def exit_with() -> int:
    """``ht-exit CODE``: exit with CODE."""
    return int(sys.argv[1])


def child() -> int:
    """``ht-child CODE``: run CODE in a child ``sys.executable``; exit with its status."""
    return subprocess.run([sys.executable, "-c", sys.argv[1]], check=False).returncode


def show() -> int:
    """``ht-show [ARGS...]``: print facts about how this program was started, as JSON."""
    main = sys.modules["__main__"]
    facts = {
        "argv": sys.argv,
        "main_file": getattr(main, "__file__", None),
        "path0": sys.path[0],
        "executable": sys.executable,
        "pid": os.getpid(),
        "name": getattr(main, "__name__", None),
        "in_process": "hermetic_cli" in sys.modules,
        "pythonpath": os.environ.get("PYTHONPATH"),
    }
    sys.stdout.write(json.dumps(facts) + "\n")
    return 0


def wait_for_signal() -> int:
    """``ht-signal``: exit 42 on SIGTERM, 43 on SIGINT; print ``ready`` once armed."""

    # os.write, never sys.stdout: a signal can land while the main thread is still inside
    # the buffered stream's flush, and the handler writing to it then fails as reentrant.
    def on_term(signum: int, frame: object) -> None:
        os.write(1, b"got SIGTERM\n")
        sys.exit(42)

    signal.signal(signal.SIGTERM, on_term)
    try:  # armed for SIGINT before anyone is told we are ready
        os.write(1, f"ready {os.getpid()}\n".encode())
        time.sleep(60)
    except KeyboardInterrupt:
        os.write(1, b"got SIGINT\n")
        return 43
    return 1


def browser() -> int:
    """``ht-browser URL``: open the URL in a web browser (``$BROWSER``)."""
    import webbrowser

    sys.stdout.write(f"opened={webbrowser.open(sys.argv[1])}\n")
    return 0


def fail() -> int:
    """``ht-raise``: end on an uncaught ValueError."""
    raise ValueError("raised on purpose")
