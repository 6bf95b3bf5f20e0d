"""The sandbox image and its registry under mocks: build args from the stack's own key and bucket,
pushes to the stack's private repository, a tag that follows every build input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.image import SandboxImageArgs
from program.rules import InvalidArgsError
from s3mount.contract import START_SCRIPT
from tests.support.program import STACKS, ProgramRun, run_program, stack_config
from tests.support.pulumi_mocks import RecordingMocks

IMAGE = "docker:index/image:Image"
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"


def build_inputs(result: ProgramRun) -> tuple[dict[str, Any], bool]:
    """The image's build block, unwrapped, and whether it travelled as a secret."""
    build = result.one(IMAGE).inputs["build"]
    secret = is_rpc_secret(build)
    return dict(unwrap_rpc_secret(build)), secret


@pytest.mark.parametrize("stack", STACKS)
def test_build_args_come_from_the_stacks_own_key_and_bucket(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run_program(pulumi_mocks, stack)
    build, build_is_secret = build_inputs(result)
    key = result.one(ACCESS_KEY).outputs
    endpoint = stack_config(stack).get("e2b-sandbox:sandboxS3EndpointUrl", "")
    assert build["args"] == {
        "SANDBOX_SETTINGS": (
            'AWS_REGION="us-east-1"\n'
            f'S3_BUCKET_NAME="{result.outputs["bucketName"]}"\n'
            'S3_MOUNT_DIR="/opt/sentient"\n'
            f'S3_ENDPOINT_URL="{endpoint}"\n'
            'S3_MOUNT_FRESHNESS_SECONDS="2"\n'
        ),
        "SANDBOX_CREDENTIALS": (
            f'AWS_ACCESS_KEY_ID="{key["id"]}"\nAWS_SECRET_ACCESS_KEY="{key["secret"]}"\n'
        ),
        "SANDBOX_CODE_USER": "user",
        "START_SCRIPT": START_SCRIPT,
    }
    # The secret build arg makes the whole build block secret: it is encrypted in state and
    # shown as [secret] in every preview.
    assert build_is_secret
    assert build["context"] == "."
    assert build["dockerfile"] == "docker/e2b-sandbox/e2b.Dockerfile"
    assert build["platform"] == "linux/amd64"
    assert "imageName" not in result.secret_outputs


def test_the_code_user_and_the_freshness_bound_are_stack_settings(
    pulumi_mocks: RecordingMocks,
) -> None:
    result = run_program(
        pulumi_mocks,
        "dev",
        {"e2b-sandbox:sandboxCodeUser": "root", "e2b-sandbox:mountFreshnessSeconds": "30"},
    )
    args = build_inputs(result)[0]["args"]
    assert args["SANDBOX_CODE_USER"] == "root"
    assert 'S3_MOUNT_FRESHNESS_SECONDS="30"' in args["SANDBOX_SETTINGS"]


def test_base_image_is_passed_only_when_configured(pulumi_mocks: RecordingMocks) -> None:
    reference = "e2bdev/code-interpreter:1.5.0"
    result = run_program(pulumi_mocks, "dev", {"e2b-sandbox:baseImage": reference})
    assert build_inputs(result)[0]["args"]["BASE_IMAGE"] == reference
    assert "BASE_IMAGE" not in build_inputs(run_program(pulumi_mocks, "dev"))[0]["args"]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_deployed_stacks_push_to_their_private_repository(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run_program(pulumi_mocks, stack)
    image = result.one(IMAGE).inputs
    repository = result.one(REPOSITORY)
    url = repository.outputs["repositoryUrl"]
    assert image["skipPush"] is False
    assert image["imageName"].startswith(f"{url}:sha-")
    registry = image["registry"]
    assert is_rpc_secret(registry), "the registry password must stay a secret"
    assert unwrap_rpc_secret(registry) == {
        "server": url.split("/")[0],
        "username": "AWS",
        "password": "mock-ecr-password",
    }
    token_calls = [c for c in pulumi_mocks.calls if "getAuthorizationToken" in c[0]]
    assert token_calls == [
        ("aws:ecr/getAuthorizationToken:getAuthorizationToken", {"registryId": "123456789012"})
    ]
    assert result.outputs["ecrRepositoryUrl"] == url
    assert result.outputs["imageRef"].startswith(f"{url}@sha256:")


def test_local_stack_builds_without_registry_or_push(pulumi_mocks: RecordingMocks) -> None:
    result = run_program(pulumi_mocks, "local")
    image = result.one(IMAGE).inputs
    assert image["skipPush"] is True
    assert "registry" not in image
    assert result.of_type(REPOSITORY) == []
    assert result.outputs["ecrRepositoryUrl"] == ""
    assert result.outputs["imageRef"] == result.outputs["imageName"]
    assert result.outputs["imageName"].startswith("e2b-sandbox-local:sha-")


def test_rotation_changes_the_tag_and_the_tag_hides_the_secret(
    pulumi_mocks: RecordingMocks,
) -> None:
    blue = run_program(pulumi_mocks, "prod")
    green = run_program(
        pulumi_mocks,
        "prod",
        {
            "e2b-sandbox:keySlots": json.dumps(["blue", "green"]),
            "e2b-sandbox:activeKeySlot": "green",
        },
    )
    assert blue.outputs["imageName"] != green.outputs["imageName"]
    for result in (blue, green):
        assert result.outputs["secretAccessKey"] not in result.outputs["imageName"]
        assert not result.outputs["imageName"].endswith(":latest")


@pytest.mark.parametrize(
    "change",
    [
        {"e2b-sandbox:sandboxCodeUser": "root"},
        {"e2b-sandbox:baseImage": "e2bdev/code-interpreter:1.5.0"},
        {"e2b-sandbox:mountFreshnessSeconds": "30"},
        {"e2b-sandbox:mountDir": "/mnt/files"},
        {
            "e2b-sandbox:keySlots": json.dumps(["blue", "green"]),
            "e2b-sandbox:activeKeySlot": "green",
        },
    ],
)
def test_the_image_name_changes_with_every_build_input(
    pulumi_mocks: RecordingMocks, change: dict[str, str]
) -> None:
    # Through the component: the tag must follow every input the build gets, or an old image
    # would be reused under a new configuration.
    name = run_program(pulumi_mocks, "dev").outputs["imageName"]
    assert run_program(pulumi_mocks, "dev").outputs["imageName"] == name
    assert run_program(pulumi_mocks, "dev", change).outputs["imageName"] != name


def test_the_args_refuse_what_no_image_can_be_built_from(tmp_path: Path, repo_root: Path) -> None:
    values: Any = object()
    with pytest.raises(InvalidArgsError) as raised:
        SandboxImageArgs(tmp_path, "repo", values, code_user="admin", base_image="x:latest")
    assert [p.split(" = ")[0] for p in raised.value.problems] == [
        "project_dir",
        "code_user",
        "base_image",
    ]
    assert SandboxImageArgs(repo_root, "repo", values).code_user == "user"
