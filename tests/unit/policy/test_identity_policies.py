"""IAM's policies, both ways: permissions through groups only, no wildcards, none of the
forbidden grants, and access keys only for the project's users under its IAM path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.guard import identity, storage
from program.policies import sandbox_access_policy, secret_read_policy
from tests.unit.policy.conftest import OnStack
from tests.unit.policy.engine_view import member, resource, violations

BUCKET_ARN = "arn:aws:s3:::e2b-sandbox-dev-20261127093000123400000001"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:key-AbCdEf"
# Stated here, not read from the pack: a type dropped from the pack must fail these tests.
USER_POLICY_TYPES = [
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/userPoliciesExclusive:UserPoliciesExclusive",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
]
IDENTITY_POLICY_TYPES = [
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
]
DOCUMENT_TYPES = [*IDENTITY_POLICY_TYPES, "aws:s3/bucketPolicy:BucketPolicy"]


def _allow(action: Any, arn: Any = f"{BUCKET_ARN}/*", key: str = "Action") -> dict[str, Any]:
    statement = {"Effect": "Allow", key: action, "Resource": arn}
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


def test_no_policy_is_given_to_a_user_directly() -> None:
    for type_ in USER_POLICY_TYPES:
        (found,) = violations("iam-no-user-policies", resource(type_, {"user": "u"}, name="p"))
        assert found.level == "mandatory"
        assert '"p": the resource gives a user a policy of its own' in found.message
        assert "aws.iam.GroupPolicy" in found.message
    to_users = {"users": ["sandbox-user"], "policyArn": "arn:aws:iam::aws:policy/x"}
    (found,) = violations("iam-no-user-policies", resource(identity.POLICY_ATTACHMENT, to_users))
    assert '"subject": users attaches a policy to users directly' in found.message
    to_groups = {"groups": ["sandbox-group"], "policyArn": "arn:aws:iam::aws:policy/x"}
    assert violations("iam-no-user-policies", resource(identity.POLICY_ATTACHMENT, to_groups)) == []


WILDCARDS = [
    (_allow("*"), "policy.Statement[0].Action allows '*'"),
    (_allow(["s3:GetObject", "s3:*"]), "policy.Statement[0].Action allows 's3:*'"),
    (_allow("s3:GetObject", "*"), "policy.Statement[0].Resource is '*' for an S3 action"),
    (_allow("s3:ListBucket", "arn:aws:s3:::*"), "policy.Statement[0].Resource is 'arn:aws:s3:::*'"),
    (_allow("s3:GetObject", key="NotAction"), "policy.Statement[0].NotAction allows every"),
]


@pytest.mark.parametrize("type_", DOCUMENT_TYPES)
@pytest.mark.parametrize(("document", "expected"), WILDCARDS)
def test_wildcards_are_refused_in_every_policy_document(
    type_: str, document: dict[str, Any], expected: str
) -> None:
    found = violations("iam-no-wildcards", resource(type_, document, name="doc"))
    assert [v.level for v in found] == ["mandatory"]
    assert f'"doc": {expected}' in found[0].message and "Fix: " in found[0].message


def test_the_programs_own_documents_have_no_wildcards() -> None:
    documents = [
        sandbox_access_policy(BUCKET_ARN, ["sandboxes/"]),
        secret_read_policy(SECRET_ARN),
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}],
        },
    ]
    for document in documents:
        args = resource(identity.GROUP_POLICY, {"policy": json.dumps(document)})
        assert violations("iam-no-wildcards", args) == []
    # Not a document at all is refused rather than waved through.
    (found,) = violations("iam-no-wildcards", resource(identity.GROUP_POLICY, {"policy": "{"}))
    assert "is not a JSON policy document" in found.message


FORBIDDEN = [
    ("s3:DeleteObjectVersion", "s3:DeleteObjectVersion"),
    ("s3:Delete*", "s3:DeleteObjectVersion"),
    ("S3:deleteobjectversion", "s3:DeleteObjectVersion"),
    ("s3:PutBucketPolicy", "s3:PutBucket*"),
    ("s3:Put*", "s3:PutBucket*"),
    ("iam:PassRole", "iam:*"),
    ("iam:*", "iam:*"),
]


@pytest.mark.parametrize("type_", IDENTITY_POLICY_TYPES)
@pytest.mark.parametrize(("action", "named"), FORBIDDEN)
def test_the_forbidden_grants_are_refused(type_: str, action: str, named: str) -> None:
    (found,) = violations("iam-sandbox-grants", resource(type_, _allow(action), name="access"))
    assert found.level == "mandatory"
    assert f'"access": policy.Statement[0].Action grants {named}' in found.message
    assert "Fix: remove them" in found.message


def test_the_sandboxs_own_grants_pass_and_denying_is_no_grant() -> None:
    for document in (sandbox_access_policy(BUCKET_ARN), secret_read_policy(SECRET_ARN)):
        args = resource(identity.GROUP_POLICY, {"policy": json.dumps(document)})
        assert violations("iam-sandbox-grants", args) == []
    deny = {"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}
    args = resource(identity.GROUP_POLICY, {"policy": json.dumps(deny)})
    assert violations("iam-sandbox-grants", args) == []
    every_other = _allow("s3:GetObject", key="NotAction")
    (found,) = violations("iam-sandbox-grants", resource(identity.GROUP_POLICY, every_other))
    assert "grants iam:*, s3:DeleteObjectVersion, s3:PutBucket*" in found.message


# --- access keys ----------------------------------------------------------------------------


def _user(path: str, name: str = "sandbox-user-0f2e7c2") -> Any:
    return member(identity.USER, {"name": name, "path": path}, "sandbox-user")


def _key(user: Any = None, name: str = "sandbox-user-0f2e7c2") -> Any:
    props = {"user": UNKNOWN_STRING_VALUE if user else name, "id": "AKIA0"}
    return member(identity.ACCESS_KEY, props, "key-blue", {"user": [user]} if user else None)


def test_keys_only_for_users_under_the_projects_path(on_stack: OnStack) -> None:
    on_stack("dev", environment="dev")
    inside = _user("/e2b-sandbox/dev/")
    assert violations("iam-access-keys-under-path", [inside, _key()]) == []
    assert violations("iam-access-keys-under-path", [inside, _key(user=inside)]) == []
    for path in ("/", "/e2b-sandbox/prod/", "/e2b-sandbox/dev/admins/"):
        (found,) = violations("iam-access-keys-under-path", [_user(path), _key()])
        assert found.level == "mandatory"
        assert f"\"key-blue\": user belongs to 'sandbox-user' at path '{path}'" in found.message
        assert "under /e2b-sandbox/dev/" in found.message


def test_a_key_for_a_user_outside_the_stack_is_refused(on_stack: OnStack) -> None:
    on_stack("dev", environment="dev")
    (found,) = violations("iam-access-keys-under-path", [_key(name="someone-else")])
    assert '"key-blue": user is not a user of this stack' in found.message


def test_without_an_environment_the_path_cannot_be_known_and_keys_are_refused(
    on_stack: OnStack,
) -> None:
    on_stack("dev", environment=None)
    (found,) = violations("iam-access-keys-under-path", [_user("/e2b-sandbox/dev/"), _key()])
    assert "the stack sets no environment. Fix: set e2b-sandbox:environment" in found.message


def test_a_bucket_policy_is_a_document_too() -> None:
    # A bucket policy that allows everyone everything is refused like an identity policy.
    allow_all = {
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]
    }
    found = violations(
        "iam-no-wildcards", resource(storage.BUCKET_POLICY, {"policy": json.dumps(allow_all)})
    )
    assert len(found) == 2
