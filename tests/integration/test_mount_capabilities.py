"""What works through each FUSE client, measured here and held against the design notes' table
(docs/design.md, "The client: why s3fs alone"; the README sums up its s3fs columns).

s3fs is the client the mount program uses, in Debian 12's version (this machine) and Debian 13's
(the image's base; run in a chroot). The two rclone modes are measured to show why they are
not: with the write cache, close() returns before the upload (the default until issue 8); without
it, fsync() is a no-op and files can only be written front to back. Each cell of the table is one
test: a "yes" must work and be in the bucket at once, a "no"
must fail, so the table cannot drift from the clients' behaviour.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.bucket_mounts import (
    THIS_MACHINE,
    Host,
    is_mounted,
    program_mount,
    unmount,
    wait_for,
)
from harness.moto_server import MotoServer
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.fuse

LARGE_DIRECTORY = 1000
CLIENTS = {
    "s3fs-debian12": "s3fs 1.90 (Debian 12)",
    "s3fs-debian13": "s3fs 1.95 (Debian 13)",
    "rclone-off": "rclone 1.60, cache off",
    "rclone-writes": "rclone 1.60, cache writes",
}


@dataclass(frozen=True)
class Target:
    """A mounted bucket and a boto3 client to check what reached it."""

    dir: Path
    bucket: str
    s3: Any

    def body(self, key: str) -> bytes | None:
        try:
            data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return data


def rclone_mount(
    server: MotoServer, bucket: str, directory: Path, *flags: str
) -> subprocess.Popen[bytes]:
    """Debian's rclone (the version an image would install), configured through its environment."""
    env = {
        "PATH": os.environ["PATH"],
        "RCLONE_CONFIG": "/dev/null",
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Other",
        "RCLONE_CONFIG_S3_ENDPOINT": server.endpoint,
        "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
        "RCLONE_CONFIG_S3_REGION": server.region,
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": server.access_key,
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": server.secret_key,
    }
    process = subprocess.Popen(
        [
            "/usr/bin/rclone",
            "mount",
            f"S3:{bucket}",
            str(directory),
            "--dir-cache-time",
            "1s",
            *flags,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_for(lambda: is_mounted(directory), timeout=20) is not None, "rclone did not mount"
    return process


@pytest.fixture(scope="module", params=sorted(CLIENTS))
def target(
    request: pytest.FixtureRequest,
    moto_server: MotoServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Target]]:
    client = str(request.param)
    s3 = moto_server.client("s3")
    bucket = f"caps-{client}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for number in range(LARGE_DIRECTORY):
        s3.put_object(Bucket=bucket, Key=f"many/{number:04d}.txt", Body=b"x")
    if client.startswith("s3fs"):
        host = (
            Host("debian13", request.getfixturevalue("debian13_root"))
            if client == "s3fs-debian13"
            else THIS_MACHINE
        )
        mount = program_mount(
            bucket, moto_server.endpoint, moto_server.access_key, moto_server.secret_key, host
        )
        mount.mount()
        try:
            yield client, Target(mount.dir, bucket, s3)
        finally:
            mount.close()
        return
    directory = tmp_path_factory.mktemp(client)
    mode = "off" if client == "rclone-off" else "writes"
    process = rclone_mount(moto_server, bucket, directory, "--vfs-cache-mode", mode)
    try:
        yield client, Target(directory, bucket, s3)
    finally:
        unmount(directory)
        process.kill()
        process.wait(timeout=10)


def durable_at_close(t: Target) -> None:
    (t.dir / "close.txt").write_bytes(b"closed\n")
    assert t.body("close.txt") == b"closed\n"


def durable_at_fsync(t: Target) -> None:
    with (t.dir / "fsync.txt").open("wb") as handle:
        handle.write(b"synced\n")
        handle.flush()
        os.fsync(handle.fileno())
        assert t.body("fsync.txt") == b"synced\n"


def random_writes(t: Target) -> None:
    with (t.dir / "random.bin").open("wb") as handle:
        handle.write(b"0123456789")
        handle.seek(3)
        handle.write(b"xy")
    assert t.body("random.bin") == b"012xy56789"


def append(t: Target) -> None:
    (t.dir / "append.txt").write_bytes(b"one\n")
    with (t.dir / "append.txt").open("ab") as handle:
        handle.write(b"two\n")
    assert t.body("append.txt") == b"one\ntwo\n"


def read_write_open(t: Target) -> None:
    (t.dir / "rw.txt").write_bytes(b"abc")
    with (t.dir / "rw.txt").open("r+b") as handle:
        assert handle.read(1) == b"a"
        handle.write(b"B")
    assert t.body("rw.txt") == b"aBc"


def truncate_open_file(t: Target) -> None:
    (t.dir / "ftruncate.txt").write_bytes(b"long content\n")
    with (t.dir / "ftruncate.txt").open("r+b") as handle:
        handle.truncate(4)
    assert t.body("ftruncate.txt") == b"long"


def truncate_by_path(t: Target) -> None:
    (t.dir / "truncate.txt").write_bytes(b"long content\n")
    os.truncate(t.dir / "truncate.txt", 4)
    assert t.body("truncate.txt") == b"long"


_MMAP_WRITE = """
import mmap, sys
with open(sys.argv[1], "r+b") as handle, mmap.mmap(handle.fileno(), 4096) as mapped:
    mapped[:5] = b"hello"
    mapped.flush()
"""


def mmap_write(t: Target) -> None:
    (t.dir / "mmap.bin").write_bytes(b"\0" * 4096)
    # In a child: a client that cannot back the mapping kills the writer with SIGBUS.
    written = subprocess.run(
        [sys.executable, "-c", _MMAP_WRITE, str(t.dir / "mmap.bin")], timeout=60, check=False
    )
    assert written.returncode == 0, f"the mmap writer ended with {written.returncode}"
    assert (t.body("mmap.bin") or b"")[:5] == b"hello"


def rename_file(t: Target) -> None:
    (t.dir / "old-name.txt").write_bytes(b"moved\n")
    (t.dir / "old-name.txt").rename(t.dir / "new-name.txt")
    assert (t.body("new-name.txt"), t.body("old-name.txt")) == (b"moved\n", None)


def rename_directory(t: Target) -> None:
    (t.dir / "old-dir").mkdir()
    for name in ("a.txt", "b.txt"):
        (t.dir / "old-dir" / name).write_bytes(name.encode())
    (t.dir / "old-dir").rename(t.dir / "new-dir")
    assert t.body("new-dir/a.txt") == b"a.txt"
    assert t.body("new-dir/b.txt") == b"b.txt"
    assert t.body("old-dir/a.txt") is None


def symbolic_link(t: Target) -> None:
    (t.dir / "link-target.txt").write_bytes(b"target\n")
    (t.dir / "symlink").symlink_to("link-target.txt")
    assert (t.dir / "symlink").read_bytes() == b"target\n"
    assert t.body("symlink") == b"link-target.txt"  # in the bucket: an object holding the target


def hard_link(t: Target) -> None:
    (t.dir / "hard-target.txt").write_bytes(b"target\n")
    os.link(t.dir / "hard-target.txt", t.dir / "hardlink")
    assert (t.dir / "hardlink").read_bytes() == b"target\n"


def large_directory(t: Target) -> None:
    assert len(list((t.dir / "many").iterdir())) == LARGE_DIRECTORY


OPERATIONS: dict[str, Callable[[Target], None]] = {
    "Durable when close() returns": durable_at_close,
    "Durable when fsync() returns": durable_at_fsync,
    "Random writes (seek, then write)": random_writes,
    "Append to an existing file": append,
    "Open an existing file read-write": read_write_open,
    "Truncate an open file (ftruncate)": truncate_open_file,
    "Truncate by path (truncate -s)": truncate_by_path,
    "mmap writes": mmap_write,
    "Rename a file": rename_file,
    "Rename a directory": rename_directory,
    "Symbolic links": symbolic_link,
    "Hard links": hard_link,
    f"A directory of {LARGE_DIRECTORY:,} files": large_directory,
}


def readme_table() -> dict[str, dict[str, str]]:
    """{operation: {client column: "yes" | "no"}} from the design notes' table."""
    text = (REPO_ROOT / "docs" / "design.md").read_text()
    section = text.split("## The client: why s3fs alone", 1)[1].split("\n#", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not re.match(r"^\|[\s|:-]+\|$", line)
    ]
    header, body = rows[0], rows[1:]
    verdicts = (re.sub(r"^(yes|no)\b.*", r"\1", cell.lower()) for row in body for cell in row[1:])
    cells = iter(verdicts)
    return {row[0]: {client: next(cells) for client in header[1:]} for row in body}


def test_the_table_lists_every_operation_and_client() -> None:
    table = readme_table()
    assert set(table) == set(OPERATIONS)
    assert all(set(row) == set(CLIENTS.values()) for row in table.values())
    assert all(cell in ("yes", "no") for row in table.values() for cell in row.values())


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_the_readme_says_what_the_client_does(target: tuple[str, Target], operation: str) -> None:
    client, mounted = target
    claimed = readme_table()[operation][CLIENTS[client]]
    try:
        OPERATIONS[operation](mounted)
    except (OSError, AssertionError) as failure:
        assert claimed == "no", f"the design notes say {claimed!r}, but it failed: {failure!r}"
    else:
        assert claimed == "yes", "the design notes say no, but it worked"
