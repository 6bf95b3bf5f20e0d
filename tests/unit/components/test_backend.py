"""The backend's files as a component: both rendered from the stack's values, nothing declared in
the cloud (components/backend.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pulumi
import pytest

from components.backend import BackendFiles, BackendFilesArgs
from program.rules import InvalidArgsError
from program.shared import MountValues, StorageValues, TemplateValues
from tests.support.pulumi_mocks import RecordingMocks
from tests.support.sample_outputs import SHARED_OUTPUTS
from tests.unit.backend_host.test_render import override, unit

# pulumi.runtime.test has no type hints; the cast keeps the decorated tests type-checked.
pulumi_test = cast("Callable[[Callable[..., Any]], Callable[..., Any]]", pulumi.runtime.test)
MOUNT = MountValues(
    access_key_id=SHARED_OUTPUTS["accessKeyId"],
    secret_access_key=SHARED_OUTPUTS["secretAccessKey"],
    region=SHARED_OUTPUTS["region"],
    bucket_name=SHARED_OUTPUTS["bucketName"],
    s3_mount_dir=SHARED_OUTPUTS["s3MountDir"],
    s3_endpoint_url=SHARED_OUTPUTS["s3EndpointUrl"],
    s3_mount_freshness_seconds=SHARED_OUTPUTS["s3MountFreshnessSeconds"],
)
TEMPLATE = TemplateValues(
    e2b_template_name=SHARED_OUTPUTS["e2bTemplateName"],
    e2b_template_id=SHARED_OUTPUTS["e2bTemplateId"],
)
STORAGE = StorageValues(
    s3_sandbox_storage=SHARED_OUTPUTS["s3SandboxStorage"],
    s3_sandbox_prefix_root=SHARED_OUTPUTS["s3SandboxPrefixRoot"],
    s3_kms_key_arn=SHARED_OUTPUTS["s3KmsKeyArn"],
)


def args(**changes: Any) -> BackendFilesArgs:
    values: dict[str, Any] = {
        "stack": "dev",
        "mount": MOUNT,
        "template": TEMPLATE,
        "storage": STORAGE,
        "mount_dir": "/opt/sentient",
        "service_name": "backend",
        "backend_dir": "/srv/backend",
        "check_image": "busybox:1.37",
        **changes,
    }
    return BackendFilesArgs(**values)


@pulumi_test
def test_exports_both_files_rendered_from_the_values(pulumi_mocks: RecordingMocks) -> Any:
    component = BackendFiles("e2b-sandbox-dev-backend", args())

    def check(texts: list[str]) -> None:
        assert texts == [override(), unit()]
        # Nothing in the cloud, nothing on disk: the component is all there is.
        children = [r for r in pulumi_mocks.resources if r.name != "e2b-sandbox-dev-backend"]
        assert children == []

    return pulumi.Output.all(component.compose_override, component.host_mount_unit).apply(check)


def test_the_args_refuse_what_the_files_could_not_carry() -> None:
    with pytest.raises(InvalidArgsError) as raised:
        args(service_name="-x", backend_dir="/etc/backend", check_image="busybox", mount_dir="x")
    assert [p.split(" = ")[0] for p in raised.value.problems] == [
        "mount_dir",
        "service_name",
        "backend_dir",
        "check_image",
    ]
