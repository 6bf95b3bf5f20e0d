"""Reads the stack's configuration through the Pulumi SDK and turns it into validated settings.

The one module of the program's logic that talks to the engine: each key is read with the getter
its Pulumi.yaml type calls for, the E2B key as a secret, and a bad configuration stops the run as a
pulumi.RunError (printed without a traceback) before any resource exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from program.environments import ENVIRONMENTS
from program.schema import config_keys
from program.settings import (
    E2B_API_KEY,
    PROJECT,
    REGION_KEY,
    Settings,
    SettingsError,
    load_settings,
    qualified,
)

_FORMS = {
    "integer": "must be a whole number",
    "boolean": "must be true or false",
    "array": 'must be a list of strings, e.g. ["a/", "b/"] (pulumi config set --path KEY[0] VALUE)',
}


class ConfigurationError(pulumi.RunError):
    """The stack's configuration broke a rule; the message lists every problem."""

    def __init__(self, error: SettingsError) -> None:
        self.problems = error.problems
        super().__init__(str(error))


@dataclass(frozen=True)
class StackConfig:
    settings: Settings
    e2b_api_key: pulumi.Output[str] | None
    """A secret Output; None where the stack does not set it."""


def required_tags(environment: str) -> dict[str, str]:
    """The tags every resource must carry, through the AWS provider's defaultTags (stack files)."""
    return {"environment": environment, "project": PROJECT, "managed-by": "pulumi"}


def read_config(config: pulumi.Config) -> tuple[dict[str, object], list[str]]:
    """Every declared key through the getter its type calls for; a value of the wrong type is a
    problem, named like every other."""
    raw: dict[str, object] = {}
    problems = []
    for key, spec in config_keys().items():
        try:
            if spec.type == "integer":
                value: object = config.get_int(key)
            elif spec.type == "boolean":
                value = config.get_bool(key)
            elif spec.type == "array":
                value = config.get_object(key)
                if value is not None and not (
                    isinstance(value, list) and all(isinstance(item, str) for item in value)
                ):
                    raise ValueError(key)
            else:
                value = config.get(key)
        except (pulumi.ConfigTypeError, ValueError, RecursionError):
            # A nested list too deep for JSON's parser lands here as RecursionError.
            problems.append(f"{qualified(key)} = {config.get(key)!r}: {_FORMS[spec.type]}")
            continue
        if value is not None:
            raw[key] = value
    return raw, problems


def _tag_problems(aws: pulumi.Config, environment: str) -> list[str]:
    try:
        tags = aws.get_object("defaultTags")
    except (pulumi.ConfigTypeError, ValueError):
        tags = None
    expected = required_tags(environment)
    found = tags.get("tags") if isinstance(tags, dict) else None
    if isinstance(found, dict) and {k: found.get(k) for k in expected} == expected:
        return []
    return [
        f"aws:defaultTags = {tags!r}: must tag every resource with {expected} (the stack "
        "file's aws:defaultTags: tags:), so that audits find them"
    ]


def read_stack_config(stack: str | None = None) -> StackConfig:
    """The current stack's validated settings and its E2B key; raises ConfigurationError."""
    project = pulumi.Config(PROJECT)
    aws = pulumi.Config("aws")
    raw, problems = read_config(project)
    raw[REGION_KEY] = aws.get("region")
    environment = raw.get("environment")
    if isinstance(environment, str) and environment in ENVIRONMENTS:
        problems += _tag_problems(aws, environment)
    e2b_api_key = project.get_secret(E2B_API_KEY)
    try:
        settings = load_settings(
            raw,
            stack or pulumi.get_stack(),
            has_e2b_api_key=e2b_api_key is not None,
            read_problems=problems,
        )
    except SettingsError as error:
        raise ConfigurationError(error) from None
    return StackConfig(settings, e2b_api_key)
