"""SandboxCredentials, declared from its Args under mocks: a key per slot, the active pair in
Secrets Manager as a secret, and the backend's policy to read it; the rotation through slots."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.credentials import SandboxCredentials, SandboxCredentialsArgs
from program.policies import secret_read_policy
from tests.support.program import ComponentRun, run_component
from tests.support.pulumi_mocks import RecordingMocks

ACCESS_KEY = "aws:iam/accessKey:AccessKey"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def credentials(mocks: RecordingMocks, **changes: Any) -> ComponentRun:
    arguments: dict[str, Any] = {
        "user_name": "e2b-sandbox-dev-sandbox-user",
        "key_slots": ["blue"],
        "active_key_slot": "blue",
        "recovery_window_days": 0,
        "iam_path": "/e2b-sandbox/dev/",
        "region": "us-east-1",
        **changes,
    }

    def build() -> dict[str, Any]:
        made = SandboxCredentials(
            "e2b-sandbox-dev-sandbox-key", SandboxCredentialsArgs(**arguments)
        )
        return {
            "id": made.access_key_id,
            "secret": made.secret_access_key,
            "arn": made.secret_arn,
            "policy": made.backend_read_policy.arn,
        }

    return run_component(mocks, build)


def secret_document(result: ComponentRun) -> dict[str, str]:
    raw = result.one(SECRET_VERSION).inputs["secretString"]
    assert is_rpc_secret(raw), "the Secrets Manager value must travel as a secret"
    return dict(json.loads(unwrap_rpc_secret(raw)))


def key_ids(result: ComponentRun) -> dict[str, str]:
    return {r.name.rsplit("-", 1)[1]: r.outputs["id"] for r in result.of_type(ACCESS_KEY)}


def test_the_secret_holds_the_active_key_pair_only(pulumi_mocks: RecordingMocks) -> None:
    result = credentials(pulumi_mocks)
    (key,) = result.of_type(ACCESS_KEY)
    assert key.inputs["user"] == "e2b-sandbox-dev-sandbox-user"
    assert secret_document(result) == {
        "AWS_ACCESS_KEY_ID": key.outputs["id"],
        "AWS_SECRET_ACCESS_KEY": key.outputs["secret"],
    }
    assert result.outputs["secret"] == key.outputs["secret"]
    assert result.one(SECRET_VERSION).inputs["secretId"] == result.one(SECRET).id


@pytest.mark.parametrize("days", [0, 30])
def test_the_recovery_window_is_the_args(pulumi_mocks: RecordingMocks, days: int) -> None:
    result = credentials(pulumi_mocks, recovery_window_days=days)
    assert result.one(SECRET).inputs["recoveryWindowInDays"] == days


def test_the_backend_may_read_that_one_secret(pulumi_mocks: RecordingMocks) -> None:
    result = credentials(pulumi_mocks, kms_key_arn=KMS_KEY)
    policy = result.one("aws:iam/policy:Policy").inputs
    assert policy["path"] == "/e2b-sandbox/dev/"
    expected = secret_read_policy(result.outputs["arn"], KMS_KEY, "us-east-1")
    assert json.loads(policy["policy"]) == expected
    assert result.one(SECRET).inputs["kmsKeyId"] == KMS_KEY


def test_a_rotation_keeps_both_keys_while_consumers_switch(pulumi_mocks: RecordingMocks) -> None:
    before = credentials(pulumi_mocks)
    both = credentials(pulumi_mocks, key_slots=["blue", "green"])
    switched = credentials(pulumi_mocks, key_slots=["blue", "green"], active_key_slot="green")
    retired = credentials(pulumi_mocks, key_slots=["green"], active_key_slot="green")
    assert set(key_ids(before)) == {"blue"}
    assert set(key_ids(both)) == {"blue", "green"}
    # Adding the green key changes nothing any consumer sees.
    assert both.outputs["id"] == before.outputs["id"] == key_ids(both)["blue"]
    assert switched.outputs["id"] == key_ids(switched)["green"]
    assert secret_document(switched)["AWS_ACCESS_KEY_ID"] == key_ids(switched)["green"]
    # Retiring blue deletes only its key: green, and what consumers use, stay the same.
    assert set(key_ids(retired)) == {"green"}
    assert retired.outputs["id"] == switched.outputs["id"]


def test_an_active_slot_that_does_not_exist_is_refused(pulumi_mocks: RecordingMocks) -> None:
    with pytest.raises(ValueError, match="active_key_slot = 'green': must be one of the existing"):
        credentials(pulumi_mocks, active_key_slot="green")
