"""Debian root file systems made with debootstrap: stand-ins for the sandbox's base image, and
chroots that run Debian 13's s3fs (and Debian testing's, the next one) on this Debian 12 machine.

Both the image's base (python:3.13 is Debian 13, trixie) and this machine (Debian 12) are
supported places for the mount program, and their s3fs versions differ (1.95 and 1.90), so the
contract is tested against both. A chroot shares this machine's mount namespace: a FUSE mount the
chrooted s3fs makes at ROOT/mnt appears here at ROOT/mnt, where the tests read and write it.

Each root file system is cached as a tarball under build/rootfs/, named by a hash of its recipe
and of this machine's CA bundle (copied in because this network re-signs TLS), so only the first
run pays for debootstrap (about 35 s each).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.paths import MOUNT_PROGRAM_DIR, REPO_ROOT, mount_program

CACHE_DIR = REPO_ROOT / "build" / "rootfs"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Bump when a recipe changes in a way its fields do not show.
RECIPE_VERSION = "2"
# Where a chroot sees the mount program's zipapp (read-only).
PROGRAM_IN_CHROOT = "/opt/e2b-sandbox"


@dataclass(frozen=True)
class Recipe:
    suite: str
    packages: tuple[str, ...]


# What the image's base provides that the Dockerfile relies on (python3 and pip), and the sudo
# that E2B's image setup configures for the sandbox user.
IMAGE_BASE = Recipe("trixie", ("python3", "python3-pip", "ca-certificates", "sudo"))
# Debian 13's s3fs with python3 for the mount program.
S3FS_DEBIAN_13 = Recipe("trixie", ("python3", "s3fs", "ca-certificates"))
# Debian testing's s3fs (1.97 on 2026-12-01): not a supported place, but the version the next
# Debian brings, so flags are measured against it too. "testing" moves: the cached tarball keeps
# the version it was made with until build/rootfs/ is cleared.
S3FS_DEBIAN_TESTING = Recipe("testing", ("python3", "s3fs", "ca-certificates"))


def ca_bundle() -> Path:
    return Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))


def recipe_key(recipe: Recipe) -> str:
    digest = hashlib.sha256()
    for part in (RECIPE_VERSION, recipe.suite, DEBIAN_MIRROR, *recipe.packages):
        digest.update(part.encode() + b"\0")
    digest.update(ca_bundle().read_bytes())
    return digest.hexdigest()[:16]


def mount_points_below(directory: Path) -> list[str]:
    prefix = f"{directory.resolve()}/"
    with Path("/proc/self/mountinfo").open() as mountinfo:
        points = [line.split()[4] for line in mountinfo if line.split()[4].startswith(prefix)]
    return sorted(points, key=len, reverse=True)


def unmount_below(directory: Path) -> None:
    """Detach everything mounted inside (proc, /dev, FUSE mounts), deepest first."""
    for point in mount_points_below(directory):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)


def remove_tree(directory: Path) -> None:
    """Deletes a root file system, never through a mount that is still inside it."""
    unmount_below(directory)
    if mount_points_below(directory):
        raise RuntimeError(f"{directory} still has mounts inside; not deleting through them")
    subprocess.run(["rm", "-rf", "--one-file-system", str(directory)], check=False)


def rootfs_tarball(recipe: Recipe) -> Path:
    """The recipe's root file system as a tarball, made with debootstrap on first use."""
    tarball = CACHE_DIR / f"{recipe.suite}-{recipe_key(recipe)}.tar"
    if tarball.exists():
        return tarball
    tarball.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=tarball.parent, prefix="rootfs-"))
    rootfs = workdir / "rootfs"
    try:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        # update-ca-certificates keeps what is in /usr/local/share/ca-certificates, so the CA
        # survives the image build's own apt runs.
        shutil.copyfile(ca_bundle(), rootfs / "usr/local/share/ca-certificates/build-host-ca.crt")
        subprocess.run(
            ["chroot", str(rootfs), "update-ca-certificates"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "--one-file-system", "-C", str(rootfs), "-cf", str(partial), "."],
            check=True,
            timeout=300,
        )
        partial.replace(tarball)
    finally:
        remove_tree(workdir)
    return tarball


@contextmanager
def chroot(recipe: Recipe) -> Iterator[Path]:
    """The recipe's root file system unpacked, with /dev, /proc and the mount program (at
    PROGRAM_IN_CHROOT, read-only) mounted inside; everything is taken down afterwards."""
    tarball = rootfs_tarball(recipe)
    root = Path(tempfile.mkdtemp(prefix=f"chroot-{recipe.suite}-"))
    root.chmod(0o755)
    try:
        subprocess.run(["tar", "-C", str(root), "-xf", str(tarball)], check=True, timeout=300)
        sandbox = root / PROGRAM_IN_CHROOT.lstrip("/")
        sandbox.mkdir(parents=True)
        mount_program()
        for command in (
            ["mount", "--bind", "/dev", str(root / "dev")],
            ["mount", "-t", "proc", "proc", str(root / "proc")],
            ["mount", "--bind", "-o", "ro", str(MOUNT_PROGRAM_DIR), str(sandbox)],
        ):
            subprocess.run(command, check=True, capture_output=True, timeout=30)
        yield root
    finally:
        remove_tree(root)
