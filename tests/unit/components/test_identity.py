"""SandboxIdentity, declared from its Args under mocks: a user that gets its permissions only
through its group, whose one inline policy is the program's bucket policy."""

from __future__ import annotations

import json
from typing import Any

from components.identity import SandboxIdentity, SandboxIdentityArgs
from program.policies import sandbox_access_policy
from tests.support.program import ComponentRun, run_component
from tests.support.pulumi_mocks import RecordingMocks

BUCKET_ARN = "arn:aws:s3:::e2b-sandbox-dev-20261127093000123400000001"


def identity(mocks: RecordingMocks, **changes: Any) -> ComponentRun:
    arguments: dict[str, Any] = {
        "bucket_arn": BUCKET_ARN,
        "iam_path": "/e2b-sandbox/dev/",
        "region": "us-east-1",
        **changes,
    }

    def build() -> dict[str, Any]:
        made = SandboxIdentity("e2b-sandbox-dev-sandbox", SandboxIdentityArgs(**arguments))
        return {"user": made.user_name, "arn": made.user_arn}

    return run_component(mocks, build)


def test_the_user_gets_its_permissions_only_through_its_group(pulumi_mocks: RecordingMocks) -> None:
    result = identity(pulumi_mocks)
    user = result.one("aws:iam/user:User")
    group = result.one("aws:iam/group:Group")
    assert user.inputs["path"] == group.inputs["path"] == "/e2b-sandbox/dev/"
    membership = result.one("aws:iam/userGroupMembership:UserGroupMembership").inputs
    assert membership == {"user": user.outputs["name"], "groups": [group.outputs["name"]]}
    policy = result.one("aws:iam/groupPolicy:GroupPolicy").inputs
    assert policy["group"] == group.outputs["name"]
    assert json.loads(policy["policy"]) == sandbox_access_policy(BUCKET_ARN)
    direct = {"aws:iam/userPolicy:UserPolicy", "aws:iam/userPolicyAttachment:UserPolicyAttachment"}
    assert not [r for r in result.resources if r.type in direct]
    assert result.outputs["arn"].endswith(f"/{result.outputs['user']}")


def test_a_permissions_boundary_is_set_only_when_given(pulumi_mocks: RecordingMocks) -> None:
    boundary = "arn:aws:iam::123456789012:policy/sandbox-boundary"
    bounded = identity(pulumi_mocks, permissions_boundary_arn=boundary)
    assert bounded.one("aws:iam/user:User").inputs["permissionsBoundary"] == boundary
    assert "permissionsBoundary" not in identity(pulumi_mocks).one("aws:iam/user:User").inputs


def test_key_prefixes_reach_the_group_policy(pulumi_mocks: RecordingMocks) -> None:
    result = identity(pulumi_mocks, key_prefixes=["sandboxes/"])
    document = json.loads(result.one("aws:iam/groupPolicy:GroupPolicy").inputs["policy"])
    assert document == sandbox_access_policy(BUCKET_ARN, ["sandboxes/"])
