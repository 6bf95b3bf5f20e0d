"""The stack a policy test runs in: the pack reads the stack's project, name and config from the
Pulumi runtime, as the engine provides them."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pytest

from program.settings import PROJECT
from tests.support.pulumi_mocks import RecordingMocks, configure_mocks

OnStack = Callable[..., None]


@pytest.fixture
def on_stack(pulumi_mocks: RecordingMocks) -> OnStack:
    """Select the stack the pack checks: its name, `environment` and other config keys."""

    def select(stack: str = "dev", environment: str | None = "dev", **config: str) -> None:
        configure_mocks(pulumi_mocks, stack)
        values = {f"{PROJECT}:{key}": value for key, value in config.items()}
        if environment is not None:
            values[f"{PROJECT}:environment"] = environment
        pulumi.runtime.set_all_config(values, secret_keys=[])

    select()
    return select
