"""The session policy of one attached sandbox, as plain data: exactly its own prefix of the bucket,
read-write or read-only, and optionally further prefixes read-only (shared inputs).

A session policy narrows a session to its intersection with the caller's own policy (the stack's
identity, which reaches the one bucket only). IAM takes at most 2,048 characters of it, packed.
Listing is limited with the `s3:prefix` condition in the form of AWS's own example for home
folders; that condition is checked here against AWS's documentation only (moto evaluates none).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from s3mount import contract

SESSION_POLICY_MAX = 2048
READ_ACTIONS = ("s3:GetObject",)
WRITE_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


class SessionPolicyError(ValueError):
    """A policy no session can carry: the message says why."""


def session_policy(
    bucket: str,
    prefix: str,
    *,
    read_only: bool = False,
    read_prefixes: Sequence[str] = (),
    kms_key_arn: str | None = None,
    region: str | None = None,
    partition: str = "aws",
) -> dict[str, Any]:
    """The policy document for a session limited to `prefix` (ending in '/')."""
    for candidate in (prefix, *read_prefixes):
        problem = contract.key_prefix_problem(candidate)
        if problem is not None:
            raise SessionPolicyError(f"{candidate!r} must be {problem}")
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    readable = [prefix, *read_prefixes]

    def objects(prefixes: Sequence[str]) -> str | list[str]:
        arns = [f"{bucket_arn}/{p}*" for p in prefixes]
        return arns[0] if len(arns) == 1 else arns

    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListOnlyTheseFolders",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            # The folder and what is under it: `prefix` for its marker, `prefix*` below it.
            "Condition": {"StringLike": {"s3:prefix": [q for p in readable for q in (p, f"{p}*")]}},
        },
        _allow("LocateTheBucket", "s3:GetBucketLocation", bucket_arn),
        _allow("ReadTheseFolders", list(READ_ACTIONS), objects(readable)),
    ]
    if not read_only:
        statements.append(_allow("WriteTheOwnFolder", list(WRITE_ACTIONS), objects([prefix])))
    if kms_key_arn is not None:
        if region is None:
            raise SessionPolicyError("a region is needed with a KMS key: it is used through S3")
        statements.append(
            {
                "Sid": "UseTheBucketKeyThroughS3",
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            }
        )
    document = {"Version": "2012-10-17", "Statement": statements}
    size = len(packed(document))
    if size > SESSION_POLICY_MAX:
        raise SessionPolicyError(
            f"the session policy has {size} characters and IAM takes {SESSION_POLICY_MAX}: use "
            "fewer or shorter read prefixes"
        )
    return document


def _allow(sid: str, action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def packed(document: dict[str, Any]) -> str:
    """The document as IAM counts it: no whitespace."""
    return json.dumps(document, separators=(",", ":"))
