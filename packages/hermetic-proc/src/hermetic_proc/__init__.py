"""hermetic-proc: the ``subprocess`` and ``environment`` guards.

* ``subprocess``: ``block_subprocess=True`` (``--no-subprocess``) refuses starting programs
  and forking (``subprocess``, ``os.system``, ``os.popen``, ``os.exec*``, ``os.spawn*``,
  ``os.posix_spawn``, ``os.fork``, ``pty``, ``multiprocessing``); ``allow_commands``
  (``--allow-command CMD``, repeatable) names executables that may still run.
"""

from hermetic_proc._subprocess import subprocess_guard

__all__ = ["subprocess_guard"]
