"""E2B sandbox stack: settings, then components, then the outputs CI reads.

One bucket per environment, shared by the E2B sandboxes (through a FUSE mount) and the agent
backend; an IAM identity that can use only that bucket; its key in Secrets Manager; the sandbox
image built with that key and pushed to a private registry; the E2B template made from it; the
backend's files.
"""

from pathlib import Path

import pulumi

from components.backend import BackendFiles, BackendFilesArgs
from components.credentials import SandboxCredentials, SandboxCredentialsArgs
from components.identity import SandboxIdentity, SandboxIdentityArgs
from components.image import SandboxImage, SandboxImageArgs
from components.registry import SandboxRegistry, SandboxRegistryArgs
from components.storage import SandboxBucket, SandboxBucketArgs
from components.template import SandboxTemplate, SandboxTemplateArgs
from program.config import read_stack_config
from program.outputs import StackOutputs
from program.shared import MountValues, StorageValues, TemplateValues

# Settings: validated before any resource is declared.
config = read_stack_config()
settings = config.settings

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
        issues_sessions=settings.per_sandbox,
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
# What every mount of the bucket receives: the sandbox's (in the image) and the backend host's.
mount = MountValues[pulumi.Input[str]](
    access_key_id=credentials.access_key_id,
    secret_access_key=credentials.secret_access_key,
    region=settings.region,
    bucket_name=storage.bucket_name,
    s3_mount_dir=settings.mount_dir,
    s3_endpoint_url=settings.sandbox_s3_endpoint_url or "",
    s3_mount_freshness_seconds=str(settings.mount_freshness_seconds),
)
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
        repository=registry.repository_url if registry else settings.name,
        values=mount,
        code_user=settings.sandbox_code_user,
        storage=settings.sandbox_storage,
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
            api_key=config.e2b_api_key,
            cpu_count=settings.e2b_cpu_count,
            memory_mb=settings.e2b_memory_mb,
            api_url=settings.e2b_api_url or "",
        ),
    )
    if settings.e2b_template and registry and config.e2b_api_key
    else None
)
template_values = TemplateValues[pulumi.Input[str]](
    e2b_template_name=settings.e2b_template_name,
    e2b_template_id=template.template_id if template else "",
)
# How the backend gives sandboxes their storage: shared, or attached one by one to their prefixes.
storage_values = StorageValues[pulumi.Input[str]](
    s3_sandbox_storage=settings.sandbox_storage,
    s3_sandbox_prefix_root=settings.sandbox_prefix_root,
    s3_kms_key_arn=settings.kms_key_arn or "",
)
# The backend's files: its compose override and its host's mount unit, no secret inside.
backend = BackendFiles(
    f"{settings.name}-backend",
    BackendFilesArgs(
        stack=settings.stack,
        mount=mount,
        template=template_values,
        storage=storage_values,
        mount_dir=settings.mount_dir,
        service_name=settings.compose_service_name,
        backend_dir=settings.backend_dir,
        check_image=settings.backend_mount_check_image,
        mount_in_container=settings.backend_mounts_in_container,
    ),
)

# Outputs: camelCase, stable (program/outputs.py); CI reads them with `pulumi stack output --json`.
outputs = StackOutputs[pulumi.Input[str]](
    mount=mount,
    template=template_values,
    storage=storage_values,
    bucket_arn=storage.bucket_arn,
    iam_user_name=identity.user_name,
    iam_user_arn=identity.user_arn,
    credentials_secret_arn=credentials.secret_arn,
    backend_read_policy_arn=credentials.backend_read_policy.arn,
    image_name=image.image_name,
    image_ref=image.image_ref,
    ecr_repository_url=registry.repository_url if registry else "",
    e2b_build_id=template.build_id if template else "",
    compose_override=backend.compose_override,
    host_mount_unit=backend.host_mount_unit,
)
for output_name, value in outputs.items():
    pulumi.export(output_name, value)
