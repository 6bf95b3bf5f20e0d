"""The policy documents: exactly the actions the sandbox needs, and parliament finds nothing in
any document the program produces for any stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from program.policies import (
    OBJECT_ACTIONS,
    ecr_lifecycle_policy,
    sandbox_access_policy,
    secret_read_policy,
    tls_only_bucket_policy,
)
from tests.support.program import STACKS, run_program
from tests.support.pulumi_mocks import RecordingMocks

BUCKET_ARN = "arn:aws:s3:::e2b-sandbox-dev-20261127093000123400000001"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def statement_values(document: dict[str, Any], key: str) -> set[str]:
    """Every value of `key` ("Action" or "Resource") across the statements, strings or lists."""
    found: set[str] = set()
    for statement in document["Statement"]:
        value = statement[key]
        found.update([value] if isinstance(value, str) else value)
    return found


def actions_of(document: dict[str, Any]) -> set[str]:
    return statement_values(document, "Action")


def resources_of(document: dict[str, Any]) -> set[str]:
    return statement_values(document, "Resource")


def test_sandbox_policy_grants_exactly_the_listed_actions() -> None:
    document = sandbox_access_policy(BUCKET_ARN)
    assert actions_of(document) == {
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:PutObject",
        *OBJECT_ACTIONS,
    }
    assert set(OBJECT_ACTIONS) == {
        "s3:GetObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    # Listing the bucket's uploads would show every prefix's: not granted (issue 11).
    assert "s3:ListBucketMultipartUploads" not in actions_of(document)
    assert resources_of(document) == {BUCKET_ARN, f"{BUCKET_ARN}/*"}
    assert all(s["Effect"] == "Allow" for s in document["Statement"])


def test_writes_are_held_to_the_default_storage_class() -> None:
    # moto does not evaluate this condition key, so the access matrix cannot show it; this
    # checks the statement IAM evaluates: a named class other than STANDARD is not allowed, a
    # put that names none is (it gets the bucket's default).
    (write,) = [
        s for s in sandbox_access_policy(BUCKET_ARN)["Statement"] if "s3:PutObject" in s["Action"]
    ]
    assert write["Action"] == "s3:PutObject"
    assert write["Condition"] == {"StringEqualsIfExists": {"s3:x-amz-storage-class": "STANDARD"}}


def test_sandbox_policy_has_no_wildcards_purges_or_escalation() -> None:
    for document in (
        sandbox_access_policy(BUCKET_ARN),
        sandbox_access_policy(BUCKET_ARN, ["a/"], KMS_KEY, "us-east-1"),
    ):
        actions = actions_of(document)
        assert not any("*" in action for action in actions)
        assert "*" not in resources_of(document)
        assert "s3:DeleteObjectVersion" not in actions
        assert not any(a.startswith("iam:") for a in actions)
        assert not any(
            a.startswith(("s3:PutBucket", "s3:DeleteBucket", "s3:PutObjectAcl")) for a in actions
        )


def test_prefixes_condition_listing_and_scope_objects() -> None:
    document = sandbox_access_policy(BUCKET_ARN, ["sandboxes/", "shared/"])
    listing = next(s for s in document["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["sandboxes/", "sandboxes/*", "shared/", "shared/*"]}
    }
    for sid in ("ReadDeleteObjects", "WriteObjectsInTheDefaultClass"):
        objects = next(s for s in document["Statement"] if s["Sid"] == sid)
        assert objects["Resource"] == [f"{BUCKET_ARN}/sandboxes/*", f"{BUCKET_ARN}/shared/*"]


def test_kms_key_is_usable_only_through_s3() -> None:
    document = sandbox_access_policy(BUCKET_ARN, (), KMS_KEY, "us-east-1")
    kms = next(s for s in document["Statement"] if s["Resource"] == KMS_KEY)
    assert set(kms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    with pytest.raises(ValueError, match="region is required"):
        sandbox_access_policy(BUCKET_ARN, (), KMS_KEY)


def test_the_backend_may_read_the_one_secret_and_decrypt_only_through_secrets_manager() -> None:
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:key-AbCdEf"
    plain = secret_read_policy(secret)
    assert plain["Statement"] == [
        {
            "Sid": "ReadTheSandboxKey",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": secret,
        }
    ]
    with_kms = secret_read_policy(secret, KMS_KEY, "us-east-1")
    (decrypt,) = with_kms["Statement"][1:]
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == KMS_KEY
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    }
    with pytest.raises(ValueError, match="region is required"):
        secret_read_policy(secret, KMS_KEY)


def test_bucket_policy_denies_every_request_without_tls() -> None:
    (statement,) = tls_only_bucket_policy(BUCKET_ARN)["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Resource"] == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_ecr_lifecycle_keeps_the_newest_images() -> None:
    (rule,) = ecr_lifecycle_policy(7)["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan"
    assert rule["selection"]["countNumber"] == 7
    assert rule["action"] == {"type": "expire"}


def parliament_findings(document: str) -> list[str]:
    return [f"{f.issue}: {f.detail}" for f in analyze_policy_string(document).findings]


def test_parliament_does_flag_a_mismatched_policy() -> None:
    # Guards the next test: parliament must be able to fail on what we feed it.
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": BUCKET_ARN}],
    }
    assert parliament_findings(json.dumps(bad))


VARIANTS: dict[str, dict[str, str | None]] = {
    "defaults": {},
    "prefixes-and-kms": {
        "e2b-sandbox:allowedKeyPrefixes": json.dumps(["sandboxes/", "shared/"]),
        "e2b-sandbox:kmsKeyArn": KMS_KEY,
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("stack", STACKS)
def test_parliament_finds_nothing_in_the_programs_policies(
    pulumi_mocks: RecordingMocks, stack: str, variant: str
) -> None:
    run = run_program(pulumi_mocks, stack, VARIANTS[variant])
    documents = [r.inputs["policy"] for r in run.of_type("aws:iam/groupPolicy:GroupPolicy")]
    documents += [r.inputs["policy"] for r in run.of_type("aws:s3/bucketPolicy:BucketPolicy")]
    documents += [r.inputs["policy"] for r in run.of_type("aws:iam/policy:Policy")]
    assert len(documents) == 3
    for document in documents:
        assert parliament_findings(document) == [], document
