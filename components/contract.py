"""The one home of the values the sandbox and the backend receive: their names, which is secret,
which channel carries each, and the one file format they are written in.

Two channels, so that no value travels twice and none shadows another:
- settings (not secret): the bucket, its region, the mount dir, the endpoint, the freshness bound,
  the E2B template. The image bakes them in /etc/e2b-sandbox/sandbox.env (world-readable); the
  backend's compose override sets them in `environment:`; the host mount's unit as Environment=.
- credentials: the key pair. The image bakes it in a root-only file; the backend gets it in
  e2b-s3.env (0600, next to its compose file); Secrets Manager holds it as JSON.

Every writer (the image's build args, the override, the env file, the unit, the secret) derives
from VARIABLES. The reader in the image, docker/e2b-sandbox/s3mount.py, is standard-library Python
in the image's build context; a test holds its names to these. This module is standard library
only, so that tools/ share it without importing Pulumi.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Channel(Enum):
    SETTINGS = "settings"
    CREDENTIALS = "credentials"


class Consumer(Enum):
    SANDBOX = "sandbox"
    """The mount program in the image."""
    BACKEND = "backend"
    """The backend's container."""
    HOST_MOUNT = "host-mount"
    """The mount program on the backend's host."""


EVERYONE = frozenset(Consumer)
MOUNTS = frozenset({Consumer.SANDBOX, Consumer.HOST_MOUNT})
BACKEND = frozenset({Consumer.BACKEND})


@dataclass(frozen=True)
class Variable:
    name: str
    """The environment variable every consumer reads."""
    output: str
    """The stack output its value comes from."""
    channel: Channel
    consumers: frozenset[Consumer]
    secret: bool = False


VARIABLES = (
    Variable("AWS_ACCESS_KEY_ID", "accessKeyId", Channel.CREDENTIALS, EVERYONE),
    Variable("AWS_SECRET_ACCESS_KEY", "secretAccessKey", Channel.CREDENTIALS, EVERYONE, True),
    Variable("AWS_REGION", "region", Channel.SETTINGS, EVERYONE),
    Variable("S3_BUCKET_NAME", "bucketName", Channel.SETTINGS, EVERYONE),
    Variable("S3_MOUNT_DIR", "s3MountDir", Channel.SETTINGS, EVERYONE),
    Variable("S3_ENDPOINT_URL", "s3EndpointUrl", Channel.SETTINGS, EVERYONE),
    Variable("S3_MOUNT_FRESHNESS_SECONDS", "s3MountFreshnessSeconds", Channel.SETTINGS, MOUNTS),
    Variable("E2B_TEMPLATE_NAME", "e2bTemplateName", Channel.SETTINGS, BACKEND),
    # The template this stack built: the backend creates its sandboxes from exactly this one.
    Variable("E2B_TEMPLATE_ID", "e2bTemplateId", Channel.SETTINGS, BACKEND),
)
SECRET_OUTPUTS = frozenset(v.output for v in VARIABLES if v.secret)
# A value with one of these would break a YAML scalar, a dotenv or a unit line.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class ContractError(ValueError):
    """A value that no channel can carry; the message names it, never a secret's value."""


def variables(consumer: Consumer, channel: Channel) -> tuple[Variable, ...]:
    return tuple(v for v in VARIABLES if consumer in v.consumers and v.channel is channel)


def values(consumer: Consumer, channel: Channel, outputs: Mapping[str, object]) -> dict[str, str]:
    """{variable: value} for what `consumer` receives on `channel`, from the stack outputs."""
    chosen = variables(consumer, channel)
    missing = [v.output for v in chosen if v.output not in outputs]
    if missing:
        raise ContractError(f"missing stack output(s) {', '.join(missing)}")
    found = {v.name: outputs[v.output] for v in chosen}
    for variable in chosen:
        value = found[variable.name]
        if not isinstance(value, str):
            raise ContractError(f"stack output {variable.output} is not text")
        if CONTROL_CHARACTERS.search(value):
            raise ContractError(
                f"{variable.name} contains a control character (a newline?), which no settings "
                "file can hold: fix the stack value it comes from"
            )
    return {name: str(value) for name, value in found.items()}


def env_quote(value: str) -> str:
    """A double-quoted value that compose, systemd and the mount program all read back as
    `value`: backslash, double quote and dollar escaped (compose would expand `${...}` and cut
    unquoted values at ` #`)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def render_env(settings: Mapping[str, str], header: str = "") -> str:
    """KEY="value" lines, in the contract's order."""
    order = {v.name: index for index, v in enumerate(VARIABLES)}
    lines = [f"# {line}" for line in header.splitlines()]
    for name in sorted(settings, key=lambda n: order.get(n, len(order))):
        if CONTROL_CHARACTERS.search(settings[name]):
            raise ContractError(f"{name} contains a control character: fix its stack value")
        lines.append(f"{name}={env_quote(settings[name])}")
    return "\n".join(lines) + "\n"


def credentials_json(outputs: Mapping[str, object]) -> str:
    """The Secrets Manager value: the key pair under the names every consumer reads."""
    return json.dumps(values(Consumer.BACKEND, Channel.CREDENTIALS, outputs), sort_keys=True)
