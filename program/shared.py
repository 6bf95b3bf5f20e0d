"""The values the components share and the stack hands on, typed: which variable each becomes, on
which channel it travels and who receives it.

Two channels, so that no value travels twice and none shadows another:
- settings (not secret): the bucket, its region, the mount dir, the endpoint, the freshness bound,
  the E2B template, and how sandboxes get their storage (the mode, the prefix root, the KMS key).
  The image bakes them in /etc/e2b-sandbox/sandbox.env (world-readable); the backend's compose
  override sets them in `environment:`; the host mount's unit as Environment=.
- credentials: the key pair. The image bakes it in a root-only file; the backend gets it in
  e2b-s3.env (0600, next to its compose file); Secrets Manager holds it as JSON.

Each field is also a stack output, named in camelCase (bucket_name -> bucketName); every writer
(the image's build args, the override, the env file, the unit, the secret) derives from the fields'
deliveries. Standard library only, so that the backend host's and CI's tools share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import Field, dataclass, field, fields
from enum import Enum
from typing import Any, Generic, TypeVar

from s3mount import contract
from s3mount.contract import ContractError

T = TypeVar("T")


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
class Delivery:
    variable: str
    channel: Channel
    consumers: frozenset[Consumer]

    @property
    def secret(self) -> bool:
        return self.variable in contract.SECRET_NAMES


def _to(variable: str, channel: Channel, consumers: frozenset[Consumer]) -> dict[str, Delivery]:
    """A field's metadata: where its value goes."""
    return {"delivery": Delivery(variable, channel, consumers)}


def output_name(field_name: str) -> str:
    """A field's stack output name: s3_mount_dir -> s3MountDir."""
    head, *rest = field_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class MountValues(Generic[T]):
    """What every mount of the bucket needs, the sandbox's and the backend host's alike."""

    access_key_id: T = field(metadata=_to(contract.ACCESS_KEY_ID, Channel.CREDENTIALS, EVERYONE))
    secret_access_key: T = field(
        metadata=_to(contract.SECRET_ACCESS_KEY, Channel.CREDENTIALS, EVERYONE)
    )
    region: T = field(metadata=_to(contract.REGION, Channel.SETTINGS, EVERYONE))
    bucket_name: T = field(metadata=_to(contract.BUCKET_NAME, Channel.SETTINGS, EVERYONE))
    s3_mount_dir: T = field(metadata=_to(contract.MOUNT_DIR, Channel.SETTINGS, EVERYONE))
    s3_endpoint_url: T = field(metadata=_to(contract.ENDPOINT_URL, Channel.SETTINGS, EVERYONE))
    s3_mount_freshness_seconds: T = field(
        metadata=_to(contract.FRESHNESS_SECONDS, Channel.SETTINGS, MOUNTS)
    )


@dataclass(frozen=True)
class TemplateValues(Generic[T]):
    """The E2B template the backend creates its sandboxes from: exactly the one this stack built."""

    e2b_template_name: T = field(metadata=_to(contract.TEMPLATE_NAME, Channel.SETTINGS, BACKEND))
    e2b_template_id: T = field(metadata=_to(contract.TEMPLATE_ID, Channel.SETTINGS, BACKEND))


@dataclass(frozen=True)
class StorageValues(Generic[T]):
    """How the backend gives sandboxes their storage (README, "Per-sandbox storage")."""

    s3_sandbox_storage: T = field(metadata=_to(contract.SANDBOX_STORAGE, Channel.SETTINGS, BACKEND))
    s3_sandbox_prefix_root: T = field(
        metadata=_to(contract.SANDBOX_PREFIX_ROOT, Channel.SETTINGS, BACKEND)
    )
    s3_kms_key_arn: T = field(metadata=_to(contract.KMS_KEY_ARN, Channel.SETTINGS, BACKEND))


# Every kind of shared value, in the order their variables are written.
SHARED: tuple[type[Any], ...] = (MountValues, TemplateValues, StorageValues)


def deliveries(kind: type[Any]) -> Iterator[tuple[Field[Any], Delivery]]:
    for item in fields(kind):
        yield item, item.metadata["delivery"]


def delivered(consumer: Consumer, channel: Channel, *shared: Any) -> dict[str, Any]:
    """{variable: value} of what `consumer` receives on `channel`, in the fields' order."""
    return {
        delivery.variable: getattr(values, item.name)
        for values in shared
        for item, delivery in deliveries(type(values))
        if consumer in delivery.consumers and delivery.channel is channel
    }


def checked(found: Mapping[str, object]) -> dict[str, str]:
    """The values as text that every channel can carry; a failure names the variable only."""
    for name, value in found.items():
        if not isinstance(value, str):
            raise ContractError(f"{name} is not text")
        if contract.CONTROL_CHARACTERS.search(value):
            raise ContractError(
                f"{name} contains a control character (a newline?), which no settings file can "
                "hold: fix the stack value it comes from"
            )
    return {name: str(value) for name, value in found.items()}


def received(consumer: Consumer, channel: Channel, outputs: Mapping[str, object]) -> dict[str, str]:
    """{variable: value} of what `consumer` receives on `channel`, read from the stack outputs
    by name (a tool's view of a deployed stack); a missing or bad output is named."""
    chosen = [
        (output_name(item.name), delivery)
        for kind in SHARED
        for item, delivery in deliveries(kind)
        if consumer in delivery.consumers and delivery.channel is channel
    ]
    missing = [name for name, _ in chosen if name not in outputs]
    if missing:
        raise ContractError(f"missing stack output(s) {', '.join(missing)}")
    return checked({delivery.variable: outputs[name] for name, delivery in chosen})


def credentials_json(access_key_id: str, secret_access_key: str) -> str:
    """The Secrets Manager value: the key pair under the names every consumer reads."""
    pair = dict(zip(contract.KEY_PAIR, (access_key_id, secret_access_key), strict=True))
    return json.dumps(checked(pair), sort_keys=True)
