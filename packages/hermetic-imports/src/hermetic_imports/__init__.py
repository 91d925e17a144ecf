"""hermetic-imports: the ``imports``, ``code_exec`` and ``interpreter`` guards."""
