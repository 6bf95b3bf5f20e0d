"""Publishing a tree into the bucket in one call: many files in flight, returning only when every
file is in the bucket, with a report per file, and no credential in the caller's hands.

    python3 /usr/lib/e2b-sandbox/s3mount.pyz publish ./outputs /opt/sentient/results

A publisher runs as root next to each writable mount (s3mount/publisher.py) and listens on a
socket in the run dir. The caller, agent code running as `user`, walks its local tree as itself,
opens the files one batch at a time and hands the publisher the open descriptors (SCM_RIGHTS): the
publisher can read exactly what the caller could, never a path of its choosing, writes each as one
PUT under the mount's own prefix, and answers each batch with its report before the next comes, so
neither side ever holds more than a batch of descriptors. This module is the caller and the wire.
"""

from __future__ import annotations

import array
import json
import os
import resource
import socket
import stat
import struct
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from s3mount import contract
from s3mount.status import StatusFile, log

# Descriptors a message may carry (the kernel's SCM_MAX_FD is 253).
BATCH = 200
# Seconds either side waits for the other's next message before calling it gone; the publisher
# says it is still working well within this while a batch uploads.
TIMEOUT = 60.0
_HEADER = struct.Struct("!I")
Entry = dict[str, object]


class PublishError(Exception):
    """The call could not be made: the message says why (a file's own failure is in the report)."""


def socket_path(status_path: Path) -> Path:
    """The publisher's socket, next to its mount's status file."""
    return status_path.with_suffix(".publish.sock")


def key_for(prefix: str, destination: str, relative: str) -> str:
    """The object key of a published file, refusing what could leave the mount's own prefix
    ("." is where it stands: the mount's root is the destination ".")."""
    named = [p for p in relative.split("/") if p not in ("", ".")]
    parts = [p for p in destination.split("/") if p not in ("", ".")] + named
    if not named or any(p == ".." or contract.CONTROL_CHARACTERS.search(p) for p in parts):
        raise PublishError(f"{relative!r} under {destination!r} is no path inside the mount")
    return prefix + "/".join(parts)


# --- the wire: length-prefixed JSON, descriptors alongside ------------------------------------


def send(connection: socket.socket, message: object, fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    frame = _HEADER.pack(len(data)) + data
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        connection.sendmsg([frame[:1]], ancillary)
        connection.sendall(frame[1:])
    else:
        connection.sendall(frame)


def receive(connection: socket.socket, max_fds: int = 0) -> tuple[object, list[int]]:
    """One message and the descriptors that came with it: fewer than were sent when the
    receiver could not take them all (its open-file limit; the kernel drops the rest)."""
    fds: list[int] = []
    space = socket.CMSG_SPACE(max_fds * array.array("i").itemsize) if max_fds else 0
    try:
        first, ancillary, _, _ = connection.recvmsg(1, space)
        if not first:
            raise PublishError("the other side closed the connection")
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
        (size,) = _HEADER.unpack(first + _read_exactly(connection, _HEADER.size - 1))
        return json.loads(_read_exactly(connection, size)), fds
    except TimeoutError:
        raise PublishError(f"the other side said nothing for {TIMEOUT:g} s") from None


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(left)
        if not chunk:
            raise PublishError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- the caller (any user) ------------------------------------------------------------------

SYMLINK = "a symbolic link: not followed; publish what it points to"
NOT_A_FILE = "not a regular file (a pipe, socket or device): skipped"


def tree(root: Path) -> Iterator[tuple[str, str | None]]:
    """Every entry under `root` that is no directory, relative to it, with why it cannot be
    published (None: a regular file). Links are reported, never followed; so is a directory
    that cannot be listed."""
    unlisted: list[OSError] = []
    for directory, subdirectories, names in os.walk(root, onerror=unlisted.append):
        yield from _reported(root, unlisted)
        here = Path(directory)
        linked = [d for d in subdirectories if (here / d).is_symlink()]
        for name in sorted([*names, *linked]):
            path = here / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                yield relative, SYMLINK
            elif path.is_file():
                yield relative, None
            else:
                yield relative, NOT_A_FILE
    yield from _reported(root, unlisted)


def _reported(root: Path, unlisted: list[OSError]) -> Iterator[tuple[str, str]]:
    while unlisted:
        failed = unlisted.pop(0)
        yield os.path.relpath(failed.filename, root), f"cannot list: {failed.strerror}"


def find_mount(destination: Path, run_dir: Path) -> tuple[StatusFile, Path]:
    """The mount whose directory holds `destination`, and the destination inside it."""
    target = destination.resolve()
    for status_path in sorted(run_dir.glob("*.json")):
        status = StatusFile(status_path)
        mount_dir = Path(str(status.read().get("mountDir") or "/nonexistent"))
        if target == mount_dir or mount_dir in target.parents:
            return status, target.relative_to(mount_dir)
    raise PublishError(
        f"{destination} is not inside a mounted bucket: publish to a path under the mount dir"
    )


def _open(source: Path, name: str) -> int | str:
    """The file opened for the publisher, or why it could not be (never blocking on a pipe
    that took a file's place since the walk)."""
    try:
        fd = os.open(source / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as refused:
        return f"cannot read: {refused.strerror}"
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return NOT_A_FILE
    return fd


def _batches(source: Path, size: int, report: list[Entry]) -> Iterator[list[tuple[str, int]]]:
    """The tree's files opened `size` at a time; what cannot be opened goes into the report."""
    batch: list[tuple[str, int]] = []
    for name, problem in tree(source):
        opened = _open(source, name) if problem is None else problem
        if isinstance(opened, str):
            report.append({"path": name, "ok": False, "error": opened})
            continue
        batch.append((name, opened))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _descriptors_to_spare() -> int:
    """How many files this process may hold open for a batch: its open-file limit, less what it
    holds already and a few for walking the tree."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    spare = soft - len(list(Path("/proc/self/fd").iterdir())) - 8
    if spare < 1:
        raise PublishError(f"this process may open only {soft} files: raise it (ulimit -n)")
    return spare


def _answer(connection: socket.socket) -> dict[str, object]:
    """The publisher's next answer, past its "still working" messages; its refusal raised."""
    while True:
        answer, _ = receive(connection)
        if not isinstance(answer, dict):
            raise PublishError(f"the publisher answered {answer!r}")
        if "error" in answer:
            raise PublishError(f"the publisher refused: {answer['error']}")
        if "working" not in answer:
            return answer


def publish(source: Path, destination: Path, run_dir: Path) -> list[Entry]:
    """Copies the tree at `source` to `destination` (a path in the mount); the report per file."""
    if not source.is_dir():
        raise PublishError(f"{source} is not a directory: publish takes a directory's tree")
    status, inside = find_mount(destination, run_dir)
    current = status.read()
    if current.get("ok") is not True:
        raise PublishError(f"the bucket is not mounted ({current.get('error')})")
    if current.get("readOnly") is True:
        raise PublishError(
            f"the mount at {current.get('mountDir')} is read-only (a read-only session): nothing "
            "can be published to it; attach the sandbox read-write to publish"
        )
    report: list[Entry] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(TIMEOUT)
        try:
            connection.connect(str(socket_path(status.path)))
        except OSError as refused:
            raise PublishError(f"the publisher does not answer ({refused.strerror})") from None
        size = min(int(str(_answer(connection).get("batch", BATCH))), _descriptors_to_spare())
        for batch in _batches(source, size, report):
            try:
                message = {"destination": str(inside), "names": [n for n, _ in batch]}
                send(connection, message, [fd for _, fd in batch])
            finally:
                for _, fd in batch:
                    os.close(fd)
            found = _answer(connection).get("report")
            report += found if isinstance(found, list) else []
        send(connection, {"destination": str(inside), "names": []})
    return report


def publish_command(source: Path, destination: Path, run_dir: Path) -> int:
    started = time.monotonic()
    try:
        report = publish(source, destination, run_dir)
    except PublishError as problem:
        log(f"publish: {problem}")
        return 2
    except OSError as failure:
        log(f"publish: {failure.filename or source}: {failure.strerror or failure}")
        return 2
    failed = [entry for entry in report if entry.get("ok") is not True]
    for entry in failed:
        print(f"failed: {entry['path']}: {entry.get('error')}", file=sys.stderr)
    done = len(report) - len(failed)
    seconds = time.monotonic() - started
    print(f"published {done} of {len(report)} files to {destination} in {seconds:.2f} s")
    return 1 if failed else 0
