"""What an attached sandbox's session may do, on a moto server that enforces IAM.

moto stores a session policy but ignores it, and evaluates no Condition (measured with moto 5.2);
it does enforce the literal Resource ARNs of an identity policy. So the session policy is installed
here as the identity policy of a user, which is how its object-level limits get checked: the own
prefix is readable and writable, a sibling's prefix and the bucket's other keys are not. Its
`s3:prefix` listing condition has the form of AWS's example and is verified against AWS's
documentation only (tests/unit/program/test_session_policy.py). The mount program's own
signed requests (the prefix's marker) are checked here too: moto verifies SigV4 when it enforces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.moto_server import MotoServer
from program.policies import (
    FEDERATION_ACTION,
    federated_users_arn,
    sandbox_access_policy,
    session_policy,
)
from s3mount.s3api import Credentials, S3Error, ensure_directory_marker

OWN, SIBLING = "sandboxes/own/", "sandboxes/sibling/"


@dataclass
class User:
    s3: Any
    sts: Any
    credentials: Credentials


def user_with(server: MotoServer, policy: dict[str, Any]) -> User:
    iam = server.client("iam")
    name = f"u-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    pair = (key["AccessKeyId"], key["SecretAccessKey"])
    return User(server.client("s3", *pair), server.client("sts", *pair), Credentials(*pair))


@pytest.fixture(scope="module")
def bucket(moto_iam_server: MotoServer) -> str:
    name = f"sessions-{uuid.uuid4().hex[:8]}"
    s3 = moto_iam_server.client("s3")
    s3.create_bucket(Bucket=name)
    for key in (f"{SIBLING}theirs.txt", "backend/results.txt", "top.txt", "inputs/data.csv"):
        s3.put_object(Bucket=name, Key=key, Body=b"not the sandbox's")
    return name


def denied(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] in {"AccessDenied", "403"}
    return False


def test_the_own_prefix_is_readable_and_writable(moto_iam_server: MotoServer, bucket: str) -> None:
    s3 = user_with(moto_iam_server, session_policy(bucket, OWN)).s3
    s3.put_object(Bucket=bucket, Key=f"{OWN}out.txt", Body=b"mine")
    assert s3.get_object(Bucket=bucket, Key=f"{OWN}out.txt")["Body"].read() == b"mine"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=f"{OWN}big.bin")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key=f"{OWN}big.bin", UploadId=upload)
    s3.delete_object(Bucket=bucket, Key=f"{OWN}out.txt")


@pytest.mark.parametrize("key", [f"{SIBLING}theirs.txt", "backend/results.txt", "top.txt"])
def test_a_siblings_prefix_and_the_buckets_other_keys_are_out_of_reach(
    moto_iam_server: MotoServer, bucket: str, key: str
) -> None:
    s3 = user_with(moto_iam_server, session_policy(bucket, OWN)).s3
    assert denied(lambda: s3.get_object(Bucket=bucket, Key=key))
    assert denied(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"overwritten"))
    assert denied(lambda: s3.delete_object(Bucket=bucket, Key=key))
    assert denied(lambda: s3.head_object(Bucket=bucket, Key=key))


def test_read_only_sessions_and_shared_inputs_cannot_be_written(
    moto_iam_server: MotoServer, bucket: str
) -> None:
    policy = session_policy(bucket, OWN, read_only=True, read_prefixes=["inputs/"])
    s3 = user_with(moto_iam_server, policy).s3
    assert s3.get_object(Bucket=bucket, Key="inputs/data.csv")["Body"].read()
    assert denied(lambda: s3.put_object(Bucket=bucket, Key=f"{OWN}new.txt", Body=b"x"))
    assert denied(lambda: s3.put_object(Bucket=bucket, Key="inputs/data.csv", Body=b"x"))
    assert denied(lambda: s3.get_object(Bucket=bucket, Key=f"{SIBLING}theirs.txt"))


def test_the_mount_programs_signed_requests_make_the_marker_and_a_bad_key_is_refused(
    moto_iam_server: MotoServer, bucket: str
) -> None:
    user = user_with(moto_iam_server, session_policy(bucket, OWN))
    endpoint = moto_iam_server.endpoint
    assert ensure_directory_marker(bucket, OWN, "us-east-1", endpoint, user.credentials)
    assert not ensure_directory_marker(bucket, OWN, "us-east-1", endpoint, user.credentials)
    marker = user.s3.head_object(Bucket=bucket, Key=OWN)
    assert (marker["ContentLength"], marker["ContentType"]) == (0, "application/x-directory")
    with pytest.raises(S3Error) as outside:
        ensure_directory_marker(bucket, SIBLING + "x/", "us-east-1", endpoint, user.credentials)
    assert outside.value.status == 403
    wrong = Credentials(user.credentials.access_key_id, "not-the-secret")
    with pytest.raises(S3Error) as forged:
        ensure_directory_marker(bucket, OWN, "us-east-1", endpoint, wrong)
    assert forged.value.status == 403


def test_only_an_identity_granted_the_federation_action_issues_sessions(
    moto_iam_server: MotoServer, bucket: str
) -> None:
    bucket_arn = f"arn:aws:s3:::{bucket}"
    shared = user_with(moto_iam_server, sandbox_access_policy(bucket_arn))
    assert denied(lambda: shared.sts.get_federation_token(Name="sbx-x", DurationSeconds=900))
    # moto checks STS actions against the resource "*" only, so the statement's own resource
    # (the account's sbx-* federated users) is widened here to show the action is the right one.
    per_sandbox = sandbox_access_policy(bucket_arn, sessions_for=federated_users_arn("1" * 12))
    (statement,) = [s for s in per_sandbox["Statement"] if s["Action"] == FEDERATION_ACTION]
    statement["Resource"] = "*"
    issuer = user_with(moto_iam_server, per_sandbox)
    issued = issuer.sts.get_federation_token(
        Name="sbx-x", Policy=json.dumps(session_policy(bucket, OWN)), DurationSeconds=900
    )
    assert issued["Credentials"]["SessionToken"]
