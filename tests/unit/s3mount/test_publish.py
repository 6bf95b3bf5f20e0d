"""The publish call's pure parts: keys that cannot leave the mount's prefix, the tree it walks
(no links followed), the wire that carries open files, and finding the mount a destination is in
(s3mount/publish.py; with real mounts and a real publisher in tests/integration/test_publish.py)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from s3mount.publish import (
    PublishError,
    _receive,
    _send,
    files_under,
    find_mount,
    key_for,
    publish,
    socket_path,
)


@pytest.mark.parametrize(
    ("prefix", "destination", "relative", "key"),
    [
        ("", "results", "a/b.txt", "results/a/b.txt"),
        ("sandboxes/x/", ".", "b.txt", "sandboxes/x/b.txt"),
        ("sandboxes/x/", "", "d/e.txt", "sandboxes/x/d/e.txt"),
        ("", "out//deep/", "f", "out/deep/f"),
    ],
)
def test_keys_stay_under_the_mounts_prefix(
    prefix: str, destination: str, relative: str, key: str
) -> None:
    if destination == ".":
        with pytest.raises(PublishError):
            key_for(prefix, destination, relative)
        return
    assert key_for(prefix, destination, relative) == key


@pytest.mark.parametrize("relative", ["../escape.txt", "a/../../b", "a/\nb", ""])
def test_a_path_that_could_leave_the_prefix_is_refused(relative: str) -> None:
    with pytest.raises(PublishError, match="no path inside the mount"):
        key_for("sandboxes/x/", "", relative)


def test_the_tree_is_its_regular_files_and_no_link_is_followed(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "link").symlink_to("/etc/passwd")
    (tmp_path / "dirlink").symlink_to(tmp_path / "d")
    assert sorted(str(p) for p in files_under(tmp_path)) == ["b.txt", "d/a.txt"]


def test_the_wire_carries_names_and_open_files(tmp_path: Path) -> None:
    caller, publisher = socket.socketpair()
    paths = [tmp_path / f"{n}.txt" for n in range(3)]
    for n, path in enumerate(paths):
        path.write_text(f"file {n}")
    fds = [os.open(path, os.O_RDONLY) for path in paths]
    _send(caller, ["0.txt", "1.txt", "2.txt"], fds)
    for fd in fds:
        os.close(fd)  # the receiver's copies stay open
    names, received = _receive(publisher, 10)
    assert names == ["0.txt", "1.txt", "2.txt"]
    assert [os.read(fd, 100) for fd in received] == [b"file 0", b"file 1", b"file 2"]
    _send(publisher, {"report": []})
    assert _receive(caller) == ({"report": []}, [])


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
