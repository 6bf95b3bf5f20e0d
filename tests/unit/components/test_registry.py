"""SandboxRegistry, declared from its Args under mocks: a private ECR repository with immutable
tags, scanning, encryption and a lifecycle that keeps the newest images; a short-lived login."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.registry import SandboxRegistry, SandboxRegistryArgs
from tests.support.program import ComponentRun, run_component
from tests.support.pulumi_mocks import RecordingMocks

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def registry(mocks: RecordingMocks, **changes: Any) -> ComponentRun:
    arguments: dict[str, Any] = {"keep_images": 10, **changes}

    def build() -> dict[str, Any]:
        made = SandboxRegistry("e2b-sandbox-dev-images", SandboxRegistryArgs(**arguments))
        return {
            "url": made.repository_url,
            "server": made.credentials.server,
            "username": made.credentials.username,
            "password": made.credentials.password,
        }

    return run_component(mocks, build)


@pytest.mark.parametrize("keep", [5, 20])
def test_the_repository_is_immutable_scanned_encrypted_and_pruned(
    pulumi_mocks: RecordingMocks, keep: int
) -> None:
    result = registry(pulumi_mocks, keep_images=keep)
    repository = result.one(REPOSITORY).inputs
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfigurations"] == [{"encryptionType": "AES256"}]
    assert repository["forceDelete"] is False
    (rule,) = json.loads(result.one(LIFECYCLE).inputs["policy"])["rules"]
    assert rule["selection"]["countNumber"] == keep
    assert result.one(LIFECYCLE).inputs["repository"] == result.one(REPOSITORY).outputs["name"]


def test_a_kms_key_encrypts_the_images(pulumi_mocks: RecordingMocks) -> None:
    repository = registry(pulumi_mocks, kms_key_arn=KMS_KEY).one(REPOSITORY).inputs
    assert repository["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": KMS_KEY}]


def test_the_login_is_the_registry_token_for_that_repository(pulumi_mocks: RecordingMocks) -> None:
    result = registry(pulumi_mocks)
    assert result.outputs["server"] == result.outputs["url"].split("/")[0]
    assert (result.outputs["username"], result.outputs["password"]) == ("AWS", "mock-ecr-password")
    calls = [c for c in pulumi_mocks.calls if "getAuthorizationToken" in c[0]]
    assert calls == [
        ("aws:ecr/getAuthorizationToken:getAuthorizationToken", {"registryId": "123456789012"})
    ]
