"""Publishing a tree through the mount's publisher, with real FUSE mounts on s3fs 1.90 and 1.95:
one call from the sandbox user that returns when every file is in the bucket, a report per file,
no credential in the caller's hands, and files the caller could not read never published."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bucket_mounts import SANDBOX_UID, Host, ProgramMount, program_mount, wait_for
from harness.moto_server import MotoServer

pytestmark = pytest.mark.fuse


@pytest.fixture
def mounted(moto_server: MotoServer, bucket: str, mount_host: Host) -> Iterator[ProgramMount]:
    mount = program_mount(bucket, moto_server.endpoint, "AKIDEXAMPLE", "publisher-secret-x1",
                          mount_host).mount()  # fmt: skip
    yield mount
    mount.close()


@pytest.fixture
def tree(mount_host: Host) -> Iterator[Path]:
    """300 small files in 60 directories on local disk, the sandbox user's (where the host's
    programs see them: in its chroot for Debian 13)."""
    root = Path(tempfile.mkdtemp(prefix="publish-tree-", dir=mount_host.outside("/tmp")))
    for n in range(300):
        path = root / f"d{n % 60:02d}" / f"f{n:03d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"file {n}\n")
    for path in [root, *root.rglob("*")]:
        os.chown(path, SANDBOX_UID, SANDBOX_UID)
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def keys(server: MotoServer, bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = server.client("s3")
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in found}


def test_a_tree_is_in_the_bucket_when_the_call_returns_and_the_mount_sees_it(
    mounted: ProgramMount, tree: Path, moto_server: MotoServer, bucket: str
) -> None:
    done = mounted.publish_as_user(tree, mounted.dir / "results")
    assert done.returncode == 0, done.stderr
    assert "published 300 of 300 files" in done.stdout
    found = keys(moto_server, bucket, "results/")
    assert len(found) == 300
    assert found["results/d07/f007.txt"] == b"file 7\n"
    seen = wait_for(lambda: (mounted.dir / "results" / "d59" / "f299.txt").exists(), timeout=10)
    assert seen is not None
    assert (mounted.dir / "results" / "d59" / "f299.txt").read_text() == "file 299\n"


def test_what_the_caller_cannot_read_is_reported_and_never_published(
    mounted: ProgramMount, tree: Path, moto_server: MotoServer, bucket: str
) -> None:
    secret = tree / "d00" / "roots-only.txt"
    secret.write_text("not the caller's")
    secret.chmod(0o600)  # root's: the sandbox user cannot open it, so neither can its publish
    (tree / "d01" / "shadow").symlink_to("/etc/shadow")
    done = mounted.publish_as_user(tree, mounted.dir / "out")
    assert done.returncode == 1
    assert "failed: d00/roots-only.txt: cannot read: Permission denied" in done.stderr
    assert "published 300 of 301 files" in done.stdout
    found = keys(moto_server, bucket, "out/")
    assert "out/d00/roots-only.txt" not in found and "out/d01/shadow" not in found


def test_the_caller_never_holds_a_credential(mounted: ProgramMount, tree: Path) -> None:
    done = mounted.publish_as_user(tree, mounted.dir / "r")
    assert done.returncode == 0, done.stderr
    publisher = mounted.status()["publisher"]
    for where in ("cmdline", "environ"):
        assert b"publisher-secret-x1" not in Path(f"/proc/{publisher}/{where}").read_bytes()
    assert "publisher-secret-x1" not in done.stdout + done.stderr


def test_publishing_outside_a_mount_is_one_line_naming_the_fix(
    mounted: ProgramMount, tree: Path
) -> None:
    done = mounted.publish_as_user(tree, Path("/tmp/not-a-mount"))
    assert done.returncode == 2
    assert "is not inside a mounted bucket" in done.stderr and "Traceback" not in done.stderr


def test_a_handed_over_mount_publishes_with_its_new_credentials(
    mounted: ProgramMount, tree: Path, moto_server: MotoServer, bucket: str
) -> None:
    first = mounted.status()["publisher"]
    mounted.env.update({"AWS_ACCESS_KEY_ID": "AKIDSECOND", "AWS_SECRET_ACCESS_KEY": "second-x"})
    again = mounted.run("mount")
    assert again.returncode == 0, again.stderr
    assert wait_for(lambda: not Path(f"/proc/{first}").exists(), timeout=10) is not None
    assert mounted.status()["publisher"] != first
    done = mounted.publish_as_user(tree, mounted.dir / "after")
    assert done.returncode == 0, done.stderr
    assert len(keys(moto_server, bucket, "after/")) == 300
