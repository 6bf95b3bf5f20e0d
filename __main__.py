"""E2B sandbox stack: settings, then components, then the outputs CI reads.

One bucket per environment, shared by the E2B sandboxes (through a FUSE mount) and the agent
backend; an IAM identity that can use only that bucket; its key in Secrets Manager; the sandbox
image built with that key and pushed to a private registry.
"""

from pathlib import Path

import pulumi

from components.backend import BackendFiles, BackendFilesArgs
from components.credentials import SandboxCredentials, SandboxCredentialsArgs
from components.identity import SandboxIdentity, SandboxIdentityArgs
from components.image import SandboxImage, SandboxImageArgs
from components.registry import SandboxRegistry, SandboxRegistryArgs
from components.settings import settings_from_pulumi
from components.storage import SandboxBucket, SandboxBucketArgs
from components.template import SandboxTemplate, SandboxTemplateArgs

# Settings: validated before any resource is declared.
settings = settings_from_pulumi()

# Components.
storage = SandboxBucket(
    f"{settings.name}-files",
    SandboxBucketArgs(
        bucket_name_prefix=settings.bucket_name_prefix,
        noncurrent_version_days=settings.noncurrent_version_days,
        kms_key_arn=settings.kms_key_arn,
        force_destroy=settings.force_destroy,
        protected=settings.protected,
    ),
)
identity = SandboxIdentity(
    f"{settings.name}-sandbox",
    SandboxIdentityArgs(
        bucket_arn=storage.bucket_arn,
        iam_path=settings.iam_path,
        region=settings.region,
        key_prefixes=settings.allowed_key_prefixes,
        kms_key_arn=settings.kms_key_arn,
        permissions_boundary_arn=settings.permissions_boundary_arn,
    ),
)
credentials = SandboxCredentials(
    f"{settings.name}-sandbox-key",
    SandboxCredentialsArgs(
        user_name=identity.user_name,
        key_slots=settings.key_slots,
        active_key_slot=settings.active_key_slot,
        recovery_window_days=settings.secret_recovery_window_days,
        iam_path=settings.iam_path,
        region=settings.region,
        kms_key_arn=settings.kms_key_arn,
    ),
)
# What the sandbox and the backend receive, by stack output name (components/contract.py).
shared: dict[str, pulumi.Input[str]] = {
    "bucketName": storage.bucket_name,
    "region": settings.region,
    "s3MountDir": settings.mount_dir,
    "s3EndpointUrl": settings.sandbox_s3_endpoint_url or "",
    "s3MountFreshnessSeconds": str(settings.mount_freshness_seconds),
    "e2bTemplateName": settings.e2b_template_name,
    "accessKeyId": credentials.access_key_id,
    "secretAccessKey": credentials.secret_access_key,
}
# The local stack has no registry: its image stays in the laptop's Docker engine.
registry = (
    SandboxRegistry(
        f"{settings.name}-images",
        SandboxRegistryArgs(
            keep_images=settings.ecr_keep_images,
            kms_key_arn=settings.kms_key_arn,
            force_delete=settings.force_destroy,
        ),
    )
    if settings.push_image
    else None
)
image = SandboxImage(
    f"{settings.name}-sandbox-image",
    SandboxImageArgs(
        project_dir=Path(__file__).parent,
        context="docker/e2b-sandbox",
        repository=registry.repository_url if registry else settings.name,
        outputs=shared,
        code_user=settings.sandbox_code_user,
        base_image=settings.base_image,
        registry=registry.credentials if registry else None,
    ),
)
# The E2B template, built from the pushed image by digest, with the push's short-lived token.
template = (
    SandboxTemplate(
        f"{settings.name}-template",
        SandboxTemplateArgs(
            template_name=settings.e2b_template_name,
            image_ref=image.image_ref,
            registry_username=registry.credentials.username,
            registry_password=registry.credentials.password,
            api_key=settings.e2b_api_key,
            cpu_count=settings.e2b_cpu_count,
            memory_mb=settings.e2b_memory_mb,
            api_url=settings.e2b_api_url or "",
        ),
    )
    if settings.e2b_template and registry and settings.e2b_api_key
    else None
)
shared["e2bTemplateId"] = template.template_id if template else ""
# The backend's files: its compose override and its host's mount unit, no secret inside.
backend = BackendFiles(
    f"{settings.name}-backend",
    BackendFilesArgs(
        stack=settings.stack,
        outputs=shared,
        mount_dir=settings.mount_dir,
        service_name=settings.compose_service_name,
        backend_dir=settings.backend_dir,
        check_image=settings.backend_mount_check_image,
        mount_in_container=settings.backend_mounts_in_container,
    ),
)

# Outputs: camelCase, stable; CI reads them with `pulumi stack output --json`.
for output_name, value in shared.items():
    pulumi.export(output_name, value)
pulumi.export("bucketArn", storage.bucket_arn)
pulumi.export("iamUserName", identity.user_name)
pulumi.export("iamUserArn", identity.user_arn)
pulumi.export("credentialsSecretArn", credentials.secret_arn)
pulumi.export("backendReadPolicyArn", credentials.backend_read_policy.arn)
pulumi.export("imageName", image.image_name)
pulumi.export("imageRef", image.image_ref)
pulumi.export("ecrRepositoryUrl", registry.repository_url if registry else "")
pulumi.export("e2bBuildId", template.build_id if template else "")
pulumi.export("composeOverride", backend.compose_override)
pulumi.export("hostMountUnit", backend.host_mount_unit)
