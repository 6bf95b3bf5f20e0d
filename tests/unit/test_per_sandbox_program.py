"""The program with per-sandbox storage, under mocks for every stack: the image carries no
credential of any kind, the identity may issue the sandboxes' sessions and nothing more, the
backend learns the mode and the prefix root; shared stacks declare exactly what they did."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pulumi.runtime.rpc import unwrap_rpc_secret

from program.config import ConfigurationError
from program.policies import sandbox_access_policy
from tests.support.program import STACKS, ProgramRun, run_program
from tests.support.pulumi_mocks import ACCOUNT_ID, RecordingMocks

IMAGE = "docker:index/image:Image"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
PER_SANDBOX = {"e2b-sandbox:sandboxStorage": "per-sandbox"}


def run(mocks: RecordingMocks, stack: str, **overrides: str) -> ProgramRun:
    return run_program(mocks, stack, {**PER_SANDBOX, **overrides})


def build_args(result: ProgramRun) -> dict[str, Any]:
    args: dict[str, Any] = dict(unwrap_rpc_secret(result.one(IMAGE).inputs["build"]))["args"]
    return args


@pytest.mark.parametrize("stack", STACKS)
def test_the_image_carries_no_credential_of_any_kind(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    args = build_args(result)
    assert "SANDBOX_CREDENTIALS" not in args
    assert args["SANDBOX_STORAGE"] == "per-sandbox"
    image = json.dumps(unwrap_rpc_secret(result.one(IMAGE).inputs))
    for value in (result.outputs["secretAccessKey"], result.outputs["accessKeyId"]):
        assert value not in image


def test_a_rotation_does_not_rebuild_an_image_without_a_key(pulumi_mocks: RecordingMocks) -> None:
    blue = run(pulumi_mocks, "prod").outputs["imageName"]
    green = run(
        pulumi_mocks,
        "prod",
        **{
            "e2b-sandbox:keySlots": json.dumps(["blue", "green"]),
            "e2b-sandbox:activeKeySlot": "green",
        },
    ).outputs["imageName"]
    assert blue == green
    assert run_program(pulumi_mocks, "prod").outputs["imageName"] != blue  # shared differs


@pytest.mark.parametrize("stack", STACKS)
def test_the_identity_may_issue_the_sandboxes_sessions(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    document = json.loads(result.one(GROUP_POLICY).inputs["policy"])
    sessions = f"arn:aws:sts::{ACCOUNT_ID}:federated-user/sbx-*"
    assert document == sandbox_access_policy(result.outputs["bucketArn"], (), None, None, sessions)
    (issue,) = [s for s in document["Statement"] if s["Sid"] == "IssueSandboxSessions"]
    assert issue == {
        "Sid": "IssueSandboxSessions",
        "Effect": "Allow",
        "Action": "sts:GetFederationToken",
        "Resource": sessions,
    }
    shared = json.loads(run_program(pulumi_mocks, stack).one(GROUP_POLICY).inputs["policy"])
    assert not [s for s in shared["Statement"] if s["Sid"] == "IssueSandboxSessions"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_backend_learns_the_mode_and_the_prefix_root(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack, **{"e2b-sandbox:sandboxPrefixRoot": "agents/"})
    assert result.outputs["s3SandboxStorage"] == "per-sandbox"
    assert result.outputs["s3SandboxPrefixRoot"] == "agents/"
    environment = yaml.safe_load(result.outputs["composeOverride"])["services"]["backend"][
        "environment"
    ]
    assert environment["S3_SANDBOX_STORAGE"] == "per-sandbox"
    assert environment["S3_SANDBOX_PREFIX_ROOT"] == "agents/"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"e2b-sandbox:sandboxStorage": "private"}, "sandboxStorage = 'private': must be shared"),
        ({"e2b-sandbox:sandboxPrefixRoot": "/abs/"}, "sandboxPrefixRoot = '/abs/'"),
        (
            {
                "e2b-sandbox:sandboxPrefixRoot": "agents/",
                "e2b-sandbox:allowedKeyPrefixes": json.dumps(["sandboxes/"]),
            },
            "must lie under one of allowedKeyPrefixes",
        ),
    ],
)
def test_bad_storage_settings_stop_before_any_resource(
    pulumi_mocks: RecordingMocks, overrides: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        run(pulumi_mocks, "dev", **overrides)
    assert pulumi_mocks.resources == []
