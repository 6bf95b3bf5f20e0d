"""The session policy of an attached sandbox: its own prefix only, the listing condition in the
form of AWS's own example, within IAM's 2,048 characters, and clean to parliament
(program/policies.py). What the policy allows against a real IAM evaluator is in
tests/integration/test_sandbox_sessions.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from program.policies import (
    SESSION_POLICY_MAX,
    SessionPolicyError,
    packed,
    session_policy,
)

BUCKET = "e2b-sandbox-prod-20261127093000123400000001"
PREFIX = "sandboxes/i3hbjn5u5jmfc3hy9x6e6/"
KMS = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = document["Statement"]
    assert isinstance(found, list)
    return {s["Sid"]: s for s in found}


def test_objects_only_under_the_own_prefix_and_listing_only_of_it() -> None:
    found = statements(session_policy(BUCKET, PREFIX))
    assert found["ReadTheseFolders"]["Resource"] == f"arn:aws:s3:::{BUCKET}/{PREFIX}*"
    assert found["WriteTheOwnFolder"]["Resource"] == f"arn:aws:s3:::{BUCKET}/{PREFIX}*"
    listing = found["ListOnlyTheseFolders"]
    assert listing["Resource"] == f"arn:aws:s3:::{BUCKET}"
    # AWS's example for a user's home folder: StringLike on s3:prefix with the folder and below.
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [PREFIX, f"{PREFIX}*"]}}
    actions = {
        a
        for s in found.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "s3:DeleteObjectVersion" not in actions and not [a for a in actions if "*" in a]


def test_read_only_and_shared_inputs_are_read_only() -> None:
    found = statements(session_policy(BUCKET, PREFIX, read_only=True, read_prefixes=["inputs/"]))
    assert "WriteTheOwnFolder" not in found
    assert found["ReadTheseFolders"]["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/{PREFIX}*",
        f"arn:aws:s3:::{BUCKET}/inputs/*",
    ]
    assert found["ListOnlyTheseFolders"]["Condition"]["StringLike"]["s3:prefix"] == [
        PREFIX, f"{PREFIX}*", "inputs/", "inputs/*",
    ]  # fmt: skip
    writable = statements(session_policy(BUCKET, PREFIX, read_prefixes=["inputs/"]))
    assert writable["WriteTheOwnFolder"]["Resource"] == f"arn:aws:s3:::{BUCKET}/{PREFIX}*"


def test_a_customer_key_is_usable_through_s3_only() -> None:
    found = statements(session_policy(BUCKET, PREFIX, kms_key_arn=KMS, region="us-east-1"))
    kms = found["UseTheBucketKeyThroughS3"]
    assert kms["Resource"] == KMS
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    with pytest.raises(SessionPolicyError, match="region"):
        session_policy(BUCKET, PREFIX, kms_key_arn=KMS)


@pytest.mark.parametrize("prefix", ["/abs/", "no-slash", "a/../b/", "a*/", ""])
def test_a_prefix_that_is_no_key_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(SessionPolicyError, match="relative key prefix"):
        session_policy(BUCKET, prefix)


def test_it_fits_iams_limit_or_says_why() -> None:
    assert len(packed(session_policy(BUCKET, PREFIX, read_prefixes=["inputs/"]))) < 1100
    many = [f"shared/inputs-{n:03d}/" for n in range(40)]
    with pytest.raises(SessionPolicyError, match=f"IAM takes {SESSION_POLICY_MAX}"):
        session_policy(BUCKET, PREFIX, read_prefixes=many)


@pytest.mark.parametrize("read_only", [False, True])
def test_parliament_finds_nothing(read_only: bool) -> None:
    document = session_policy(
        BUCKET, PREFIX, read_only=read_only, read_prefixes=["inputs/"], kms_key_arn=KMS,
        region="us-east-1",
    )  # fmt: skip
    findings = analyze_policy_string(json.dumps(document)).findings
    assert [f"{f.issue}: {f.detail}" for f in findings] == []
