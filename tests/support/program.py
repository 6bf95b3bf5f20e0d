"""Run the real Pulumi program (__main__.py), or one component, under Pulumi's mocks.

Only the SDK's public testing API is used: `pulumi.runtime.test` waits for every registration,
and outputs are resolved with `apply`. The program's exports are caught by wrapping
`pulumi.export` while it runs (the SDK offers no public way to read a stack's exports back).
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pulumi
import yaml

from harness.paths import REPO_ROOT
from program.environments import ENVIRONMENTS
from program.settings import E2B_API_KEY as E2B_API_KEY_NAME
from program.settings import PROJECT
from tests.support.pulumi_mocks import (
    RecordedResource,
    RecordingMocks,
    ResourceLookup,
    configure_mocks,
)

STACKS = ENVIRONMENTS  # one stack per environment, named after it
E2B_API_KEY = f"{PROJECT}:{E2B_API_KEY_NAME}"
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
    exports: dict[str, pulumi.Input[Any]] = {}
    outputs: dict[str, Any] = {}
    secrets: set[str] = set()

    def record(name: str, value: pulumi.Input[Any]) -> None:
        exports[name] = value

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def evaluate() -> pulumi.Output[Any]:
        with mock.patch.object(pulumi, "export", record):
            runpy.run_path(str(REPO_ROOT / "__main__.py"), run_name="__main__")
        values = {name: pulumi.Output.from_input(value) for name, value in exports.items()}
        flags: dict[str, pulumi.Output[bool]] = {
            name: pulumi.Output.from_input(cast("Awaitable[bool]", output.is_secret()))
            for name, output in values.items()
        }

        def keep(resolved: list[dict[str, Any]]) -> None:
            outputs.update(resolved[0])
            secrets.update(name for name, secret in resolved[1].items() if secret)

        return pulumi.Output.all(pulumi.Output.all(**values), pulumi.Output.all(**flags)).apply(
            keep
        )

    evaluate()
    return ProgramRun(list(mocks.resources), outputs, secrets)


@dataclass
class ComponentRun(ResourceLookup):
    resources: list[RecordedResource]
    outputs: dict[str, Any]


def run_component(
    mocks: RecordingMocks,
    build: Callable[[], Mapping[str, pulumi.Input[Any]]],
    stack: str = "dev",
) -> ComponentRun:
    """Declare one component from its Args (`build` returns the outputs to resolve, by name) and
    return what it registered: as ol-infrastructure tests its components, without the program."""
    configure_mocks(mocks, stack)
    pulumi.runtime.set_all_config({}, secret_keys=[])
    mocks.reset()
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def evaluate() -> pulumi.Output[Any]:
        return pulumi.Output.all(**build()).apply(outputs.update)

    evaluate()
    return ComponentRun(list(mocks.resources), outputs)
