"""The publish call's parts that need no mount: keys that cannot leave the mount's prefix, the
tree it walks (links reported, never followed), the wire that carries open files, finding the
mount a destination is in, the publisher's batches and its limits (s3mount/publish.py,
s3mount/publisher.py; with real mounts in tests/integration/test_publish.py)."""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from s3mount.publish import (
    BATCH,
    SYMLINK,
    PublishError,
    find_mount,
    key_for,
    publish,
    receive,
    send,
    socket_path,
    tree,
)
from s3mount.publisher import (
    NO_DESCRIPTOR,
    PUT_MAX,
    SIGNED_MAX,
    Target,
    _serve_one,
    still_serving,
    upload,
)
from s3mount.s3api import Credentials
from s3mount.status import StatusFile


@pytest.mark.parametrize(
    ("prefix", "destination", "relative", "key"),
    [
        ("", "results", "a/b.txt", "results/a/b.txt"),
        ("sandboxes/x/", ".", "b.txt", "sandboxes/x/b.txt"),  # the mount's root
        ("sandboxes/x/", ".", "d/./e.txt", "sandboxes/x/d/e.txt"),
        ("", "out", "...", "out/..."),
        ("sandboxes/x/", "", "d/e.txt", "sandboxes/x/d/e.txt"),
        ("", "out//deep/", "f", "out/deep/f"),
    ],
)
def test_keys_stay_under_the_mounts_prefix(
    prefix: str, destination: str, relative: str, key: str
) -> None:
    assert key_for(prefix, destination, relative) == key


@pytest.mark.parametrize("relative", ["../escape.txt", "a/../../b", "a/\nb", "", "."])
def test_a_path_that_could_leave_the_prefix_is_refused(relative: str) -> None:
    with pytest.raises(PublishError, match="no path inside the mount"):
        key_for("sandboxes/x/", "", relative)


def test_the_tree_is_its_files_and_each_link_is_reported_never_followed(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "link").symlink_to("/etc/passwd")
    (tmp_path / "dirlink").symlink_to(tmp_path / "d")
    os.mkfifo(tmp_path / "d" / "pipe")
    found = dict(tree(tmp_path))
    assert found == {
        "b.txt": None,
        "d/a.txt": None,
        "link": SYMLINK,
        "dirlink": SYMLINK,
        "d/pipe": "not a regular file (a pipe, socket or device): skipped",
    }


def test_the_wire_carries_names_and_open_files(tmp_path: Path) -> None:
    caller, publisher = socket.socketpair()
    paths = [tmp_path / f"{n}.txt" for n in range(3)]
    for n, path in enumerate(paths):
        path.write_text(f"file {n}")
    fds = [os.open(path, os.O_RDONLY) for path in paths]
    send(caller, ["0.txt", "1.txt", "2.txt"], fds)
    for fd in fds:
        os.close(fd)  # the receiver's copies stay open
    names, received = receive(publisher, 10)
    assert names == ["0.txt", "1.txt", "2.txt"]
    assert [os.read(fd, 100) for fd in received] == [b"file 0", b"file 1", b"file 2"]
    send(publisher, {"report": []})
    assert receive(caller) == ({"report": []}, [])


def test_the_destination_names_its_mount_by_its_status_file(tmp_path: Path) -> None:
    (tmp_path / "opt-sentient.json").write_text(json.dumps({"mountDir": "/opt/sentient"}))
    (tmp_path / "srv-other.json").write_text(json.dumps({"mountDir": "/srv/other"}))
    status, inside = find_mount(Path("/opt/sentient/results/run1"), tmp_path)
    assert status.path.name == "opt-sentient.json" and str(inside) == "results/run1"
    assert socket_path(status.path).name == "opt-sentient.publish.sock"
    with pytest.raises(PublishError, match="is not inside a mounted bucket"):
        find_mount(Path("/opt/sentientx/r"), tmp_path)


def test_a_source_that_is_no_directory_or_an_unmounted_bucket_is_refused(tmp_path: Path) -> None:
    (tmp_path / "opt-sentient.json").write_text(
        json.dumps({"mountDir": "/opt/sentient", "ok": False, "error": "not attached yet"})
    )
    with pytest.raises(PublishError, match="is not a directory"):
        publish(tmp_path / "missing", Path("/opt/sentient/r"), tmp_path)
    with pytest.raises(PublishError, match="not mounted \\(not attached yet\\)"):
        publish(tmp_path, Path("/opt/sentient/r"), tmp_path)


def test_a_read_only_mount_is_refused_naming_why(tmp_path: Path) -> None:
    (tmp_path / "opt-sentient.json").write_text(
        json.dumps({"mountDir": "/opt/sentient", "ok": True, "readOnly": True})
    )
    with pytest.raises(PublishError, match="is read-only \\(a read-only session\\)"):
        publish(tmp_path, Path("/opt/sentient/r"), tmp_path)


@dataclass
class FakeS3:
    """A loopback endpoint that takes every PUT and records its path, payload hash and size."""

    endpoint: str
    puts: list[tuple[str, str, int]] = field(default_factory=list)


@pytest.fixture
def fake_s3() -> Iterator[FakeS3]:
    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.puts.append((self.path, self.headers["x-amz-content-sha256"], len(body)))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received = FakeS3(f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield received
    server.shutdown()
    server.server_close()


def target_at(endpoint: str) -> Target:
    return Target("b", "p/", "us-east-1", endpoint, Credentials("AKID", "secret"), os.getuid())


def test_names_that_came_without_a_descriptor_are_reported_failed_never_waited_for(
    tmp_path: Path, fake_s3: FakeS3
) -> None:
    caller, publisher = socket.socketpair()
    caller.settimeout(10)
    server = threading.Thread(
        target=_serve_one, args=(publisher, target_at(fake_s3.endpoint), threading.Semaphore(1))
    )
    server.start()
    assert receive(caller)[0] == {"batch": BATCH}
    for name in ("a", "b"):
        (tmp_path / name).write_text(name)
    fds = [os.open(tmp_path / name, os.O_RDONLY) for name in ("a", "b")]
    send(caller, {"destination": "out", "names": ["a", "b", "c", "d"]}, fds)
    for fd in fds:
        os.close(fd)
    answer, _ = receive(caller)
    assert isinstance(answer, dict)
    assert answer["report"] == [
        {"path": "a", "ok": True, "key": "p/out/a"},
        {"path": "b", "ok": True, "key": "p/out/b"},
        {"path": "c", "ok": False, "error": NO_DESCRIPTOR},
        {"path": "d", "ok": False, "error": NO_DESCRIPTOR},
    ]
    assert sorted(path for path, _, _ in fake_s3.puts) == ["/b/p/out/a", "/b/p/out/b"]
    send(caller, {"destination": "out", "names": []})
    server.join(10)
    assert not server.is_alive()


def test_only_a_small_file_is_held_in_memory_to_sign_a_larger_one_streams(
    tmp_path: Path, fake_s3: FakeS3
) -> None:
    assert SIGNED_MAX <= 1024 * 1024  # 32 in flight: at most 32 MiB of bodies in root's memory
    for name, size in (("small", SIGNED_MAX), ("large", 2 * 1024 * 1024)):
        (tmp_path / name).write_bytes(b"x" * size)
        upload(target_at(fake_s3.endpoint), name, os.open(tmp_path / name, os.O_RDONLY))
    (small, signed, small_size), (large, unsigned, large_size) = fake_s3.puts
    assert (small, small_size, large, large_size) == ("/b/small", SIGNED_MAX, "/b/large", 2 << 20)
    assert signed != "UNSIGNED-PAYLOAD" and unsigned == "UNSIGNED-PAYLOAD"


def test_a_file_over_the_single_put_limit_fails_before_any_request(
    tmp_path: Path, fake_s3: FakeS3
) -> None:
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as sparse:
        sparse.truncate(PUT_MAX + 1)
    with pytest.raises(PublishError, match="over S3's 5 GiB limit for one PUT"):
        upload(target_at(fake_s3.endpoint), "huge.bin", os.open(huge, os.O_RDONLY))
    assert fake_s3.puts == []


def test_the_publisher_serves_on_while_it_cannot_open_its_status_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Out of descriptors (callers' files in hand), reading the status fails for a moment: before,
    # that read as "the mount is gone" and the publisher quit in the middle of a call.
    status = StatusFile(tmp_path / "opt-sentient.json")
    status.write({"pid": 41})
    assert still_serving(status, 41) and not still_serving(status, 42)

    def out_of_descriptors(*_args: object, **_kwargs: object) -> str:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(Path, "read_text", out_of_descriptors)
    assert still_serving(status, 41)
    monkeypatch.undo()
    status.path.unlink()
    assert not still_serving(status, 41)
