"""Fixtures of the known-bypass catalogue; the helpers themselves are in ``support.py``."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from security.support import Batch


@pytest.fixture(scope="module")
def batch(bare_python: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Batch]:
    """``batch(body, policies, **kw)``: a :class:`Batch` run on first use, kept per module."""

    def make(body: str, policies: dict[str, Any], **kwargs: Any) -> Batch:
        return Batch(tmp_path_factory, bare_python, body, policies, **kwargs)

    return make
