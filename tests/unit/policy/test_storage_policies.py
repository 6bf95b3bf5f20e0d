"""The bucket's policies, both ways: each refuses a violating resource (with a mandatory or
advisory verdict and a message naming the resource, the property and the fix) and accepts a
compliant one. Properties are camelCase, as the engine sends them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from policy.guard import storage
from tests.unit.policy.conftest import OnStack
from tests.unit.policy.engine_view import member, resource, violations

BUCKET_ARN = "arn:aws:s3:::e2b-sandbox-dev-20261127093000123400000001"
ALL_BLOCKS: dict[str, Any] = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
TLS_ONLY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}
AES256: dict[str, Any] = {
    "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
}
KMS = {
    "rules": [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
            },
            "bucketKeyEnabled": True,
        }
    ]
}

# (policy, type, violating inputs, compliant inputs, the property the message names)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    (
        "s3-public-access-block",
        storage.PUBLIC_ACCESS_BLOCK,
        {**ALL_BLOCKS, "restrictPublicBuckets": False},
        ALL_BLOCKS,
        "restrictPublicBuckets",
    ),
    (
        "s3-public-access-block",
        storage.PUBLIC_ACCESS_BLOCK,
        {key: value for key, value in ALL_BLOCKS.items() if key != "blockPublicAcls"},
        ALL_BLOCKS,
        "blockPublicAcls",
    ),
    (
        "s3-object-ownership",
        storage.OWNERSHIP,
        {"rule": {"objectOwnership": "ObjectWriter"}},
        {"rule": {"objectOwnership": "BucketOwnerEnforced"}},
        "rule.objectOwnership",
    ),
    (
        "s3-object-ownership",
        storage.BUCKET,
        {"bucketPrefix": "e2b-sandbox-dev-", "acl": "public-read"},
        {"bucketPrefix": "e2b-sandbox-dev-"},
        "acl",
    ),
    (
        "s3-default-encryption",
        storage.ENCRYPTION,
        {"rules": [{"bucketKeyEnabled": True}]},
        AES256,
        "rules[].applyServerSideEncryptionByDefault.sseAlgorithm",
    ),
    (
        "s3-versioning",
        storage.VERSIONING,
        {"versioningConfiguration": {"status": "Suspended"}},
        {"versioningConfiguration": {"status": "Enabled"}},
        "versioningConfiguration.status",
    ),
    (
        "s3-tls-only",
        storage.BUCKET_POLICY,
        {
            "policy": json.dumps(
                {**TLS_ONLY, "Statement": [{**TLS_ONLY["Statement"][0], "Condition": {}}]}
            )
        },
        {"policy": json.dumps(TLS_ONLY)},
        "policy",
    ),
]


@pytest.mark.parametrize(("policy", "type_", "bad", "good", "prop"), CASES)
def test_refuses_the_violation_and_accepts_the_fix(
    policy: str, type_: str, bad: dict[str, Any], good: dict[str, Any], prop: str
) -> None:
    (found,) = violations(policy, resource(type_, bad, name="files"))
    assert found.level == "mandatory"
    assert f'"files": {prop} ' in found.message and "Fix: " in found.message
    assert violations(policy, resource(type_, good, name="files")) == []


def test_a_policy_that_is_not_json_or_allows_instead_is_no_tls_guard() -> None:
    allow = {**TLS_ONLY["Statement"][0], "Effect": "Allow"}
    for text in ("not json", json.dumps({**TLS_ONLY, "Statement": [allow]})):
        assert (
            len(violations("s3-tls-only", resource(storage.BUCKET_POLICY, {"policy": text}))) == 1
        )


def test_an_unknown_value_is_not_a_verdict() -> None:
    # The SDK turns this into "can't run policy during preview", never a pass.
    blocks = {**ALL_BLOCKS, "blockPublicAcls": UNKNOWN_STRING_VALUE}
    with pytest.raises(UnknownValueError):
        violations("s3-public-access-block", resource(storage.PUBLIC_ACCESS_BLOCK, blocks))


def test_prod_buckets_are_protected_and_never_force_destroyed(on_stack: OnStack) -> None:
    on_stack("prod", environment="prod")
    unprotected = resource(storage.BUCKET, {"forceDestroy": True}, name="files")
    found = violations("prod-bucket-protected", unprotected)
    assert [v.level for v in found] == ["mandatory", "mandatory"]
    assert '"files": protect is off in prod' in found[0].message
    assert "retain_on_delete=True" in found[0].message
    assert '"files": forceDestroy is true in prod' in found[1].message
    protected = resource(storage.BUCKET, {"forceDestroy": False}, protect=True)
    assert violations("prod-bucket-protected", protected) == []


def test_prod_rules_follow_either_the_environment_or_the_stack_name(on_stack: OnStack) -> None:
    bucket = resource(storage.BUCKET, {"forceDestroy": False})
    on_stack("dev", environment="dev")
    assert violations("prod-bucket-protected", bucket) == []
    on_stack("prod", environment="dev")
    assert len(violations("prod-bucket-protected", bucket)) == 1
    on_stack("acme/eu", environment="prod")
    assert len(violations("prod-bucket-protected", bucket)) == 1


def test_prod_should_use_kms_advisory(on_stack: OnStack) -> None:
    on_stack("prod", environment="prod")
    (found,) = violations("prod-kms-encryption", resource(storage.ENCRYPTION, AES256, name="enc"))
    assert found.level == "advisory"
    assert '"enc": rules[].applyServerSideEncryptionByDefault.sseAlgorithm' in found.message
    assert violations("prod-kms-encryption", resource(storage.ENCRYPTION, KMS)) == []
    on_stack("dev", environment="dev")
    assert violations("prod-kms-encryption", resource(storage.ENCRYPTION, AES256)) == []


# --- the stack: nothing missing beside a bucket --------------------------------------------

BUCKET_NAME = BUCKET_ARN.rsplit(":", 1)[-1]
COMPANION_INPUTS: dict[str, dict[str, Any]] = {
    storage.PUBLIC_ACCESS_BLOCK: ALL_BLOCKS,
    storage.OWNERSHIP: {"rule": {"objectOwnership": "BucketOwnerEnforced"}},
    storage.ENCRYPTION: AES256,
    storage.VERSIONING: {"versioningConfiguration": {"status": "Enabled"}},
    storage.BUCKET_POLICY: {"policy": json.dumps(TLS_ONLY)},
}


def _bucket(name: str = BUCKET_NAME, resource_name: str = "files") -> Any:
    return member(storage.BUCKET, {"bucket": name, "arn": f"arn:aws:s3:::{name}"}, resource_name)


def _companions(bucket: Any, leave_out: str = "", by_dependency: bool = False) -> list[Any]:
    name = UNKNOWN_STRING_VALUE if by_dependency else bucket.props["bucket"]
    return [
        member(
            type_,
            {**props, "bucket": name},
            f"files-{storage.short(type_)}",
            depends_on={"bucket": [bucket]} if by_dependency else None,
        )
        for type_, props in COMPANION_INPUTS.items()
        if type_ != leave_out
    ]


@pytest.mark.parametrize("missing", list(COMPANION_INPUTS))
def test_a_bucket_missing_any_companion_is_refused(missing: str) -> None:
    bucket = _bucket()
    (found,) = violations("s3-bucket-guarded", [bucket, *_companions(bucket, leave_out=missing)])
    assert found.level == "mandatory" and found.urn == bucket.urn
    assert f'"files": bucket has no {storage.short(missing)}. Fix: declare aws.s3.' in found.message
    assert violations("s3-bucket-guarded", [bucket, *_companions(bucket)]) == []


def test_a_companion_of_another_bucket_does_not_count() -> None:
    bucket, other = _bucket(), _bucket("someone-elses-bucket", "other")
    found = violations("s3-bucket-guarded", [bucket, other, *_companions(other)])
    assert {v.urn for v in found} == {bucket.urn} and len(found) == 5


def test_in_a_first_preview_companions_are_matched_by_their_dependency() -> None:
    bucket = member(storage.BUCKET, {"bucket": UNKNOWN_STRING_VALUE}, "files")
    assert violations("s3-bucket-guarded", [bucket, *_companions(bucket, by_dependency=True)]) == []
    unattached = [
        member(t, {**p, "bucket": UNKNOWN_STRING_VALUE}, storage.short(t))
        for t, p in COMPANION_INPUTS.items()
    ]
    assert len(violations("s3-bucket-guarded", [bucket, *unattached])) == 5


def _lifecycle(*rules: dict[str, Any]) -> Any:
    return member(storage.LIFECYCLE, {"bucket": BUCKET_NAME, "rules": list(rules)}, "files-lc")


OLD_VERSIONS = {"status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 30}}
UPLOADS = {"status": "Enabled", "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7}}


def test_lifecycle_rules_are_advised() -> None:
    bucket = _bucket()
    (found,) = violations("s3-lifecycle-rules", [bucket])
    assert found.level == "advisory" and found.urn == bucket.urn
    assert (
        "do not expire noncurrent versions or abort incomplete multipart uploads" in found.message
    )
    disabled = {**UPLOADS, "status": "Disabled"}
    (found,) = violations("s3-lifecycle-rules", [bucket, _lifecycle(OLD_VERSIONS, disabled)])
    assert "do not abort incomplete multipart uploads" in found.message
    assert violations("s3-lifecycle-rules", [bucket, _lifecycle(OLD_VERSIONS, UPLOADS)]) == []
