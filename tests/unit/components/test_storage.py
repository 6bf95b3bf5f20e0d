"""SandboxBucket, declared from its Args under mocks: a private, owner-enforced, encrypted,
versioned, TLS-only bucket with lifecycle rules, protected and retained when asked."""

from __future__ import annotations

import json
from typing import Any

from components.storage import SandboxBucket, SandboxBucketArgs
from tests.support.program import ComponentRun, run_component
from tests.support.pulumi_mocks import RecordingMocks

BUCKET = "aws:s3/bucket:Bucket"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def bucket(mocks: RecordingMocks, **changes: Any) -> ComponentRun:
    arguments: dict[str, Any] = {
        "bucket_name_prefix": "e2b-sandbox-dev-",
        "noncurrent_version_days": 30,
        **changes,
    }

    def build() -> dict[str, Any]:
        made = SandboxBucket("e2b-sandbox-dev-files", SandboxBucketArgs(**arguments))
        return {"name": made.bucket_name, "arn": made.bucket_arn}

    return run_component(mocks, build)


def test_the_bucket_is_private_owner_enforced_versioned_and_encrypted(
    pulumi_mocks: RecordingMocks,
) -> None:
    result = bucket(pulumi_mocks)
    assert result.one(BUCKET).inputs["bucketPrefix"] == "e2b-sandbox-dev-"
    block = result.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block[flag] is True for flag in flags)
    ownership = result.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = result.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    assert result.one(ENCRYPTION).inputs["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    assert result.outputs["arn"] == f"arn:aws:s3:::{result.outputs['name']}"


def test_a_kms_key_switches_it_to_sse_kms_with_a_bucket_key(pulumi_mocks: RecordingMocks) -> None:
    result = bucket(pulumi_mocks, kms_key_arn=KMS_KEY)
    assert result.one(ENCRYPTION).inputs["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": KMS_KEY,
            },
            "bucketKeyEnabled": True,
        }
    ]


def test_the_tls_only_policy_waits_for_the_public_access_block(
    pulumi_mocks: RecordingMocks,
) -> None:
    result = bucket(pulumi_mocks)
    policy = result.one("aws:s3/bucketPolicy:BucketPolicy")
    block = result.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert block.name in policy.dependency_names
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert result.outputs["arn"] in statement["Resource"]


def test_lifecycle_aborts_uploads_and_expires_old_versions_after_versioning(
    pulumi_mocks: RecordingMocks,
) -> None:
    result = bucket(pulumi_mocks, noncurrent_version_days=7)
    lifecycle = result.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 7
    }
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": 7
    }
    assert all(rule["status"] == "Enabled" for rule in rules.values())
    versioning = result.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.name in lifecycle.dependency_names


def test_protection_and_force_destroy_are_what_the_args_say(pulumi_mocks: RecordingMocks) -> None:
    guarded = bucket(pulumi_mocks, protected=True).one(BUCKET)
    assert (guarded.options.protect, guarded.options.retain_on_delete) == (True, True)
    assert guarded.inputs["forceDestroy"] is False
    disposable = bucket(pulumi_mocks, force_destroy=True).one(BUCKET)
    assert (disposable.options.protect, disposable.options.retain_on_delete) == (False, False)
    assert disposable.inputs["forceDestroy"] is True


def test_only_the_v7_resources_are_used(pulumi_mocks: RecordingMocks) -> None:
    result = bucket(pulumi_mocks)
    assert not [r.type for r in result.resources if r.type.endswith("V2")]
    # The inline bucket arguments v7 deprecates (acl, versioning, lifecycle rules, ...) stay unused.
    assert set(result.one(BUCKET).inputs) <= {"bucketPrefix", "forceDestroy", "tags", "tagsAll"}
