"""The E2B sandbox image, built with the stack's scoped credentials as build args.

E2B runs a template's start command once, when the template is built, and passes it no
environment; every sandbox resumes from that snapshot. So whatever start-up.sh needs must be in the
image, which is why the credentials (one bucket, rotatable) are build args.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.registry import RegistryCredentials
from program import rules, sandbox_rules
from program.pulumi_values import delivered_output
from program.sandbox_image import (
    CONTEXT,
    DOCKERFILE,
    PLATFORM,
    context_digest,
    image_tag,
)
from program.shared import Channel, Consumer, MountValues
from s3mount.contract import SHARED_STORAGE, START_SCRIPT, render_env


@dataclass(frozen=True)
class SandboxImageArgs:
    project_dir: Path
    """The Pulumi project's folder: the engine runs the program there, docker resolves from it."""
    repository: pulumi.Input[str]
    """Where the image is named (and pushed): an ECR repository URL, or a local name."""
    values: MountValues[pulumi.Input[str]]
    """The bucket's settings and the key pair the image bakes in (program/shared.py)."""
    code_user: str = "user"
    """Who runs the agent code: `user`, or `root` (which can read the key)."""
    storage: str = SHARED_STORAGE
    """`per-sandbox`: the image carries no credential (the backend attaches each sandbox)."""
    base_image: str | None = None
    """Overrides the Dockerfile's pinned base; None keeps it."""
    registry: RegistryCredentials | None = None
    """Push to this registry; None builds into the local Docker engine only."""

    def __post_init__(self) -> None:
        rules.check_args(
            self,
            project_dir=[]
            if (self.project_dir / DOCKERFILE).is_file()
            else [rules.Problem(str(self.project_dir), f"must hold {DOCKERFILE}")],
            code_user=sandbox_rules.code_user(self.code_user),
            storage=sandbox_rules.storage(self.storage),
            base_image=sandbox_rules.base_image(self.base_image),
        )


class SandboxImage(pulumi.ComponentResource):
    """Builds the sandbox image with pulumi-docker and pushes it when a registry is given."""

    image: docker.Image
    image_name: pulumi.Output[str]
    image_ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: SandboxImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:image:SandboxImage", name, None, opts)

        context_sha256 = context_digest(args.project_dir / CONTEXT)
        base = args.base_image or ""
        settings_text = delivered_output(Consumer.SANDBOX, Channel.SETTINGS, args.values).apply(
            render_env
        )

        carries_key = args.storage == SHARED_STORAGE
        # An image without a key does not change when the key rotates.
        key_id = args.values.access_key_id if carries_key else ""

        def name_for(repository: str, settings: str, access_key_id: str) -> str:
            # Every non-secret input, and the key's id: a rotation yields a new tag.
            inputs = [settings, access_key_id, args.code_user, base, START_SCRIPT]
            if not carries_key:
                inputs.append(args.storage)
            return f"{repository}:{image_tag(context_sha256, *inputs)}"

        image_name = pulumi.Output.all(args.repository, settings_text, key_id).apply(
            lambda items: name_for(*items)
        )
        arguments: dict[str, pulumi.Input[str]] = {
            "SANDBOX_SETTINGS": settings_text,
            "SANDBOX_CODE_USER": args.code_user,
            "START_SCRIPT": START_SCRIPT,
        }
        if carries_key:
            arguments["SANDBOX_CREDENTIALS"] = pulumi.Output.secret(
                delivered_output(Consumer.SANDBOX, Channel.CREDENTIALS, args.values).apply(
                    render_env
                )
            )
        else:
            arguments["SANDBOX_STORAGE"] = args.storage
        if args.base_image:
            arguments["BASE_IMAGE"] = args.base_image

        registry = args.registry
        self.image = docker.Image(
            f"{name}-image",
            image_name=image_name,
            build=docker.DockerBuildArgs(
                context=CONTEXT,
                # pulumi-docker (v4+) resolves the Dockerfile from the project, not the context.
                dockerfile=DOCKERFILE,
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
