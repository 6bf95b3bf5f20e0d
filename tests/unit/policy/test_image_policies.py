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

REGISTRY = REPOSITORY.split("/")[0]


def _push(name: str, server: str = REGISTRY, **extra: Any) -> Any:
    props = {"imageName": name, "registry": {"server": server, "username": "AWS"}, **extra}
    return resource(image.DOCKER_IMAGE, props, name="img")


def test_a_push_logs_in_to_a_private_ecr_registry_and_names_it() -> None:
    assert violations("image-pushed-to-private-ecr", _push(f"{REPOSITORY}:sha-1")) == []
    local = _push("e2b-sandbox-local:sha-1", server="", skipPush=True)
    assert violations("image-pushed-to-private-ecr", local) == []
    hub = _push("someone/sandbox:1", server="docker.io")
    (found,) = violations("image-pushed-to-private-ecr", hub)
    assert found.level == "mandatory"
    assert "\"img\": registry.server is 'docker.io', not a private ECR registry" in found.message
    public = _push("public.ecr.aws/someone/sandbox:1", server="public.ecr.aws")
    assert len(violations("image-pushed-to-private-ecr", public)) == 1
    elsewhere = _push("evil.example.com/sandbox:1")
    (found,) = violations("image-pushed-to-private-ecr", elsewhere)
    expected = "imageName is 'evil.example.com/sandbox:1', not in the registry it logs in to"
    assert f'"img": {expected} ({REGISTRY})' in found.message


def _repository() -> Any:
    return member(image.ECR_REPOSITORY, {"repositoryUrl": REPOSITORY}, "images-repository")


def _built(name: str, depends_on: Any = None) -> Any:
    # An image's outputs: its name, not its login or skipPush.
    return member(image.DOCKER_IMAGE, {"imageName": name, "repoDigest": ""}, "img", depends_on)


def test_the_image_goes_only_to_the_stacks_repository() -> None:
    repository = _repository()
    ours = _built(f"{REPOSITORY}:sha-45be7bf0940fd073")
    assert violations("image-pushed-to-own-repository", [repository, ours]) == []
    other = "123456789012.dkr.ecr.us-east-1.amazonaws.com/someone-elses:1"
    (found,) = violations("image-pushed-to-own-repository", [repository, _built(other)])
    assert found.level == "mandatory"
    assert f"\"img\": imageName is '{other}', not in this stack's private ECR" in found.message
    (found,) = violations("image-pushed-to-own-repository", [_built(f"{REPOSITORY}:1")])
    assert "not in this stack's private ECR repository" in found.message


def test_a_local_image_names_no_registry_and_a_first_preview_follows_the_dependency() -> None:
    assert violations("image-pushed-to-own-repository", [_built("e2b-sandbox-local:sha-1")]) == []
    repository = _repository()
    unknown = _built(UNKNOWN_STRING_VALUE, {"imageName": [repository]})
    assert violations("image-pushed-to-own-repository", [repository, unknown]) == []
    orphan = _built(UNKNOWN_STRING_VALUE)
    assert len(violations("image-pushed-to-own-repository", [repository, orphan])) == 1


@pytest.mark.parametrize(
    ("name", "registry"),
    [
        (f"{REPOSITORY}:1", REGISTRY),
        ("localhost/app:1", "localhost"),
        ("registry:5000/app:1", "registry:5000"),
        ("someone/app:1", None),
        ("app:1", None),
    ],
)
def test_which_registry_a_name_pushes_to(name: str, registry: str | None) -> None:
    assert image.registry_of(name) == registry
