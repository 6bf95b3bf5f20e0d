"""The backend's files as stack outputs: its compose override and its host's mount unit.

The backend gets the bucket the way the sandboxes do: its host mounts it with the mount program
under a systemd unit, and the override binds that mount into the container at the same path. The
files are rendered (backend_host/render.py) from the same values the image bakes, and written by
`python3 -m backend_host.bundle` (next to the env file with the key), so that `make up`, CI and a
backend host all get them one way. The component declares no cloud resource: it groups the two
outputs under the stack's tree. Nothing here is secret.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from backend_host.render import render_compose_override, render_host_mount_unit
from program import rules, sandbox_rules
from program.pulumi_values import delivered_output
from program.shared import Channel, Consumer, MountValues, StorageValues, TemplateValues


@dataclass(frozen=True)
class BackendFilesArgs:
    stack: str
    """The stack's name, for the files' headers."""
    mount: MountValues[pulumi.Input[str]]
    """The bucket's settings (the key pair stays out: it reaches the backend in its env file)."""
    template: TemplateValues[pulumi.Input[str]]
    """The E2B template the backend creates its sandboxes from."""
    storage: StorageValues[pulumi.Input[str]]
    """How the backend gives sandboxes their storage (it attaches them in per-sandbox mode)."""
    mount_dir: str
    """Where the bucket appears, on the backend's host and in its container alike."""
    service_name: str
    """The backend's service in its own compose file."""
    backend_dir: str
    """Where the backend's files live on its host (the unit names the env file there)."""
    check_image: str
    """A small pinned image with awk: it checks the host's mount before the backend starts."""
    mount_in_container: bool = False
    """The backend mounts the bucket in its own container instead of its host."""

    def __post_init__(self) -> None:
        rules.check_args(
            self,
            stack=[] if self.stack else [rules.Problem(self.stack, "must name the stack")],
            mount_dir=sandbox_rules.mount_dir(self.mount_dir),
            service_name=sandbox_rules.service_name(self.service_name),
            backend_dir=sandbox_rules.mount_dir(self.backend_dir),
            check_image=sandbox_rules.check_image(self.check_image),
        )


class BackendFiles(pulumi.ComponentResource):
    """The override and the unit, rendered from the stack's values."""

    compose_override: pulumi.Output[str]
    host_mount_unit: pulumi.Output[str]

    def __init__(
        self, name: str, args: BackendFilesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:backend:BackendFiles", name, None, opts)
        self.compose_override = delivered_output(
            Consumer.BACKEND, Channel.SETTINGS, args.mount, args.template, args.storage
        ).apply(
            lambda settings: render_compose_override(
                stack=args.stack,
                service_name=args.service_name,
                settings=settings,
                mount_dir=args.mount_dir,
                check_image=args.check_image,
                mount_in_container=args.mount_in_container,
            )
        )
        self.host_mount_unit = delivered_output(
            Consumer.HOST_MOUNT, Channel.SETTINGS, args.mount, args.template
        ).apply(
            lambda settings: render_host_mount_unit(
                stack=args.stack,
                settings=settings,
                backend_dir=args.backend_dir,
                mount_dir=args.mount_dir,
            )
        )
        self.register_outputs(
            {"composeOverride": self.compose_override, "hostMountUnit": self.host_mount_unit}
        )
