"""The E2B sandbox image, built with the stack's scoped credentials as build args.

E2B runs a template's start command once, when the template is built, and passes it no
environment; every sandbox resumes from that snapshot. So whatever start-up.sh needs must be in the
image, which is why the credentials (one bucket, rotatable) are build args.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker
from docker.utils.build import exclude_paths

from components.contract import Channel, Consumer, render_env
from components.registry import RegistryCredentials
from components.shared_values import channel_values

PLATFORM = "linux/amd64"  # E2B runs templates on x86-64 microVMs.
DOCKERFILE = "e2b.Dockerfile"


def _ignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.exists():
        return []
    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def sent_files(context: Path, dockerfile: str = DOCKERFILE) -> list[str]:
    """The files a build sends from `context`, by Docker's own .dockerignore rules (docker-py's
    implementation of them: path matching from the context's root, `**`, `!` exceptions,
    a directory excluding what is under it); the Dockerfile is always sent."""
    included = exclude_paths(str(context), _ignore_patterns(context), dockerfile=dockerfile)
    return sorted(path for path in included if (context / path).is_file())


def context_digest(context: Path, dockerfile: str = DOCKERFILE) -> str:
    """SHA-256 over every file the build context sends, in a stable order."""
    digest = hashlib.sha256()
    for relative in sent_files(context, dockerfile):
        digest.update(relative.encode() + b"\0" + (context / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def image_tag(context_sha256: str, *build_inputs: str) -> str:
    """A tag that changes exactly when the image would: the context or a non-secret build input.

    The access key id is among the inputs, so a rotation yields a new tag (ECR tags are
    immutable); the secret itself never is, so the tag reveals nothing.
    """
    digest = hashlib.sha256("\0".join((context_sha256, *build_inputs)).encode()).hexdigest()
    return f"sha-{digest[:16]}"


@dataclass(frozen=True)
class SandboxImageArgs:
    project_dir: Path
    """The Pulumi project's folder: the engine runs the program there, docker resolves from it."""
    context: str
    """The build context, relative to project_dir so that state is the same on every machine."""
    repository: pulumi.Input[str]
    """Where the image is named (and pushed): an ECR repository URL, or a local name."""
    outputs: Mapping[str, pulumi.Input[str]]
    """The stack outputs the image's settings and key pair come from (components/contract.py)."""
    code_user: str = "user"
    """Who runs the agent code: `user`, or `root` (which can read the key)."""
    base_image: str | None = None
    """Overrides the Dockerfile's pinned base; None keeps it."""
    registry: RegistryCredentials | None = None
    """Push to this registry; None builds into the local Docker engine only."""


class SandboxImage(pulumi.ComponentResource):
    """Builds docker/e2b-sandbox with pulumi-docker and pushes it when a registry is given."""

    image: docker.Image
    image_name: pulumi.Output[str]
    image_ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: SandboxImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:image:SandboxImage", name, None, opts)

        context_sha256 = context_digest(args.project_dir / args.context)
        base = args.base_image or ""
        settings_text = channel_values(Consumer.SANDBOX, Channel.SETTINGS, args.outputs).apply(
            render_env
        )

        def name_for(repository: str, settings: str, access_key_id: str) -> str:
            # Every non-secret input, and the key's id: a rotation yields a new tag.
            inputs = (settings, access_key_id, args.code_user, base)
            return f"{repository}:{image_tag(context_sha256, *inputs)}"

        image_name = pulumi.Output.all(
            args.repository, settings_text, args.outputs["accessKeyId"]
        ).apply(lambda items: name_for(*items))
        arguments: dict[str, pulumi.Input[str]] = {
            "SANDBOX_SETTINGS": settings_text,
            "SANDBOX_CREDENTIALS": pulumi.Output.secret(
                channel_values(Consumer.SANDBOX, Channel.CREDENTIALS, args.outputs).apply(
                    render_env
                )
            ),
            "SANDBOX_CODE_USER": args.code_user,
        }
        if args.base_image:
            arguments["BASE_IMAGE"] = args.base_image

        registry = args.registry
        self.image = docker.Image(
            f"{name}-image",
            image_name=image_name,
            build=docker.DockerBuildArgs(
                context=args.context,
                # pulumi-docker (v4+) resolves the Dockerfile from the project, not the context.
                dockerfile=f"{args.context}/{DOCKERFILE}",
                platform=PLATFORM,
                args=arguments,
            ),
            registry=docker.RegistryArgs(
                server=registry.server, username=registry.username, password=registry.password
            )
            if registry
            else None,
            skip_push=registry is None,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.image_name = self.image.image_name
        # A pushed image is referenced by digest, so a template never picks up another build.
        self.image_ref = self.image.repo_digest if registry else self.image.image_name
        self.register_outputs({"imageName": self.image_name, "imageRef": self.image_ref})
