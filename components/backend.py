"""The backend's files as stack outputs: its compose override and its host's mount unit.

The backend gets the bucket the way the sandboxes do: its host mounts it with the mount program
under a systemd unit, and the override binds that mount into the container at the same path. The
files are rendered here from the same values the image bakes (components/contract.py) and written
by `python -m tools.stack_outputs --format backend` (next to the env file with the key), so that
`make up`, CI and a backend host all get them one way. Nothing here is secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.backend_files import render_compose_override, render_host_mount_unit
from components.contract import Channel, Consumer
from components.shared_values import channel_values


@dataclass(frozen=True)
class BackendFilesArgs:
    stack: str
    """The stack's name, for the files' headers."""
    outputs: Mapping[str, pulumi.Input[str]]
    """The stack outputs the files' values come from, by name."""
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


class BackendFiles(pulumi.ComponentResource):
    """The override and the unit; declares no cloud resource (the files are written by a tool)."""

    compose_override: pulumi.Output[str]
    host_mount_unit: pulumi.Output[str]

    def __init__(
        self, name: str, args: BackendFilesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:backend:BackendFiles", name, None, opts)
        self.compose_override = channel_values(
            Consumer.BACKEND, Channel.SETTINGS, args.outputs
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
        self.host_mount_unit = channel_values(
            Consumer.HOST_MOUNT, Channel.SETTINGS, args.outputs
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
