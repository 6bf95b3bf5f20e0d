"""The private registry the sandbox image is pushed to and the E2B template is made from."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from program import rules
from program.policies import ecr_lifecycle_policy


@dataclass(frozen=True)
class RegistryCredentials:
    """What `docker login` needs; the password is a secret Output."""

    server: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]


@dataclass(frozen=True)
class SandboxRegistryArgs:
    keep_images: int
    """How many of the newest images to keep; older ones hold retired keys and go."""
    kms_key_arn: str | None = None
    """Encrypt images with a customer key instead of AES256."""
    force_delete: bool = False
    """Let `pulumi destroy` delete a repository that still holds images."""

    def __post_init__(self) -> None:
        rules.check_args(
            self,
            keep_images=rules.ecr_keep_images(self.keep_images),
            kms_key_arn=rules.kms_key_arn(self.kms_key_arn, None),
        )


class SandboxRegistry(pulumi.ComponentResource):
    """A private ECR repository: immutable content-derived tags, scan on push, encryption."""

    repository: aws.ecr.Repository
    repository_url: pulumi.Output[str]
    credentials: RegistryCredentials

    def __init__(
        self, name: str, args: SandboxRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:registry:SandboxRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        encryption: aws.ecr.RepositoryEncryptionConfigurationArgsDict = (
            {"encryption_type": "KMS", "kms_key": args.kms_key_arn}
            if args.kms_key_arn
            else {"encryption_type": "AES256"}
        )
        # Immutable tags: a tag names exactly one build, so a digest never changes under a template.
        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[encryption],
            force_delete=args.force_delete,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(ecr_lifecycle_policy(args.keep_images)),
            opts=child,
        )

        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.repository_url = self.repository.repository_url
        self.credentials = RegistryCredentials(
            server=self.repository_url.apply(lambda url: url.split("/", 1)[0]),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
        )
        self.register_outputs({"repositoryUrl": self.repository_url})
