"""IAM policy documents, read the way IAM reads them: actions match case-insensitively, with
wildcards, and a statement's Action or Resource may be one string or a list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

# What no identity of this stack may be granted: purging versions (deletes must stay
# recoverable), changing any bucket setting, and anything in IAM.
DELETE_VERSION = "s3:DeleteObjectVersion"
# The bucket settings IAM can change with s3:PutBucket* (the family the rule names).
PUT_BUCKET_ACTIONS = tuple(
    f"s3:PutBucket{setting}"
    for setting in (
        "Acl",
        "CORS",
        "Logging",
        "Notification",
        "ObjectLockConfiguration",
        "OwnershipControls",
        "Policy",
        "PublicAccessBlock",
        "RequestPayment",
        "Tagging",
        "Versioning",
        "Website",
    )
)


@dataclass(frozen=True)
class Statement:
    index: int
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principal: Any
    condition: Any

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return ()


def parse(text: Any) -> dict[str, Any] | None:
    """The document as a dict, or None when it is not a JSON object."""
    if isinstance(text, dict):
        return text
    try:
        document = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def statements(document: dict[str, Any]) -> Iterator[Statement]:
    found = document.get("Statement", [])
    for index, raw in enumerate([found] if isinstance(found, dict) else found):
        if isinstance(raw, dict):
            yield Statement(
                index=index,
                effect=str(raw.get("Effect", "")),
                actions=_strings(raw.get("Action")),
                not_actions=_strings(raw.get("NotAction")),
                resources=_strings(raw.get("Resource")),
                not_resources=_strings(raw.get("NotResource")),
                principal=raw.get("Principal"),
                condition=raw.get("Condition"),
            )


def grants(pattern: str, action: str) -> bool:
    """Whether an Action entry (maybe a wildcard) covers `action`."""
    return fnmatchcase(action.lower(), pattern.lower())


def service_wide(pattern: str) -> bool:
    """`*`, or every action of a service (`s3:*`, `iam:*`)."""
    return pattern == "*" or pattern.endswith(":*")


def touches_service(pattern: str, service: str) -> bool:
    """Whether the entry can cover some action of `service` (its part before the colon)."""
    return fnmatchcase(service, pattern.split(":", 1)[0].lower())


def every_resource(arn: str) -> bool:
    """`*`, or every bucket (`arn:aws:s3:::*`)."""
    return arn == "*" or arn.lower().startswith("arn:aws:s3:::*")


def forbidden_grants(pattern: str) -> list[str]:
    """Which of the forbidden actions an Allow entry grants (iam:* counts as one)."""
    found = [DELETE_VERSION] if grants(pattern, DELETE_VERSION) else []
    lowered = pattern.lower()
    if lowered.startswith("s3:putbucket") or any(grants(pattern, a) for a in PUT_BUCKET_ACTIONS):
        found.append("s3:PutBucket*")
    if touches_service(pattern, "iam"):
        found.append("iam:*")
    return found
