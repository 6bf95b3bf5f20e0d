"""The mount's status file (for everyone to read), the lock that serialises mount operations,
atomic writes and the program's log."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from s3mount.client import CLIENT
from s3mount.settings import MountSettings

# Where the mount operations' locks are, under the run dir.
LOCKS_DIR = "locks"


class MountError(Exception):
    """The mount could not be made or checked; the message says why, for the status file."""


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"{stamp} [s3mount] {message}", file=sys.stderr, flush=True)


def utc_stamp() -> str:
    """Now, as the status file's times are written: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_atomically(path: Path, content: str | bytes, mode: int) -> None:
    """A temporary file in the same directory, then rename(2): readers never see half a file,
    and a symlink planted at `path` is replaced, never followed."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class StatusFile:
    """The mount's status, readable by everyone (no secret in it), written only by root.

    `ok` says whether the bucket is mounted and was checked; `error` why not; `lastError` the
    last operation the client could not complete while mounted (close() then failed with it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log_path = path.with_suffix(".log")

    def read(self) -> dict[str, object]:
        try:
            status = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return status if isinstance(status, dict) else {}

    def write(self, status: Mapping[str, object]) -> None:
        document = {**status, "updated": utc_stamp()}
        try:
            write_atomically(self.path, json.dumps(document) + "\n", 0o644)
        except OSError as failure:
            log(f"cannot write {self.path}: {failure.strerror}")

    def update(self, **changes: object) -> None:
        self.write({**self.read(), **changes})

    def report(self, s: MountSettings, error: str | None, seconds: float, pid: int | None) -> None:
        """A new status for this mount: mounted and checked (error None), or why not."""
        self.write(
            {
                "ok": error is None,
                "tool": CLIENT if error is None else None,
                **s.public(),
                "error": error,
                "lastError": None,
                "expired": False,
                "seconds": round(seconds, 3),
                "pid": pid,
                "watcher": None,
                # Where the client's log stood when the mount was checked: what comes after is
                # news for the supervisor, even if it starts a moment later.
                "logOffset": self.log_path.stat().st_size if self.log_path.exists() else 0,
            }
        )

    def open_log(self) -> int:
        """The client's log for appending (root only), for s3fs and the mount's own helpers."""
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    def log_text(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as client_log:
                client_log.seek(offset)
                return client_log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def status_file(s: MountSettings) -> StatusFile:
    return StatusFile(s.run_dir / f"{s.name}.json")


def prepare_run_dir(s: MountSettings) -> None:
    """Root's own directory: others may read the status, nobody else may write there; its locks
    in a directory only root may enter."""
    s.run_dir.mkdir(parents=True, exist_ok=True)
    s.run_dir.chmod(0o755)  # the status is for everyone to read
    locks = s.run_dir / LOCKS_DIR
    locks.mkdir(mode=0o700, exist_ok=True)
    locks.chmod(0o700)


@contextlib.contextmanager
def exclusive(status: StatusFile) -> Iterator[None]:
    """One mount operation per mount dir at a time (a unit, a by-hand run and a supervisor
    noticing its client's end may race; each reads, decides and writes under this lock). The
    lock is root's alone (0600 in a 0700 directory): a lock another user could open, even read
    only, that user could hold and stall every mount operation with (issue 21)."""
    locks = status.path.parent / LOCKS_DIR
    locks.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(locks / f"{status.path.stem}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+b") as lock:
        os.fchmod(fd, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
