"""The mount point: what is mounted there, keeping it read-only while nothing is, unmounting,
and the probe that proves a mount answers."""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import secrets
import subprocess
import sys
from pathlib import Path

from s3mount.settings import MountSettings
from s3mount.status import MountError, log

# chattr +i: an unmounted mount point refuses writes, so nothing meant for the bucket lands on the
# local disk underneath (where nobody else would ever see it).
_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_IMMUTABLE_FL = 0x10


def mount_entry(mount_dir: str) -> tuple[str, str] | None:
    """(fstype, source) of what is mounted at mount_dir, from mountinfo: stat() would hang on a
    dead FUSE mount."""
    escaped = mount_dir.replace("\\", "\\134").replace(" ", "\\040")
    with Path("/proc/self/mountinfo").open(encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if len(fields) > 4 and fields[4] == escaped:
                tail = fields[fields.index("-") + 1 :]
                return (tail[0], tail[1]) if len(tail) >= 2 else ("", "")
    return None


def set_immutable(path: str, immutable: bool) -> bool:
    """chattr +i/-i on a directory; False where the file system has no such flag."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        wanted = flags[0] | _FS_IMMUTABLE_FL if immutable else flags[0] & ~_FS_IMMUTABLE_FL
        if wanted != flags[0]:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, array.array("i", [wanted]))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def prepare_mount_point(s: MountSettings) -> None:
    """The mount dir exists, is empty and refuses writes while nothing is mounted on it."""
    path = Path(s.mount_dir)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise MountError(f"{s.mount_dir} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise MountError(
            f"{s.mount_dir} is not empty: files written there while the bucket was not mounted "
            "are on the local disk only; move them into the bucket, then mount again"
        )
    # The flag also forbids chmod: lifted for a moment, set again right after.
    set_immutable(s.mount_dir, False)
    path.chmod(0o755)  # the sandbox user (and the backend) must enter it
    if not set_immutable(s.mount_dir, True):
        log(f"{s.mount_dir}: the file system cannot make it read-only while unmounted")


def unmount(mount_dir: str) -> bool:
    """Unmount, lazily if busy; True once nothing is mounted there."""
    for command in (["fusermount", "-u", mount_dir], ["fusermount", "-u", "-z", mount_dir],
                    ["umount", "-l", mount_dir]):  # fmt: skip
        if mount_entry(mount_dir) is None:
            return True
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(command, capture_output=True, timeout=10, check=False)
    return mount_entry(mount_dir) is None


_PROBE = """
import os, sys
root, name, content = sys.argv[1], sys.argv[2], sys.argv[3].encode()
os.listdir(root)
if not name:
    sys.exit(0)  # a read-only mount: the listing is the check
path = os.path.join(root, name)
with open(path, "wb") as probe:
    probe.write(content)
    probe.flush()
    os.fsync(probe.fileno())
with open(path, "rb") as probe:
    assert probe.read() == content, "read back other bytes"
os.unlink(path)
"""


_STEPS = {True: "list, write, read back, delete", False: "list"}


def probe(mount_dir: str, seconds: float, writable: bool = True) -> str | None:
    """Lists, writes (fsync), reads back and deletes a probe file in a child process, so a hung
    mount costs `seconds` and no more; a read-only mount is only listed. None when it passed,
    else the reason."""
    name = f".e2b-mount-probe-{secrets.token_hex(6)}" if writable else ""
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", _PROBE, mount_dir, name, secrets.token_hex(16)],
            capture_output=True,
            text=True,
            timeout=max(seconds, 1),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the mount check ({_STEPS[writable]}) took over {seconds:.0f} s"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return f"the mount check ({_STEPS[writable]}) failed: {last}"
    return None
