"""Unit tests: the program and its components under Pulumi's mocks, and pure functions. Nothing
here needs root, an apt package, a server or the network."""

from __future__ import annotations

import pytest

from tests.support.mock_fixtures import pulumi_mocks, session_mocks
from tests.support.pulumi_mocks import RecordingMocks

__all__ = ["pulumi_mocks", "session_mocks"]


@pytest.fixture(autouse=True)
def _fresh_mocks(pulumi_mocks: RecordingMocks) -> RecordingMocks:
    """Every unit test starts with the mocks installed and empty (config reads need them)."""
    return pulumi_mocks
