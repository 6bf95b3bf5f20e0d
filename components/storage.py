"""The bucket the sandboxes and the backend share, locked down the way S3 recommends."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from program import rules
from program.policies import tls_only_bucket_policy

# Multipart uploads a crashed client left behind cost money and are never finished after a week.
ABORT_INCOMPLETE_UPLOADS_DAYS = 7


@dataclass(frozen=True)
class SandboxBucketArgs:
    bucket_name_prefix: str
    """Prefix of the bucket's name; the provider appends 26 characters to make it unique."""
    noncurrent_version_days: int
    """Days a deleted or overwritten object's old version is kept before it expires."""
    kms_key_arn: str | None = None
    """A customer KMS key for SSE-KMS; None means SSE-S3."""
    force_destroy: bool = False
    """Whether `pulumi destroy` may delete a bucket that still holds objects."""
    protected: bool = False
    """Protect the bucket and keep it on delete: the stack's destruction never deletes its data."""

    def __post_init__(self) -> None:
        rules.check_args(
            self,
            bucket_name_prefix=rules.bucket_name_prefix(self.bucket_name_prefix),
            noncurrent_version_days=rules.noncurrent_version_days(self.noncurrent_version_days),
            kms_key_arn=rules.kms_key_arn(self.kms_key_arn, None),
        )


class SandboxBucket(pulumi.ComponentResource):
    """A private, versioned, encrypted bucket that only accepts TLS."""

    bucket: aws.s3.Bucket
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: SandboxBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:storage:SandboxBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=args.bucket_name_prefix,
            force_destroy=args.force_destroy,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protected, retain_on_delete=args.protected
            ),
        )
        bucket_id = self.bucket.id

        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        # BucketOwnerEnforced disables ACLs: access is decided by policies alone.
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[_encryption_rule(args.kms_key_arn)],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        # S3 rejects a bucket policy while the public access block is still being applied.
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket_id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block]),
        )
        # Noncurrent-version rules only mean something once versioning is on.
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=[
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": ABORT_INCOMPLETE_UPLOADS_DAYS
                    },
                },
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": args.noncurrent_version_days
                    },
                },
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})


def _encryption_rule(
    kms_key_arn: str | None,
) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict:
    if kms_key_arn is None:
        return {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
    # The bucket key cuts KMS requests (and their cost) by caching a data key per bucket.
    return {
        "apply_server_side_encryption_by_default": {
            "sse_algorithm": "aws:kms",
            "kms_master_key_id": kms_key_arn,
        },
        "bucket_key_enabled": True,
    }
