"""The seed's whole flow on one machine, no mocks past the program itself: the backend's host mounts
the bucket, `docker compose up` starts the backend with the override the program rendered, a
sandbox container writes through its own mount and the backend reads it.

- moto is S3; podman's Docker-compatible API (`podman system service`) is the engine the real
  Compose v2 binary drives; the backend's image is the debootstrap stand-in, the sandbox's the
  image the Dockerfile builds.
- The program runs under mocks for the local stack, pointed at this moto and a temporary mount
  dir; its outputs are written to disk the way CI writes them (backend_host.bundle), and the host
  mount is made the way a backend host makes it (backend_host.host_mount).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.bucket_mounts import is_mounted, unmount, wait_for
from harness.compose import compose, podman_api
from harness.moto_server import MotoServer
from harness.paths import REPO_ROOT
from harness.podman import (
    build_image,
    ensure_standin_base,
    podman,
    remove_image,
    stack_build_args,
)
from s3mount.contract import START_SCRIPT
from s3mount.mountpoint import set_immutable
from tests.support.program import run_program
from tests.support.pulumi_mocks import RecordingMocks

pytestmark = [pytest.mark.fuse, pytest.mark.podman, pytest.mark.timeout(900)]

DATA = Path(__file__).parent / "data"
FILES = ("docker-compose.yml", "docker-compose.s3.yml")
FRESHNESS = 2.0
SANDBOX_TAG = "localhost/e2b-sandbox-e2e"


@dataclass
class Deployment:
    """The local stack's outputs and the backend's project directory on this host."""

    root: Path
    outputs: dict[str, Any]
    backend_dir: Path
    docker_host: str
    standin: str

    @property
    def mount_dir(self) -> Path:
        return Path(self.outputs["s3MountDir"])

    @property
    def outputs_file(self) -> Path:
        return self.root / "outputs.json"

    def tool(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, "--stack", "local", "--input", str(self.outputs_file),
             *args],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def host_mount(self, *args: str) -> subprocess.CompletedProcess[str]:
        env_file = str(self.backend_dir / "e2b-s3.env")
        return self.tool("backend_host.host_mount", "--env-file", env_file, *args)

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return compose(
            self.backend_dir,
            self.docker_host,
            *args,
            files=FILES,
        )

    def in_backend(self, script: str) -> subprocess.CompletedProcess[str]:
        return self.compose("exec", "-T", "backend", "sh", "-c", script)


@pytest.fixture(scope="module")
def deployment(moto_server: MotoServer, session_mocks: RecordingMocks) -> Iterator[Deployment]:
    root = Path(tempfile.mkdtemp(prefix="e2e-"))
    root.chmod(0o755)
    standin = ensure_standin_base()
    result = run_program(
        session_mocks,
        "local",
        {
            "e2b-sandbox:mountDir": str(root / "shared"),
            "e2b-sandbox:sandboxS3EndpointUrl": moto_server.endpoint,
            "e2b-sandbox:backendDir": str(root / "backend"),
            "e2b-sandbox:backendMountCheckImage": standin,
        },
    )
    outputs = result.outputs
    moto_server.client("s3").create_bucket(Bucket=outputs["bucketName"])
    (root / "outputs.json").write_text(json.dumps(outputs))
    backend_dir = root / "backend"
    backend_dir.mkdir()
    (backend_dir / "docker-compose.yml").write_text(
        (DATA / "backend-e2e-compose.yml").read_text().replace("BACKEND_IMAGE", standin)
    )
    with podman_api(root) as docker_host:
        deployed = Deployment(root, outputs, backend_dir, docker_host, standin)
        written = deployed.tool("backend_host.bundle", "--output", str(backend_dir))
        assert written.returncode == 0, written.stderr
        try:
            yield deployed
        finally:
            deployed.compose("down", "--timeout", "1")
            deployed.host_mount("--unmount")
            unmount(deployed.mount_dir)
            if not is_mounted(deployed.mount_dir):
                set_immutable(str(deployed.mount_dir), False)
                subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


@pytest.fixture(scope="module")
def running(deployment: Deployment) -> Deployment:
    """The host mount made, then `docker compose up` of the backend."""
    mounted = deployment.host_mount()
    assert mounted.returncode == 0, mounted.stderr
    up = deployment.compose("up", "--detach", "--wait", "backend")
    assert up.returncode == 0, up.stderr
    return deployment


def test_the_host_mount_is_made_healthy_and_kept_when_asked_again(running: Deployment) -> None:
    assert is_mounted(running.mount_dir)
    again = running.host_mount()
    assert again.returncode == 0, again.stderr
    assert "already mounted and healthy" in again.stderr  # kept, not replaced under the backend
    assert running.host_mount("--check").returncode == 0


def test_the_backend_reads_what_the_api_put_and_its_writes_are_in_the_bucket(
    running: Deployment, moto_server: MotoServer
) -> None:
    s3 = moto_server.client("s3")
    bucket = running.outputs["bucketName"]
    s3.put_object(Bucket=bucket, Key="from-api.txt", Body=b"hello backend\n")
    read = running.in_backend(f"cat {running.mount_dir}/from-api.txt")
    assert (read.returncode, read.stdout) == (0, "hello backend\n"), read.stderr
    wrote = running.in_backend(f"echo from-backend > {running.mount_dir}/from-backend.txt")
    assert wrote.returncode == 0, wrote.stderr
    body = s3.get_object(Bucket=bucket, Key="from-backend.txt")["Body"].read()
    assert body == b"from-backend\n"  # in the bucket when the write returned


def test_the_backend_gets_the_key_from_the_env_file_and_the_settings_from_the_override(
    running: Deployment,
) -> None:
    shown = running.in_backend("env")
    environment = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    assert environment["AWS_SECRET_ACCESS_KEY"] == running.outputs["secretAccessKey"]
    assert environment["S3_BUCKET_NAME"] == running.outputs["bucketName"]
    assert environment["S3_MOUNT_DIR"] == str(running.mount_dir)


def test_a_sandbox_writes_through_its_own_mount_and_the_backend_reads_it(
    running: Deployment,
) -> None:
    tag = f"{SANDBOX_TAG}:{uuid.uuid4().hex[:8]}"
    built = build_image(stack_build_args(running.standin, running.outputs), tag)
    assert built.returncode == 0, built.log[-4000:]
    fuse = ("--device", "/dev/fuse", "--cap-add", "SYS_ADMIN")
    started = podman("run", "--detach", "--rm", "--network=host", *fuse, tag, "sleep", "600")
    sandbox = started.stdout.strip()
    try:
        mounted = podman("exec", sandbox, START_SCRIPT, "--mount-only", check=False)
        assert mounted.returncode == 0, mounted.stderr
        result = f"agent result {uuid.uuid4()}"
        script = f"echo '{result}' > {running.mount_dir}/result.txt"
        podman("exec", "--user", "1000", sandbox, "sh", "-c", script)
        seen = wait_for(
            lambda: (
                running.in_backend(f"cat {running.mount_dir}/result.txt").stdout == f"{result}\n"
            ),
            timeout=FRESHNESS + 10,
            interval=0.1,
        )
    finally:
        podman("rm", "--force", "--time", "1", sandbox, check=False)
        remove_image(tag)
    assert seen is not None, "the backend never saw the sandbox's file"
    # Each read is a `compose exec` (about 0.3 s here), so the bound gets that much slack.
    assert seen <= FRESHNESS + 1


def test_without_the_host_mount_the_backend_does_not_start_and_nothing_lands_on_disk(
    running: Deployment,
) -> None:
    running.compose("down", "--timeout", "1")
    assert running.host_mount("--unmount").returncode == 0
    assert not is_mounted(running.mount_dir)
    up = running.compose("up", "--detach", "--wait", "backend")
    assert up.returncode != 0
    assert "e2b-s3-mount-check" in up.stderr
    listed = running.compose("ps", "--all", "--format", "json", "backend")
    assert '"State":"running"' not in listed.stdout.replace(" ", "")
    assert list(running.mount_dir.iterdir()) == []
    with pytest.raises(PermissionError):
        (running.mount_dir / "lost.txt").write_text("would be on the host's disk only\n")
    # Back to the state the other tests expect.
    assert running.host_mount().returncode == 0
    assert running.compose("up", "--detach", "--wait", "backend").returncode == 0


def test_a_host_mount_replaced_under_a_running_backend_fails_loudly(running: Deployment) -> None:
    assert running.host_mount("--unmount").returncode == 0
    assert running.host_mount().returncode == 0
    # The container still holds the mount it was started with: reads fail, nothing is hidden.
    read = running.in_backend(f"ls {running.mount_dir}")
    assert read.returncode != 0
    assert "Transport endpoint is not connected" in read.stderr
    restarted = running.compose("up", "--detach", "--wait", "--force-recreate", "backend")
    assert restarted.returncode == 0, restarted.stderr
    assert running.in_backend(f"ls {running.mount_dir}").returncode == 0


def test_the_unit_for_this_host_names_the_files_the_tool_wrote(running: Deployment) -> None:
    unit = (running.backend_dir / "e2b-s3-mount.service").read_text()
    expected = f"{running.backend_dir}/s3mount.pyz run --env-file {running.backend_dir}/e2b-s3.env"
    assert expected in unit
    assert os.access(running.backend_dir / "s3mount.pyz", os.X_OK)
