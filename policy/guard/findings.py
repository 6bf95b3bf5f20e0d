"""What a check returns: one line that names the resource, the property and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Resource(Protocol):
    """What ResourceValidationArgs (inputs) and PolicyResource (outputs) have in common."""

    resource_type: str
    name: str
    urn: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    urn: str
    """The resource the violation is reported on."""
    message: str


def finding(resource: Resource, prop: str, problem: str, fix: str) -> Finding:
    return Finding(
        resource.urn, f'{resource.resource_type} "{resource.name}": {prop} {problem}. Fix: {fix}.'
    )
