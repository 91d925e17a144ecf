"""Shared helpers for hermetic's test suite: loopback servers, guarded runs, bare venvs.

Every guard's tests use these, so that "blocked" is always checked for real: a server that
counted no connection, a marker file that does not exist, in both delivery modes.
"""

from hermetic_testsupport.runs import (
    MODES,
    GuardedRun,
    bare_venv,
    run_guarded,
    write_bootstrap,
)
from hermetic_testsupport.servers import TCPCounter, UDPCounter, http_counter

__all__ = [
    "MODES",
    "GuardedRun",
    "TCPCounter",
    "UDPCounter",
    "bare_venv",
    "http_counter",
    "run_guarded",
    "write_bootstrap",
]
