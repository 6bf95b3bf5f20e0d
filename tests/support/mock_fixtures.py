"""The Pulumi mocks as pytest fixtures, for the layers that run the program (unit, integration).

Mocks are process-global, so one session fixture installs them, and each test that asks for
`pulumi_mocks` gets them emptied of what earlier tests recorded.
"""

from __future__ import annotations

import pytest

from tests.support.pulumi_mocks import RecordingMocks, install_mocks


@pytest.fixture(scope="session")
def session_mocks() -> RecordingMocks:
    return install_mocks()


@pytest.fixture
def pulumi_mocks(session_mocks: RecordingMocks) -> RecordingMocks:
    """The recording mocks, emptied for this test."""
    session_mocks.reset()
    return session_mocks
