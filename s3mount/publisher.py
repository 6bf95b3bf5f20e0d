"""The publisher: a root process beside each writable mount that PUTs the files callers hand it as
open descriptors (s3mount/publish.py is the caller and the wire).

It has the mount's own credentials, in memory only (on its stdin from the mount program), and
serves only root and the user the mount's files belong to (S3_MOUNT_UID): the kernel names the
peer of each connection. It takes one batch of descriptors at a time from each caller, uploads it,
answers, and only then takes the next, with as many callers at once as its open-file limit holds.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import resource
import socket
import struct
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from s3mount.publish import BATCH, TIMEOUT, Entry, PublishError, key_for, receive, send, socket_path
from s3mount.s3api import Credentials, S3Error, object_url, put_streamed, request
from s3mount.status import StatusFile, log

# Files in flight at once: S3 takes many small PUTs in parallel; each waits a round trip.
IN_FLIGHT = 32
# A file read whole to sign its payload (32 in flight: at most 32 MiB of bodies in memory); a
# larger one is streamed with an unsigned payload.
SIGNED_MAX = 1024 * 1024
# S3's limit for one PUT; larger objects need a multipart upload.
PUT_MAX = 5 * 1024**3
# Seconds between "still working" messages while a batch uploads (well within TIMEOUT).
HEARTBEAT = 10.0
# Descriptors a publisher keeps for itself (its socket, its log, urllib's odds and ends).
RESERVED_FDS = 32
NO_DESCRIPTOR = "the publisher could not take its descriptor (its open-file limit): publish again"
_PEER = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Target:
    bucket: str
    prefix: str
    region: str
    endpoint: str
    credentials: Credentials
    # Who may publish besides root: the user the mount's files belong to (S3_MOUNT_UID).
    uid: int


def upload(target: Target, key: str, fd: int) -> None:
    """One file as one PUT, from the descriptor the caller opened, typed by its name as s3fs
    types what it writes."""
    url = object_url(target.bucket, key, target.region, target.endpoint)
    kind = {"content-type": mimetypes.guess_type(key)[0] or "application/octet-stream"}
    with os.fdopen(fd, "rb") as source:
        size = os.fstat(source.fileno()).st_size
        if size > PUT_MAX:
            raise PublishError(
                f"{size} bytes, over S3's {PUT_MAX // 1024**3} GiB limit for one PUT: copy it "
                "into the mount instead (cp), which uploads it in parts"
            )
        if size <= SIGNED_MAX:
            body = source.read(size)
            request("PUT", url, target.region, target.credentials, body=body, extra=kind)
            return
        put_streamed(url, target.region, target.credentials, source, size, kind)


def _publish_one(target: Target, destination: str, name: str, fd: int) -> Entry:
    try:
        key = key_for(target.prefix, destination, name)
        upload(target, key, fd)
    except (PublishError, S3Error, OSError) as failed:
        with contextlib.suppress(OSError):
            os.close(fd)
        return {"ok": False, "error": str(failed) or type(failed).__name__}
    return {"ok": True, "key": key}


def refusal(connection: socket.socket, allowed_uid: int) -> str | None:
    """Why the peer of `connection` may not publish (None: it may)."""
    _, uid, _ = _PEER.unpack(
        connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER.size)
    )
    if uid in (0, allowed_uid):
        return None
    return (
        f"uid {uid} may not publish to this mount: only root and uid {allowed_uid}, who owns its "
        "files (S3_MOUNT_UID), may"
    )


def _publish_batch(
    connection: socket.socket, pool: ThreadPoolExecutor, target: Target, asked: object,
    fds: list[int],
) -> list[Entry]:  # fmt: skip
    """One batch uploaded, its descriptors all closed; "still working" said while it runs."""
    names = asked.get("names") if isinstance(asked, dict) else None
    destination = asked.get("destination") if isinstance(asked, dict) else None
    if not isinstance(names, list) or not isinstance(destination, str):
        for fd in fds:
            os.close(fd)
        raise PublishError("expected {destination, names}")
    for fd in fds[len(names) :]:
        os.close(fd)
    running: list[tuple[str, Future[Entry]]] = [
        (str(name), pool.submit(_publish_one, target, destination, str(name), fd))
        for name, fd in zip(names, fds, strict=False)
    ]
    while wait([f for _, f in running], timeout=HEARTBEAT).not_done:
        send(connection, {"working": sum(f.done() for _, f in running)})
    report = [{"path": name, **future.result()} for name, future in running]
    lost = names[len(fds) :]  # the kernel could not give them to us: said, never waited for
    return report + [{"path": str(name), "ok": False, "error": NO_DESCRIPTOR} for name in lost]


def _serve_one(connection: socket.socket, target: Target, slots: threading.Semaphore) -> None:
    """One caller: who it is, then its batches one at a time, each answered with its report."""
    with connection, ThreadPoolExecutor(IN_FLIGHT) as pool:
        connection.settimeout(TIMEOUT)
        try:
            refused = refusal(connection, target.uid)
            if refused:
                send(connection, {"error": refused})
                return
            send(connection, {"batch": BATCH})
            while True:
                with slots:
                    asked, fds = receive(connection, BATCH)
                    if isinstance(asked, dict) and asked.get("names") == [] and not fds:
                        return
                    report = _publish_batch(connection, pool, target, asked, fds)
                send(connection, {"report": report})
        except (PublishError, OSError, ValueError) as failed:
            with contextlib.suppress(OSError):
                send(connection, {"error": str(failed)})


def _caller_slots() -> threading.Semaphore:
    """Callers served at once: each may hold a batch of descriptors and a socket per upload.
    The soft open-file limit is raised to the hard one first."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return threading.Semaphore(max(1, (soft - RESERVED_FDS) // (BATCH + IN_FLIGHT)))


def still_serving(status: StatusFile, client_pid: int) -> bool:
    """Whether the mount this publisher belongs to still runs its client. A status file it cannot
    open for a moment (out of descriptors while callers' files are in hand) says nothing: only a
    status file gone or naming another client ends the publisher."""
    try:
        text = status.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        found = json.loads(text)
    except ValueError:
        return True  # written atomically; a bad file is the writer's to report
    return isinstance(found, dict) and found.get("pid") == client_pid


def serve(status: StatusFile, target: Target, client_pid: int) -> int:
    """Serves callers until the mount it belongs to is gone or handed over."""
    path = socket_path(status.path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    mine = path.stat().st_ino
    # Anyone may connect; who may publish is checked per connection (refusal) with a clear answer.
    path.chmod(0o666)
    listener.listen(16)
    listener.settimeout(1.0)
    slots = _caller_slots()
    try:
        while still_serving(status, client_pid):
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError as failed:  # out of descriptors: the caller waits in the backlog
                log(f"publisher: cannot accept a caller: {failed.strerror}")
                time.sleep(0.1)
                continue
            threading.Thread(
                target=_serve_one, args=(connection, target, slots), daemon=True
            ).start()
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
        uid=int(given["uid"]),
    )
    return serve(status, target, int(given["clientPid"]))
