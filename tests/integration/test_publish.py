"""Publishing a tree through the mount's publisher, with real FUSE mounts on s3fs 1.90 and 1.95:
one call from the sandbox user that returns when every file is in the bucket, a report per file,
no credential in the caller's hands, files the caller could not read and links never published,
more files than either side may hold open, only the mount's own user served, none for a
read-only mount, and a hand-over's new credentials used."""

from __future__ import annotations

import http.client
import os
import resource
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.bucket_mounts import (
    AS_SANDBOX_USER,
    SANDBOX_UID,
    Host,
    ProgramMount,
    program_mount,
    wait_for,
)
from harness.moto_server import MotoServer
from harness.paths import mount_program
from s3mount.publisher import NO_DESCRIPTOR

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
    (tree / "private").mkdir(mode=0o700)  # root's: the caller cannot list it
    (tree / "private" / "hidden.txt").write_text("not the caller's")
    done = mounted.publish_as_user(tree, mounted.dir / "out")
    assert done.returncode == 1
    assert "failed: d00/roots-only.txt: cannot read: Permission denied" in done.stderr
    link = "failed: d01/shadow: a symbolic link: not followed; publish what it points to"
    assert link in done.stderr
    assert "failed: private: cannot list: Permission denied" in done.stderr
    assert "published 300 of 303 files" in done.stdout
    found = keys(moto_server, bucket, "out/")
    assert len(found) == 300 and "out/d00/roots-only.txt" not in found


# Run as the sandbox user: everything it can see (its own environment, every process's command
# line and environment it may read, every file in the run dir it may read, the publisher's
# answers to a whole conversation), printed for the test to search.
WHAT_THE_CALLER_SEES = """
import json, os, socket, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from s3mount.publish import receive, send
run_dir, source = Path(sys.argv[2]), Path(sys.argv[3])
seen = [repr(dict(os.environ)).encode()]
for proc in Path("/proc").glob("[0-9]*"):
    for part in ("cmdline", "environ"):
        try:
            seen.append((proc / part).read_bytes())
        except OSError:
            pass
for path in run_dir.rglob("*"):
    try:
        seen.append(path.read_bytes())
    except OSError:
        pass
connection = socket.socket(socket.AF_UNIX)
connection.connect(str(next(run_dir.glob("*.publish.sock"))))
answers = [receive(connection)[0]]
fd = os.open(source, os.O_RDONLY)
send(connection, {"destination": "seen", "names": ["one.txt"]}, [fd])
answers.append(receive(connection)[0])
seen.append(json.dumps(answers).encode())
sys.stdout.buffer.write(b"\\n".join(seen))
"""


def test_the_caller_never_holds_a_credential(mounted: ProgramMount, tree: Path) -> None:
    done = mounted.publish_as_user(tree, mounted.dir / "r")
    assert done.returncode == 0, done.stderr
    assert "publisher-secret-x1" not in done.stdout + done.stderr
    arguments = [str(mount_program()), str(mounted.run_dir), str(tree / "d00" / "f000.txt")]
    looked = subprocess.run(
        [*AS_SANDBOX_USER, "/usr/bin/python3", "-c", WHAT_THE_CALLER_SEES, *arguments],
        env={"PATH": mounted.env["PATH"]}, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert looked.returncode == 0, looked.stderr
    # What it saw is real: the status file, the publisher's own command line, its answers.
    assert b'"mountDir"' in looked.stdout and b"publish-server" in looked.stdout
    assert b'"key": "seen/one.txt"' in looked.stdout
    assert b"publisher-secret-x1" not in looked.stdout
    publisher = mounted.status()["publisher"]
    for where in ("cmdline", "environ"):  # nor can root find it outside the publisher's memory
        assert b"publisher-secret-x1" not in Path(f"/proc/{publisher}/{where}").read_bytes()


def test_publishing_outside_a_mount_is_one_line_naming_the_fix(
    mounted: ProgramMount, tree: Path
) -> None:
    done = mounted.publish_as_user(tree, Path("/tmp/not-a-mount"))
    assert done.returncode == 2
    assert "is not inside a mounted bucket" in done.stderr and "Traceback" not in done.stderr


def test_the_mounts_root_is_a_destination(
    mounted: ProgramMount, tree: Path, moto_server: MotoServer, bucket: str
) -> None:
    done = mounted.publish_as_user(tree, mounted.dir)
    assert done.returncode == 0, done.stderr
    found = keys(moto_server, bucket, "d")
    assert len(found) == 300 and found["d07/f007.txt"] == b"file 7\n"


@contextmanager
def open_files_limited(limit: int) -> Iterator[None]:
    """This process's soft limit on open files lowered for the processes it starts meanwhile
    (they inherit it); its own descriptors stay."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_caller_publishes_more_files_than_it_may_hold_open(
    mounted: ProgramMount, tree: Path, moto_server: MotoServer, bucket: str
) -> None:
    with open_files_limited(64):  # the tree has 300 files
        done = mounted.publish_as_user(tree, mounted.dir / "many")
    assert done.returncode == 0, done.stderr
    assert "published 300 of 300 files" in done.stdout
    assert len(keys(moto_server, bucket, "many/")) == 300


def test_a_publisher_out_of_descriptors_reports_the_files_and_never_hangs(
    mounted: ProgramMount, tree: Path
) -> None:
    publisher = mounted.status()["publisher"]
    limited = ["prlimit", f"--pid={publisher}", "--nofile=40:40"]
    subprocess.run(limited, check=True, capture_output=True, timeout=10)
    # Generous: the call takes about a second; before, it waited for ever.
    done = mounted.publish_as_user(tree, mounted.dir / "starved", timeout=60)
    assert done.returncode == 1
    assert NO_DESCRIPTOR in done.stderr
    assert "of 300 files" in done.stdout


def test_only_root_and_the_mounts_own_user_may_publish(
    mounted: ProgramMount, tree: Path, moto_server: MotoServer, bucket: str
) -> None:
    destination = mounted.dir / "theirs"
    other = mounted.publish_as_user(tree, destination, uid=SANDBOX_UID + 1)
    assert other.returncode == 2
    refused = (
        f"uid {SANDBOX_UID + 1} may not publish to this mount: only root and uid {SANDBOX_UID}"
    )
    assert refused in other.stderr and "Traceback" not in other.stderr
    assert keys(moto_server, bucket, "theirs/") == {}
    assert mounted.publish_as_user(tree, destination, uid=0).returncode == 0


def test_a_read_only_mount_offers_no_publish_and_says_why(
    moto_server: MotoServer, bucket: str, mount_host: Host, tree: Path
) -> None:
    mount = program_mount(bucket, moto_server.endpoint, "AKIDREAD", "read-only-x1", mount_host,
                          S3_MOUNT_READ_ONLY="true").mount()  # fmt: skip
    try:
        assert mount.status()["readOnly"] is True and not mount.status().get("publisher")
        assert not list(mount.run_dir.glob("*.publish.sock"))
        done = mount.publish_as_user(tree, mount.dir / "out")
        assert done.returncode == 2
        assert "is read-only (a read-only session): nothing can be published" in done.stderr
        assert keys(moto_server, bucket, "out/") == {}
    finally:
        mount.close()


class Listening(ThreadingHTTPServer):
    request_queue_size = 64  # the publisher's 32 uploads connect at once


class KeyGate:
    """moto behind a gate that refuses every request signed with a revoked access key, as S3
    refuses a deleted one. (moto that enforces IAM would do that itself, but it rejects s3fs's
    listings, so no FUSE mount works on it; the moto behind the gate takes any key.)"""

    def __init__(self, upstream: str) -> None:
        self.revoked: set[str] = set()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                signed = self.headers.get("authorization", "")
                key = signed.split("Credential=", 1)[-1].split("/", 1)[0]
                if key in gate.revoked:
                    status, headers = 403, {"content-type": "application/xml"}
                    answer = b"<Error><Code>InvalidAccessKeyId</Code></Error>"
                else:
                    upstream_connection = http.client.HTTPConnection(urlsplit(upstream).netloc)
                    upstream_connection.request(self.command, self.path, body, dict(self.headers))
                    response = upstream_connection.getresponse()
                    status, headers = response.status, dict(response.getheaders())
                    answer = response.read()
                    upstream_connection.close()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                length = headers.get("Content-Length", headers.get("content-length"))
                self.send_header("content-length", str(length or len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = forward  # noqa: N815 (http.server's names)

            def log_message(self, *_: object) -> None:
                pass

        self.server = Listening(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_handed_over_mount_publishes_with_its_new_credentials(
    moto_server: MotoServer, bucket: str, mount_host: Host, tree: Path
) -> None:
    gate = KeyGate(moto_server.endpoint)
    mount = program_mount(bucket, gate.endpoint, "AKIDFIRST", "first-x1", mount_host).mount()
    try:
        first = mount.status()["publisher"]
        mount.env.update({"AWS_ACCESS_KEY_ID": "AKIDSECOND", "AWS_SECRET_ACCESS_KEY": "second-x"})
        again = mount.run("mount")
        assert again.returncode == 0, again.stderr
        assert wait_for(lambda: not Path(f"/proc/{first}").exists(), timeout=10) is not None
        assert mount.status()["publisher"] != first
        gate.revoked.add("AKIDFIRST")  # the old key is deleted once the hand-over is done
        old = boto3.client(
            "s3", endpoint_url=gate.endpoint, region_name="us-east-1",
            aws_access_key_id="AKIDFIRST", aws_secret_access_key="first-x1",
        )  # fmt: skip
        with pytest.raises(ClientError, match="InvalidAccessKeyId"):
            old.put_object(Bucket=bucket, Key="after/old.txt", Body=b"no")
        done = mount.publish_as_user(tree, mount.dir / "after")
        assert done.returncode == 0, done.stderr
        assert len(keys(moto_server, bucket, "after/")) == 300
    finally:
        mount.close()
        gate.close()
