"""Publishing a tree into the bucket in one call: many files in flight, returning only when every
file is in the bucket, with a report per file, and no credential in the caller's hands.

    python3 /usr/lib/e2b-sandbox/s3mount.pyz publish ./outputs /opt/sentient/results

A publisher runs as root next to each mount (the mount program starts it and gives it the mount's
own credentials, in memory only) and listens on a socket in the run dir. The caller, agent code
running as `user`, walks its local tree as itself, opens each file and hands the publisher the
open descriptors (SCM_RIGHTS): the publisher can read exactly what the caller could, never a path
of its choosing, and writes each as one PUT under the mount's own prefix. The mount and the
backend's mount see the files within the freshness bound, as any other change through S3.
"""

from __future__ import annotations

import array
import contextlib
import json
import mimetypes
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from s3mount import contract
from s3mount.s3api import Credentials, S3Error, object_url, request, signed_headers
from s3mount.status import StatusFile, log

# Files in flight at once: S3 takes many small PUTs in parallel; each waits a round trip.
IN_FLIGHT = 32
# Descriptors a message may carry (the kernel's SCM_MAX_FD is 253).
BATCH = 200
# A file read whole to sign its payload; a larger one is streamed with an unsigned payload.
SIGNED_MAX = 16 * 1024 * 1024
_HEADER = struct.Struct("!I")


class PublishError(Exception):
    """The call could not be made: the message says why (a file's own failure is in the report)."""


def socket_path(status_path: Path) -> Path:
    """The publisher's socket, next to its mount's status file."""
    return status_path.with_suffix(".publish.sock")


def key_for(prefix: str, destination: str, relative: str) -> str:
    """The object key of a published file, refusing what could leave the mount's own prefix."""
    parts = [p for p in f"{destination}/{relative}".split("/") if p]
    if not parts or any(p in (".", "..") or contract.CONTROL_CHARACTERS.search(p) for p in parts):
        raise PublishError(f"{relative!r} under {destination!r} is no path inside the mount")
    return prefix + "/".join(parts)


# --- the wire: length-prefixed JSON, descriptors alongside ------------------------------------


def _send(connection: socket.socket, message: object, fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    frame = _HEADER.pack(len(data)) + data
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        connection.sendmsg([frame[:1]], ancillary)
        connection.sendall(frame[1:])
    else:
        connection.sendall(frame)


def _receive(connection: socket.socket, max_fds: int = 0) -> tuple[object, list[int]]:
    fds: list[int] = []
    space = socket.CMSG_SPACE(max_fds * array.array("i").itemsize) if max_fds else 0
    first, ancillary, _, _ = connection.recvmsg(1, space)
    if not first:
        raise PublishError("the other side closed the connection")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
    rest = _read_exactly(connection, _HEADER.size - 1)
    (size,) = _HEADER.unpack(first + rest)
    return json.loads(_read_exactly(connection, size)), fds


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(left)
        if not chunk:
            raise PublishError("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- the publisher (root) -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    bucket: str
    prefix: str
    region: str
    endpoint: str
    credentials: Credentials


def upload(target: Target, key: str, fd: int) -> None:
    """One file as one PUT, from the descriptor the caller opened, typed by its name as s3fs
    types what it writes."""
    url = object_url(target.bucket, key, target.region, target.endpoint)
    kind = {"content-type": mimetypes.guess_type(key)[0] or "application/octet-stream"}
    with os.fdopen(fd, "rb") as source:
        size = os.fstat(source.fileno()).st_size
        if size <= SIGNED_MAX:
            body = source.read(size)
            request("PUT", url, target.region, target.credentials, body=body, extra=kind)
            return
        _stream(url, target, source, size, kind)


def _stream(url: str, target: Target, source: BinaryIO, size: int, kind: dict[str, str]) -> None:
    import http.client
    from urllib.parse import urlsplit

    headers = signed_headers(
        "PUT", url, target.region, target.credentials, "UNSIGNED-PAYLOAD",
        {"content-length": str(size), **kind},
    )  # fmt: skip
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    connection_type = http.client.HTTPSConnection if secure else http.client.HTTPConnection
    connection = connection_type(parts.netloc, timeout=60)
    try:
        connection.request("PUT", parts.path, body=source, headers=headers)
        answer = connection.getresponse()
        text = answer.read(2000).decode("utf-8", errors="replace")
        if answer.status >= 300:
            code = text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""
            raise S3Error(answer.status, code or f"HTTP {answer.status}")
    finally:
        connection.close()


def _serve_one(connection: socket.socket, target: Target) -> None:
    """One caller: its request, then its files in batches, then the report."""
    with connection:
        asked, _ = _receive(connection)
        if not isinstance(asked, dict) or not isinstance(asked.get("destination"), str):
            _send(connection, {"error": "expected {destination, count}"})
            return
        destination, count = asked["destination"], int(asked.get("count", 0))
        report: list[dict[str, object]] = []
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            pending: list[tuple[str, Future[dict[str, object]]]] = []
            while len(pending) < count:
                batch, fds = _receive(connection, BATCH)
                names = batch if isinstance(batch, list) else []
                for name, fd in zip(names, fds, strict=False):
                    pending.append((name, pool.submit(_publish_one, target, destination, name, fd)))
                for fd in fds[len(names) :]:
                    os.close(fd)
                if not names:
                    break
            for name, future in pending:
                report.append({"path": name, **future.result()})
        _send(connection, {"report": report})


def _publish_one(target: Target, destination: str, name: str, fd: int) -> dict[str, object]:
    try:
        key = key_for(target.prefix, destination, name)
        upload(target, key, fd)
    except (PublishError, S3Error, OSError) as failed:
        with contextlib.suppress(OSError):
            os.close(fd)
        return {"ok": False, "error": str(failed)}
    return {"ok": True, "key": key}


def serve(status: StatusFile, target: Target, client_pid: int) -> int:
    """Serves callers until the mount it belongs to is gone or handed over."""
    path = socket_path(status.path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    mine = path.stat().st_ino
    # Anyone who may write to the mount may publish to it: the files come as their descriptors.
    path.chmod(0o666)
    listener.listen(16)
    listener.settimeout(1.0)
    try:
        while status.read().get("pid") == client_pid:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_serve_one, args=(connection, target), daemon=True).start()
    finally:
        listener.close()
        # A successor's socket may stand at the same path by now: only ours goes.
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == mine:
                path.unlink()
    return 0


def serve_from_stdin(status_path: Path) -> int:
    """The publisher's entry: its credentials come on stdin (never argv, never the
    environment), its mount from the status file."""
    given = json.loads(sys.stdin.read())
    status = StatusFile(status_path)
    target = Target(
        bucket=given["bucket"],
        prefix=given["prefix"],
        region=given["region"],
        endpoint=given["endpoint"],
        credentials=Credentials(given["accessKeyId"], given["secret"], given["token"]),
    )
    return serve(status, target, int(given["clientPid"]))


# --- the caller (any user) ------------------------------------------------------------------


def files_under(root: Path) -> Iterator[Path]:
    """Every regular file under `root`, relative to it (links are not followed)."""
    for directory, _, names in os.walk(root):
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(root)


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


def publish(source: Path, destination: Path, run_dir: Path) -> list[dict[str, object]]:
    """Copies the tree at `source` to `destination` (a path in the mount); the report per file."""
    if not source.is_dir():
        raise PublishError(f"{source} is not a directory: publish takes a directory's tree")
    status, inside = find_mount(destination, run_dir)
    if status.read().get("ok") is not True:
        raise PublishError(f"the bucket is not mounted ({status.read().get('error')})")
    names = [str(p) for p in files_under(source)]
    report: list[dict[str, object]] = []
    opened: list[tuple[str, int]] = []
    for name in names:
        try:
            opened.append((name, os.open(source / name, os.O_RDONLY | os.O_NOFOLLOW)))
        except OSError as refused:
            report.append({"path": name, "ok": False, "error": f"cannot read: {refused.strerror}"})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.connect(str(socket_path(status.path)))
        except OSError as refused:
            raise PublishError(f"the publisher does not answer ({refused.strerror})") from None
        _send(connection, {"destination": str(inside), "count": len(opened)})
        for start in range(0, len(opened), BATCH):
            batch = opened[start : start + BATCH]
            _send(connection, [n for n, _ in batch], [fd for _, fd in batch])
            for _, fd in batch:
                os.close(fd)
        answer, _ = _receive(connection)
    if not isinstance(answer, dict) or "report" not in answer:
        raise PublishError(f"the publisher refused: {answer}")
    found = answer["report"]
    return report + (found if isinstance(found, list) else [])


def publish_command(source: Path, destination: Path, run_dir: Path) -> int:
    started = time.monotonic()
    try:
        report = publish(source, destination, run_dir)
    except PublishError as problem:
        log(f"publish: {problem}")
        return 2
    failed = [entry for entry in report if entry.get("ok") is not True]
    for entry in failed:
        print(f"failed: {entry['path']}: {entry.get('error')}", file=sys.stderr)
    done = len(report) - len(failed)
    seconds = time.monotonic() - started
    print(f"published {done} of {len(report)} files to {destination} in {seconds:.2f} s")
    return 1 if failed else 0
