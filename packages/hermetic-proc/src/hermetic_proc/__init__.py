"""hermetic-proc: the ``subprocess`` and ``environment`` guards (work in progress).

* ``environment_guard``: ``block_environment=True`` (``--no-environment``, ``--no-env``)
  refuses reading, listing and changing environment variables; ``allow_env``
  (``--allow-env NAME``, repeatable, glob patterns such as ``LC_*``) names the ones a
  program may use.
"""

from hermetic_proc._environment import environment_guard

__all__ = ["environment_guard"]
