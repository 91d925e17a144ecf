"""hermetic-proc: the ``subprocess`` and ``environment`` guards.

* ``subprocess``: ``block_subprocess=True`` (``--no-subprocess``) refuses starting programs
  and forking (``subprocess``, ``os.system``, ``os.popen``, ``os.exec*``, ``os.spawn*``,
  ``os.posix_spawn``, ``os.fork``, ``pty``, ``multiprocessing``); ``allow_commands``
  (``--allow-command CMD``, repeatable) names executables that may still run.
* ``environment``: ``block_environment=True`` (``--no-environment``, ``--no-env``)
  refuses reading, listing and changing environment variables; ``allow_env``
  (``--allow-env NAME``, repeatable, glob patterns such as ``LC_*``) names the ones a
  program may use.
"""

from hermetic_proc._environment import environment_guard
from hermetic_proc._subprocess import subprocess_guard

__all__ = ["environment_guard", "subprocess_guard"]
