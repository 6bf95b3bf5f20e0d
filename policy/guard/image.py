"""The sandbox image: built for linux/amd64 (E2B runs amd64), from a pinned base, and pushed only
to the stack's own private ECR repository.

Where it goes is checked twice: on its inputs (skipPush, the registry login, the name), which only
a resource policy sees, and on its outputs against the stack's repositories, which only a stack
policy sees (an image's state keeps its name, not its login).

The base is whatever the Dockerfile's FROM lines resolve to: a BASE_IMAGE-style build arg when
the image passes one, else the Dockerfile's own ARG default. So the pack reads the Dockerfile the
image names (relative to the project, where the engine runs the program).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from .context import StackContext
from .findings import Finding, finding
from .props import get, known, plain

DOCKER_IMAGE = "docker:index/image:Image"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
PLATFORM = "linux/amd64"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
# A private ECR registry: <account>.dkr.ecr.<region>.amazonaws.com (ECR Public is public.ecr.aws).
ECR_REGISTRY = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def pinned(reference: str) -> bool:
    """A digest, or a tag that is not `latest` (no tag means latest)."""
    if DIGEST.search(reference):
        return True
    name = reference.rsplit("/", 1)[-1]
    return ":" in name and name.split(":", 1)[1] not in ("", "latest")


def _instructions(text: str) -> Iterator[tuple[str, list[str]]]:
    """(INSTRUCTION, its words), continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            yield words[0].upper(), words[1:]


def _substituted(text: str, values: Mapping[str, str]) -> str:
    """`${NAME}` and `$NAME` replaced by their values (unset: empty, as Docker does)."""
    return VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def bases(dockerfile: str, build_args: Mapping[str, str]) -> list[str]:
    """The images every FROM resolves to; earlier stages and scratch are not bases."""
    defaults: dict[str, str] = {}  # only ARGs before the first FROM apply to FROM lines
    stages = {"scratch"}
    found: list[str] = []
    global_scope = True
    for instruction, words in _instructions(dockerfile):
        if instruction == "ARG" and global_scope:
            for word in words:
                name, _, default = word.partition("=")
                defaults[name] = default
        elif instruction == "FROM":
            global_scope = False
            words = [w for w in words if not w.startswith("--")]
            image = _substituted(words[0], {**defaults, **build_args})
            if image.lower() not in stages:
                found.append(image)
            if len(words) >= 3 and words[1].lower() == "as":
                stages.add(words[2].lower())
    return found


def _dockerfile(build: Any, context: StackContext) -> Path:
    named = get(build, "dockerfile") or str(Path(get(build, "context") or ".") / "Dockerfile")
    path = Path(named)
    return path if path.is_absolute() else context.project_dir / path


def built_for_e2b(r: ResourceValidationArgs, context: StackContext) -> list[Finding]:
    build = get(r.props, "build") or {}
    results = []
    platform = get(build, "platform")
    if platform != PLATFORM:
        results.append(
            finding(r, "build.platform", f"is {platform!r}", f'set platform="{PLATFORM}"')
        )
    args = {str(k): str(plain(v)) for k, v in (get(build, "args") or {}).items()}
    path = _dockerfile(build, context)
    try:
        text = path.read_text()
    except OSError as error:
        return [
            *results,
            finding(
                r,
                "build.dockerfile",
                f"cannot be read at {path} ({error.strerror})",
                "keep the Dockerfile where build.dockerfile says, so its base can be checked",
            ),
        ]
    for image in dict.fromkeys(bases(text, args)):  # each base once, however many stages
        if not pinned(image):
            results.append(
                finding(
                    r,
                    "build (the Dockerfile's FROM, with build.args)",
                    f"resolves to {image!r}",
                    "pin the base to a version tag or a digest, never latest",
                )
            )
    return results


def registry_of(image_name: str) -> str | None:
    """The registry an image name pushes to, as Docker reads it (none: Docker Hub's library)."""
    first, _, rest = image_name.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else None


def pushed_to_private_ecr(r: ResourceValidationArgs) -> list[Finding]:
    """Its inputs: a push (skipPush unset) logs in to a private ECR registry and names it."""
    if get(r.props, "skipPush") is True:
        return []
    server = get(r.props, "registry", "server")
    if not (isinstance(server, str) and ECR_REGISTRY.match(server)):
        return [
            finding(
                r,
                "registry.server",
                f"is {server!r}, not a private ECR registry",
                "push to the stack's aws.ecr.Repository, or set skip_push=True",
            )
        ]
    name = get(r.props, "imageName")
    if isinstance(name, str) and registry_of(name) == server:
        return []
    return [
        finding(
            r,
            "imageName",
            f"is {name!r}, not in the registry it logs in to ({server})",
            "name the image <repository_url>:<tag>",
        )
    ]


def pushed_to_own_repository(resources: Sequence[PolicyResource]) -> list[Finding]:
    """Its outputs: an image named in a registry is in one of this stack's repositories (by
    name, or in a first preview by its name's dependency on one)."""
    repositories = [r for r in resources if r.resource_type == ECR_REPOSITORY]
    urls = [url for url in (known(r.props, "repositoryUrl") for r in repositories) if url]
    results = []
    for image in (r for r in resources if r.resource_type == DOCKER_IMAGE):
        name = known(image.props, "imageName")
        if name is None:
            depended = {d.urn for d in image.property_dependencies.get("imageName", [])}
            ours = any(r.urn in depended for r in repositories)
        else:
            ours = registry_of(name) is None or name.startswith(
                tuple(f"{u}{sep}" for u in urls for sep in ":@")
            )
        if not ours:
            results.append(
                finding(
                    image,
                    "imageName",
                    f"is {name!r}, not in this stack's private ECR repository",
                    "push only to the stack's own aws.ecr.Repository (its repository_url)",
                )
            )
    return results
