"""The sandbox image's policies, both ways: linux/amd64, a pinned base (the build arg, else the
Dockerfile's own ARG default), and a push only to the stack's own private ECR repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime.rpc import wrap_rpc_secret
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from harness.paths import DOCKERFILE, REPO_ROOT
from policy.guard import context, image
from tests.unit.policy.engine_view import member, resource, violations

DOCKERFILE_PATH = str(DOCKERFILE.relative_to(REPO_ROOT))
REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/e2b-sandbox-dev-images-602461c"


def _image(**build: Any) -> Any:
    settings = {"context": ".", "dockerfile": DOCKERFILE_PATH, "platform": "linux/amd64", **build}
    # The program sends the whole build secret: one of its args is the key.
    return resource(image.DOCKER_IMAGE, {"build": wrap_rpc_secret(settings)}, name="img")


def test_the_pack_reads_the_projects_dockerfile() -> None:
    assert context.PROJECT_DIR == REPO_ROOT


def test_the_programs_build_passes_with_the_dockerfiles_pinned_default() -> None:
    assert violations("image-platform-and-base", _image()) == []
    pinned = {"BASE_IMAGE": "e2bdev/code-interpreter:1.2.3"}
    assert violations("image-platform-and-base", _image(args=pinned)) == []


@pytest.mark.parametrize("base", ["e2bdev/code-interpreter:latest", "e2bdev/code-interpreter"])
def test_a_base_from_the_build_arg_must_be_pinned(base: str) -> None:
    (found,) = violations("image-platform-and-base", _image(args={"BASE_IMAGE": base}))
    assert found.level == "mandatory"
    assert f"\"img\": build (the Dockerfile's FROM, with build.args) resolves to '{base}'" in (
        found.message
    )
    assert "Fix: pin the base to a version tag or a digest, never latest" in found.message


def test_the_platform_must_be_amd64() -> None:
    (found,) = violations("image-platform-and-base", _image(platform="linux/arm64"))
    assert '"img": build.platform is \'linux/arm64\'. Fix: set platform="linux/amd64"' in (
        found.message
    )


def test_the_dockerfiles_own_default_is_checked(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE=debian:latest\nFROM ${BASE} AS build\nFROM build\n")
    (found,) = violations("image-platform-and-base", _image(dockerfile=str(dockerfile)))
    assert "resolves to 'debian:latest'" in found.message
    dockerfile.write_text("FROM --platform=linux/amd64 debian:13.1 AS build\nFROM build\n")
    assert violations("image-platform-and-base", _image(dockerfile=str(dockerfile))) == []
    (found,) = violations("image-platform-and-base", _image(dockerfile=str(tmp_path / "gone")))
    assert '"img": build.dockerfile cannot be read at' in found.message


@pytest.mark.parametrize(
    ("reference", "is_pinned"),
    [
        ("busybox:1.37", True),
        ("registry:5000/team/app@sha256:" + "a" * 64, True),
        ("registry:5000/team/app", False),
        ("app:latest", False),
        ("", False),
    ],
)
def test_what_counts_as_pinned(reference: str, is_pinned: bool) -> None:
    assert image.pinned(reference) is is_pinned


# --- where it is pushed ---------------------------------------------------------------------


def _repository() -> Any:
    return member(image.ECR_REPOSITORY, {"repositoryUrl": REPOSITORY}, "images-repository")


def _pushed(name: str, server: str = REPOSITORY.split("/")[0], **extra: Any) -> Any:
    props = {"imageName": name, "registry": {"server": server, "username": "AWS"}, **extra}
    return member(image.DOCKER_IMAGE, props, "img", extra.pop("depends_on", None))


def test_the_image_goes_only_to_the_stacks_repository() -> None:
    repository = _repository()
    ours = _pushed(f"{REPOSITORY}:sha-45be7bf0940fd073")
    assert violations("image-pushed-to-own-repository", [repository, ours]) == []
    elsewhere = _pushed("docker.io/someone/sandbox:1", server="docker.io")
    (found,) = violations("image-pushed-to-own-repository", [repository, elsewhere])
    assert found.level == "mandatory"
    assert (
        "\"img\": imageName is 'docker.io/someone/sandbox:1', not in this stack's private ECR"
        in (found.message)
    )
    (found,) = violations("image-pushed-to-own-repository", [elsewhere])
    assert "not in this stack's private ECR repository" in found.message


def test_the_login_goes_to_the_repositorys_registry() -> None:
    wrong = _pushed(f"{REPOSITORY}:sha-1", server="evil.example.com")
    (found,) = violations("image-pushed-to-own-repository", [_repository(), wrong])
    assert "\"img\": registry.server is 'evil.example.com', not the repository's registry" in (
        found.message
    )


def test_a_local_image_is_not_pushed_and_a_first_preview_follows_the_dependency() -> None:
    local = member(
        image.DOCKER_IMAGE, {"imageName": "e2b-sandbox-local:sha-1", "skipPush": True}, "img"
    )
    assert violations("image-pushed-to-own-repository", [local]) == []
    repository = _repository()
    unknown = member(
        image.DOCKER_IMAGE, {"imageName": UNKNOWN_STRING_VALUE}, "img", {"imageName": [repository]}
    )
    assert violations("image-pushed-to-own-repository", [repository, unknown]) == []
    orphan = member(image.DOCKER_IMAGE, {"imageName": UNKNOWN_STRING_VALUE}, "img")
    assert len(violations("image-pushed-to-own-repository", [repository, orphan])) == 1
