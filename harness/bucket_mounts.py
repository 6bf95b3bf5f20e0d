"""Mounts made by the project's mount program (its zipapp, as shipped), as the sandbox and the
backend host make them, for the contract tests and the benchmarks.

Each mount gets its own mount dir and run dir (status and client log) under a temporary root that
the sandbox user can traverse, and is taken down in `close()` even when a test failed. Nothing is
ever deleted through a mount: that would delete the bucket's objects.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.debian_root import PROGRAM_IN_CHROOT, S3FS_DEBIAN_13, S3FS_DEBIAN_TESTING, chroot
from harness.paths import mount_program
from program.schema import config_keys
from s3mount.mountpoint import mount_entry, set_immutable

SANDBOX_UID = 1000


def as_user(uid: int) -> tuple[str, ...]:
    """A command's prefix that runs it as `uid`, with no other group."""
    return ("setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups")


# How the image's agent code runs.
AS_SANDBOX_USER = as_user(SANDBOX_UID)


def unmount(path: Path) -> None:
    """Lazy-unmount path if it is mounted; the FUSE client exits once its mount is gone."""
    for command in (["fusermount", "-u", "-z", str(path)], ["umount", "-l", str(path)]):
        if mount_entry(str(path)) is None:
            return
        subprocess.run(command, capture_output=True, check=False, timeout=10)


def is_mounted(path: Path) -> bool:
    return mount_entry(str(path)) is not None


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> float | None:
    """Seconds until predicate() held, or None if it did not within timeout."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(interval)


@dataclass(frozen=True)
class Host:
    """Where the mount program runs: this machine (root None: Debian 12's s3fs 1.90) or a chroot
    (HOST_RECIPES: another Debian's s3fs). Paths in settings are as the program sees them."""

    name: str
    root: Path | None = None

    def runner(self) -> list[str]:
        """What runs a command on this host: nothing here, chroot for another Debian."""
        return [] if self.root is None else ["chroot", str(self.root)]

    def command(self, *args: str) -> list[str]:
        if self.root is None:
            return [sys.executable, str(mount_program()), *args]
        program = f"{PROGRAM_IN_CHROOT}/{mount_program().name}"
        return [*self.runner(), "python3", program, *args]

    def outside(self, inside: str) -> Path:
        """A path the program sees, as this test process sees it."""
        return Path(inside) if self.root is None else self.root / inside.lstrip("/")

    def inside(self, outside: Path) -> str:
        """A path this process sees, as the program sees it (its chroot's own view)."""
        if self.root is None or self.root not in outside.parents:
            return str(outside)
        return "/" + str(outside.relative_to(self.root))


THIS_MACHINE = Host("debian12")
# Where each s3fs version runs: this machine (1.90), a Debian 13 chroot (1.95, the image's), a
# Debian testing chroot (1.97 on 2026-12-01, the next release's; measured, not supported).
HOST_RECIPES = {THIS_MACHINE.name: None, "debian13": S3FS_DEBIAN_13,
                "debian-testing": S3FS_DEBIAN_TESTING}  # fmt: skip


@contextmanager
def mount_host(name: str) -> Iterator[Host]:
    """The host called `name` in HOST_RECIPES; a chroot is taken down afterwards."""
    recipe = HOST_RECIPES[name]
    if recipe is None:
        yield THIS_MACHINE
        return
    with chroot(recipe) as root:
        yield Host(name, root)


@dataclass
class ProgramMount:
    """One bucket mounted at `dir` by the mount program; settings in `env`."""

    host: Host
    root: Path
    env: dict[str, str]
    results: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.host.outside(self.env["S3_MOUNT_DIR"])

    @property
    def run_dir(self) -> Path:
        return self.host.outside(self.env["S3_MOUNT_RUN_DIR"])

    @property
    def status_path(self) -> Path:
        name = self.env["S3_MOUNT_DIR"].strip("/").replace("/", "-")
        return self.run_dir / f"{name}.json"

    def status(self) -> dict[str, Any]:
        if not self.status_path.exists():
            return {}
        status: dict[str, Any] = json.loads(self.status_path.read_text())
        return status

    def run(self, command: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """`s3mount COMMAND` with this mount's settings, as root."""
        result = subprocess.run(
            self.host.command(command),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.results.append(result)
        return result

    def publish_as_user(
        self, source: Path, destination: Path, timeout: float = 120, uid: int = SANDBOX_UID
    ) -> subprocess.CompletedProcess[str]:
        """`s3mount publish SOURCE DESTINATION` as the sandbox user (or `uid`), where the host
        runs it."""
        if self.host.root is None:  # the system's python, as in the image
            program = ["/usr/bin/python3", str(mount_program())]
        else:
            program = ["python3", f"{PROGRAM_IN_CHROOT}/{mount_program().name}"]
        paths = [self.host.inside(source), self.host.inside(destination)]
        return subprocess.run(
            [*self.host.runner(), *as_user(uid), *program, "publish", *paths],
            env={"PATH": self.env["PATH"], "S3_MOUNT_RUN_DIR": self.env["S3_MOUNT_RUN_DIR"]},
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def mount(self) -> ProgramMount:
        result = self.run("mount")
        assert result.returncode == 0, f"{result.stderr}\nstatus: {self.status()}"
        return self

    def close(self) -> None:
        """Take the mount down, whatever state the test left it in, and remove its files."""
        self.run("unmount", timeout=60)
        unmount(self.dir)
        if is_mounted(self.dir):
            return  # never delete through a mount
        set_immutable(str(self.dir), False)
        shutil.rmtree(self.root, ignore_errors=True)


def program_mount(
    bucket: str,
    endpoint: str,
    access_key: str,
    secret_key: str,
    host: Host = THIS_MACHINE,
    **settings: str,
) -> ProgramMount:
    """The settings for one mount under a fresh world-traversable root; not mounted yet."""
    root = Path(tempfile.mkdtemp(prefix="bucket-mount-", dir=host.outside("/tmp")))
    root.chmod(0o755)
    inside = "/tmp/" + root.name
    env: dict[str, str] = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_REGION": "us-east-1",
        "S3_BUCKET_NAME": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_MOUNT_DIR": f"{inside}/mnt",
        "S3_MOUNT_RUN_DIR": f"{inside}/run",
        # The bound the stack sends by default (Pulumi.yaml).
        "S3_MOUNT_FRESHNESS_SECONDS": str(config_keys()["mountFreshnessSeconds"].default),
    }
    env.update(settings)
    return ProgramMount(host=host, root=root, env=env)
