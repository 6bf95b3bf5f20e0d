"""Policy documents as plain Python data.

Built here rather than with the get_policy_document invoke so that reviewers read them in one place,
tests and parliament check exactly what the program sends, and a preview needs no provider call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from s3mount import contract

PolicyDocument = dict[str, Any]

# What the sandbox's FUSE client needs to list, read, write and delete files, and no more.
# Missing on purpose: s3:DeleteObjectVersion (a compromised sandbox must not purge versions, so
# every delete stays recoverable), every bucket configuration and ACL action, every IAM action.
# Missing too: s3:ListBucketMultipartUploads, which lists uploads under every prefix (past
# allowedKeyPrefixes) and which neither s3fs nor Mountpoint for S3 needs.
BUCKET_ACTIONS = ("s3:GetBucketLocation",)
LIST_ACTION = "s3:ListBucket"
PUT_ACTION = "s3:PutObject"
OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
# Objects stay in the bucket's default class: a sandbox cannot park data in DEEP_ARCHIVE (cheap
# to write, slow and costly to read back). A put that names no class gets the default.
STORAGE_CLASS = "STANDARD"
# Per-sandbox storage: the backend issues each sandbox's session with the identity's key.
FEDERATION_ACTION = "sts:GetFederationToken"
# SSE-KMS with a customer key: S3 calls KMS on the caller's behalf, so the caller needs these two.
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def _document(*statements: dict[str, Any]) -> PolicyDocument:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def federated_users_arn(account_id: str, partition: str = "aws") -> str:
    """The federated users the identity may issue credentials for: the attached sandboxes'."""
    return f"arn:{partition}:sts::{account_id}:federated-user/{contract.FEDERATED_NAME_PREFIX}*"


def _prefix_patterns(prefixes: Sequence[str]) -> list[str]:
    """What `s3:prefix` may be to list these folders: each folder (its marker) and below it."""
    return [pattern for prefix in prefixes for pattern in (prefix, f"{prefix}*")]


def _object_arns(bucket_arn: str, prefixes: Sequence[str]) -> str | list[str]:
    """The objects under these prefixes: one ARN as a string, several as a list."""
    arns = [f"{bucket_arn}/{prefix}*" for prefix in prefixes]
    return arns[0] if len(arns) == 1 else arns


def sandbox_access_policy(
    bucket_arn: str,
    key_prefixes: Sequence[str] = (),
    kms_key_arn: str | None = None,
    region: str | None = None,
    sessions_for: str | None = None,
) -> PolicyDocument:
    """The sandbox user's identity policy: exactly one bucket, optionally a few key prefixes.
    With per-sandbox storage (`sessions_for`, federated_users_arn's value) it may also issue the
    sandboxes' sessions, each narrowed further by its own session policy
    (session_policy below): a session can do at most what this policy allows."""
    list_statement: dict[str, Any] = {
        "Sid": "ListTheBucket",
        "Effect": "Allow",
        "Action": LIST_ACTION,
        "Resource": bucket_arn,
    }
    if key_prefixes:
        list_statement["Condition"] = {"StringLike": {"s3:prefix": _prefix_patterns(key_prefixes)}}
    objects = _object_arns(bucket_arn, key_prefixes or [""])
    statements = [
        {
            "Sid": "LocateTheBucket",
            "Effect": "Allow",
            "Action": BUCKET_ACTIONS[0],
            "Resource": bucket_arn,
        },
        list_statement,
        {
            "Sid": "ReadDeleteObjects",
            "Effect": "Allow",
            "Action": list(OBJECT_ACTIONS),
            "Resource": objects,
        },
        {
            "Sid": "WriteObjectsInTheDefaultClass",
            "Effect": "Allow",
            "Action": PUT_ACTION,
            "Resource": objects,
            "Condition": {"StringEqualsIfExists": {"s3:x-amz-storage-class": STORAGE_CLASS}},
        },
    ]
    if sessions_for is not None:
        statements.append(
            {
                "Sid": "IssueSandboxSessions",
                "Effect": "Allow",
                "Action": FEDERATION_ACTION,
                "Resource": sessions_for,
            }
        )
    if kms_key_arn is not None:
        statements.append(_kms_through_s3(kms_key_arn, region))
    return _document(*statements)


def _kms_through_s3(kms_key_arn: str, region: str | None) -> dict[str, Any]:
    """The bucket's customer key, usable only by S3 on the caller's behalf."""
    if region is None:
        raise ValueError("region is required with a KMS key: the key is used only through S3")
    return {
        "Sid": "UseTheBucketKeyThroughS3",
        "Effect": "Allow",
        "Action": list(KMS_ACTIONS),
        "Resource": kms_key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    }


def secret_read_policy(
    secret_arn: str, kms_key_arn: str | None = None, region: str | None = None
) -> PolicyDocument:
    """For the backend's own role: read the key pair from the one secret at deploy time, so the
    key never travels in a CI artifact."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheSandboxKey",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": secret_arn,
        }
    ]
    if kms_key_arn is not None:
        if region is None:
            raise ValueError(
                "region is required with a KMS key: it is used through Secrets Manager"
            )
        statements.append(
            {
                "Sid": "DecryptThroughSecretsManager",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            }
        )
    return _document(*statements)


def tls_only_bucket_policy(bucket_arn: str) -> PolicyDocument:
    """The bucket policy: refuse every request that does not arrive over TLS."""
    return _document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def ecr_lifecycle_policy(keep_images: int) -> PolicyDocument:
    """Keep the newest images only: every key rotation pushes one, and old ones hold old keys."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep the {keep_images} newest images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_images,
                },
                "action": {"type": "expire"},
            }
        ]
    }


# --- an attached sandbox's session (per-sandbox storage) ---------------------------------------
#
# The session policy of one attached sandbox, as plain data: exactly its own prefix of the bucket,
# read-write or read-only, and optionally further prefixes read-only (shared inputs).
#
# A session policy narrows a session to its intersection with the caller's own policy (the stack's
# identity, which reaches the one bucket only). IAM takes at most 2,048 characters of it, packed.
# Listing is limited with the `s3:prefix` condition in the form of AWS's own example for home
# folders; that condition is checked here against AWS's documentation only (moto evaluates none).
SESSION_POLICY_MAX = 2048
SESSION_READ_ACTIONS = ("s3:GetObject",)
SESSION_WRITE_ACTIONS = (PUT_ACTION, *OBJECT_ACTIONS[1:])


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
) -> PolicyDocument:
    """The policy document for a session limited to `prefix` (ending in '/')."""
    for candidate in (prefix, *read_prefixes):
        problem = contract.key_prefix_problem(candidate)
        if problem is not None:
            raise SessionPolicyError(f"{candidate!r} must be {problem}")
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    readable = [prefix, *read_prefixes]
    statements: list[dict[str, Any]] = [
        {
            **_allow("ListOnlyTheseFolders", LIST_ACTION, bucket_arn),
            "Condition": {"StringLike": {"s3:prefix": _prefix_patterns(readable)}},
        },
        _allow("LocateTheBucket", BUCKET_ACTIONS[0], bucket_arn),
        _allow("ReadTheseFolders", list(SESSION_READ_ACTIONS), _object_arns(bucket_arn, readable)),
    ]
    if not read_only:
        writable = _object_arns(bucket_arn, [prefix])
        statements.append(_allow("WriteTheOwnFolder", list(SESSION_WRITE_ACTIONS), writable))
    if kms_key_arn is not None:
        if region is None:
            raise SessionPolicyError("a region is needed with a KMS key: it is used through S3")
        statements.append(_kms_through_s3(kms_key_arn, region))
    document = _document(*statements)
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
