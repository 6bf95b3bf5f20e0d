"""Policy documents as plain Python data.

Built here rather than with the get_policy_document invoke so that reviewers read them in one place,
tests and parliament check exactly what the program sends, and a preview needs no provider call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3mount.contract import FEDERATED_NAME_PREFIX

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
    return f"arn:{partition}:sts::{account_id}:federated-user/{FEDERATED_NAME_PREFIX}*"


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
    (sandbox_storage/session_policy.py): a session can do at most what this policy allows."""
    list_statement: dict[str, Any] = {
        "Sid": "ListTheBucket",
        "Effect": "Allow",
        "Action": LIST_ACTION,
        "Resource": bucket_arn,
    }
    if key_prefixes:
        patterns = [pattern for prefix in key_prefixes for pattern in (prefix, f"{prefix}*")]
        list_statement["Condition"] = {"StringLike": {"s3:prefix": patterns}}
    object_resources = [f"{bucket_arn}/{prefix}*" for prefix in key_prefixes] or [f"{bucket_arn}/*"]
    objects = object_resources if len(object_resources) > 1 else object_resources[0]
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
        if region is None:
            raise ValueError("region is required with a KMS key: the key is used only through S3")
        statements.append(
            {
                "Sid": "UseTheBucketKeyThroughS3",
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            }
        )
    return _document(*statements)


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
