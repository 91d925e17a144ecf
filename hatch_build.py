"""Metadata hook of the hermetic-seal meta-package: pin every member to this version."""

from __future__ import annotations

from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface


class PinMembersHook(MetadataHookInterface):
    """Set ``dependencies`` to ``<member>==<version>`` for each name in ``pin``."""

    def update(self, metadata: dict[str, Any]) -> None:
        """Fill in the pinned dependencies."""
        version = metadata["version"]
        metadata["dependencies"] = [f"{name}=={version}" for name in self.config["pin"]]
