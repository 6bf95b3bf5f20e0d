"""Every component's Args check their own invariants, so a component used from another program
refuses bad input too, naming each field (program/rules.py holds the rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.credentials import SandboxCredentialsArgs
from components.identity import SandboxIdentityArgs
from components.registry import SandboxRegistryArgs
from components.storage import SandboxBucketArgs
from components.template import SandboxTemplateArgs
from program.rules import InvalidArgsError

BUCKET_ARN = "arn:aws:s3:::b"
KMS = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
CASES: list[tuple[Callable[..., Any], dict[str, Any], dict[str, Any], list[str]]] = [
    (
        SandboxBucketArgs,
        {"bucket_name_prefix": "e2b-sandbox-dev-", "noncurrent_version_days": 30},
        {"noncurrent_version_days": -5, "bucket_name_prefix": "Bad_", "kms_key_arn": "alias/x"},
        ["bucket_name_prefix", "noncurrent_version_days", "kms_key_arn"],
    ),
    (
        SandboxIdentityArgs,
        {"bucket_arn": BUCKET_ARN, "iam_path": "/e2b-sandbox/dev/", "region": "us-east-1"},
        {"iam_path": "e2b", "key_prefixes": ["/abs/"], "permissions_boundary_arn": "x"},
        ["iam_path", "key_prefixes", "permissions_boundary_arn"],
    ),
    (
        SandboxIdentityArgs,
        {"bucket_arn": BUCKET_ARN, "iam_path": "/e2b-sandbox/dev/", "region": "us-east-1"},
        {"region": "Europe", "kms_key_arn": KMS.replace("us-east-1", "eu-west-1")},
        ["region", "kms_key_arn"],
    ),
    (
        SandboxCredentialsArgs,
        {"user_name": "u", "key_slots": ["blue"], "active_key_slot": "blue"},
        {"key_slots": ["red"], "recovery_window_days": 3, "iam_path": "x"},
        ["key_slots", "recovery_window_days", "iam_path"],
    ),
    (
        SandboxCredentialsArgs,
        {"user_name": "u", "key_slots": ["blue"], "active_key_slot": "blue"},
        {"active_key_slot": "green", "kms_key_arn": KMS},
        ["active_key_slot", "region"],
    ),
    (
        SandboxRegistryArgs,
        {"keep_images": 10},
        {"keep_images": 0},
        ["keep_images"],
    ),
    (
        SandboxTemplateArgs,
        {
            "template_name": "e2b-sandbox-dev",
            "image_ref": "r@sha256:" + "a" * 64,
            "registry_username": "AWS",
            "registry_password": "p",
            "api_key": "k",
            "cpu_count": 2,
            "memory_mb": 2048,
        },
        {"template_name": "My T", "cpu_count": 0, "memory_mb": 511, "api_url": "http://e2b"},
        ["template_name", "cpu_count", "memory_mb", "api_url"],
    ),
]


@pytest.mark.parametrize(
    ("args", "good", "bad", "fields"),
    CASES,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_args_are_refused_with_every_field_named(
    args: Callable[..., Any], good: dict[str, Any], bad: dict[str, Any], fields: list[str]
) -> None:
    defaults = {"recovery_window_days": 0} if args is SandboxCredentialsArgs else {}
    assert args(**defaults, **good)  # the good ones stand
    with pytest.raises(InvalidArgsError) as raised:
        args(**{**defaults, **good, **bad})
    assert [problem.split(" = ")[0] for problem in raised.value.problems] == fields
    assert str(raised.value).startswith(f"{args.__name__}: ")
