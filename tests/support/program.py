"""Run the real Pulumi program (__main__.py) under mocks with a stack's configuration."""

from __future__ import annotations

import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.sync_await import _sync_await

from tests.support.pulumi_mocks import (
    PROJECT,
    RecordedResource,
    RecordingMocks,
    ResourceLookup,
    configure_mocks,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
STACKS = ("local", "dev", "staging", "prod")
E2B_API_KEY = f"{PROJECT}:e2bApiKey"
TEST_E2B_API_KEY = "e2b_mock_key_0000000000000000"


@dataclass
class ProgramRun(ResourceLookup):
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]


def stack_file(stack: str) -> Path:
    return REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml"


def stack_config(stack: str) -> dict[str, str]:
    """A stack file's config as the engine hands it to the program: every value a string."""
    document = yaml.safe_load(stack_file(stack).read_text()) or {}
    return {key: _as_config_string(value) for key, value in (document.get("config") or {}).items()}


def _as_config_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def run_program(
    mocks: RecordingMocks,
    stack: str,
    overrides: Mapping[str, str | None] | None = None,
    preview: bool = False,
) -> ProgramRun:
    """Evaluate __main__.py for `stack`; `overrides` set (or, with None, remove) config keys."""
    config = stack_config(stack)
    # The stacks that build an E2B template need its key; a real stack keeps it as a secret.
    if config.get(f"{PROJECT}:e2bTemplate") == "true":
        config[E2B_API_KEY] = TEST_E2B_API_KEY
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    configure_mocks(mocks, stack, preview)
    pulumi.runtime.set_all_config(config, secret_keys=[E2B_API_KEY])
    mocks.reset()
    root = runtime_settings.get_root_resource()
    assert root is not None
    root.outputs.clear()  # type: ignore[attr-defined]

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def evaluate() -> None:
        runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")

    evaluate()
    outputs: dict[str, Any] = {}
    secrets: set[str] = set()
    for name, value in root.outputs.items():  # type: ignore[attr-defined]
        output = pulumi.Output.from_input(value)
        outputs[name] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secrets.add(name)
    return ProgramRun(list(mocks.resources), outputs, secrets)
