"""The stack's outputs, declared once: what CI and the backend read with
`pulumi stack output --json`, camelCase and stable.

`StackOutputs` is filled by __main__.py (mypy checks that every output gets a value) and flattened
into output names here; CI's and the backend host's tools read the names from OUTPUT_NAMES.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from typing import Generic, TypeVar, get_origin, get_type_hints

from program.shared import MountValues, StorageValues, TemplateValues, deliveries, output_name

T = TypeVar("T")


@dataclass(frozen=True)
class StackOutputs(Generic[T]):
    mount: MountValues[T]
    """bucketName, region, s3MountDir, s3EndpointUrl, s3MountFreshnessSeconds, the key pair."""
    template: TemplateValues[T]
    """e2bTemplateName, e2bTemplateId."""
    storage: StorageValues[T]
    """s3SandboxStorage, s3SandboxPrefixRoot, s3KmsKeyArn."""
    bucket_arn: T
    iam_user_name: T
    iam_user_arn: T
    credentials_secret_arn: T
    backend_read_policy_arn: T
    image_name: T
    image_ref: T
    ecr_repository_url: T
    e2b_build_id: T
    compose_override: T
    host_mount_unit: T

    def items(self) -> Iterator[tuple[str, T]]:
        """(output name, value), the shared values' fields flattened into the outputs."""
        for item in fields(self):
            value = getattr(self, item.name)
            if is_dataclass(value):
                for inner in fields(value):
                    yield output_name(inner.name), getattr(value, inner.name)
            else:
                yield output_name(item.name), value


def _names() -> tuple[tuple[str, ...], frozenset[str]]:
    names: list[str] = []
    secret: set[str] = set()
    hints = get_type_hints(StackOutputs)
    for item in fields(StackOutputs):
        kind = get_origin(hints[item.name]) or hints[item.name]
        if not (isinstance(kind, type) and is_dataclass(kind)):
            names.append(output_name(item.name))
            continue
        for inner, delivery in deliveries(kind):
            names.append(output_name(inner.name))
            if delivery.secret:
                secret.add(output_name(inner.name))
    return tuple(names), frozenset(secret)


OUTPUT_NAMES, SECRET_OUTPUTS = _names()
