"""The sandbox image and its registry under mocks, and the pure tag and context-digest logic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.image import context_digest, image_tag, sent_files
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
    }
    # The secret build arg makes the whole build block secret: it is encrypted in state and
    # shown as [secret] in every preview.
    assert build_is_secret
    assert build["context"] == "docker/e2b-sandbox"
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


def test_image_tag_is_a_short_hash_of_the_context_and_inputs() -> None:
    tag = image_tag("c" * 64, "settings", "AKIA1")
    assert tag.startswith("sha-") and len(tag) == 20
    assert image_tag("d" * 64, "settings", "AKIA1") != tag


def make_context(root: Path) -> Path:
    context = root / "context"
    context.mkdir()
    (context / "e2b.Dockerfile").write_text("FROM scratch\n")
    (context / ".dockerignore").write_text("# sent: only these\n*\n!start-up.sh\n")
    (context / "start-up.sh").write_text("#!/bin/bash\n")
    (context / "notes.env").write_text("SECRET=1\n")
    return context


def test_context_digest_follows_what_the_build_sends(tmp_path: Path) -> None:
    context = make_context(tmp_path)
    first = context_digest(context)
    assert context_digest(context) == first
    (context / "notes.env").write_text("SECRET=2\n")  # ignored by .dockerignore
    assert context_digest(context) == first
    (context / "start-up.sh").write_text("#!/bin/bash\necho changed\n")
    assert context_digest(context) != first
    second = context_digest(context)
    (context / "e2b.Dockerfile").write_text("FROM scratch\nLABEL x=y\n")
    assert context_digest(context) != second


def test_the_real_context_digest_covers_exactly_what_the_allow_list_sends(repo_root: Path) -> None:
    context = repo_root / "docker" / "e2b-sandbox"
    assert sent_files(context) == [
        ".dockerignore",
        "e2b.Dockerfile",
        "requirements.txt",
        "s3mount.py",
        "start-up.sh",
    ]


@pytest.mark.parametrize(
    ("ignore", "sent"),
    [
        # A pattern matches from the context's root: *.md is the top level's only.
        ("*.md\n", ["Dockerfile", "keep.txt", "sub/deep/c.md", "sub/x.md"]),
        ("**/*.md\n", ["Dockerfile", "keep.txt"]),
        # A directory's name excludes everything under it.
        ("sub\n", ["Dockerfile", "a.md", "keep.txt"]),
        # The last matching line decides; `!` brings a file back.
        ("*\n!sub/x.md\n", ["Dockerfile", "sub/x.md"]),
        ("sub\n!sub/deep\n", ["Dockerfile", "a.md", "keep.txt", "sub/deep/c.md"]),
        ("# a comment\n\n", ["Dockerfile", "a.md", "keep.txt", "sub/deep/c.md", "sub/x.md"]),
    ],
)
def test_the_context_filter_is_dockers_rule(tmp_path: Path, ignore: str, sent: list[str]) -> None:
    for relative in ("Dockerfile", "a.md", "keep.txt", "sub/x.md", "sub/deep/c.md"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(relative)
    (tmp_path / ".dockerignore").write_text(ignore)
    # The .dockerignore and the Dockerfile always reach the builder (Docker's documented rule).
    assert sent_files(tmp_path, "Dockerfile") == [".dockerignore", *sent]
