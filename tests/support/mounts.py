"""FUSE mount helpers shared by the start-up tests and the mount benchmark."""

from __future__ import annotations

import subprocess
from pathlib import Path


def is_mounted(path: Path) -> bool:
    """Whether path is a mount point, read from mountinfo (stat() would hang on a dead FUSE)."""
    escaped = str(path).replace(" ", "\\040")
    with Path("/proc/self/mountinfo").open() as mountinfo:
        return any(line.split()[4] == escaped for line in mountinfo)


def unmount(path: Path) -> None:
    """Lazy-unmount path if it is mounted; the FUSE client exits once its mount is gone."""
    for command in (["fusermount", "-u", "-z", str(path)], ["umount", "-l", str(path)]):
        if not is_mounted(path):
            return
        subprocess.run(command, capture_output=True, check=False, timeout=10)
