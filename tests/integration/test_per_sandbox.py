"""Per-sandbox storage end to end, with real parts: the per-sandbox image built by podman from the
project's Dockerfile, two containers started as E2B starts a template (two sandboxes), the
backend's `attach` through an adapter whose files.write and commands.run are `podman exec`s,
moto's STS issuing the sessions, and the backend's own whole-bucket mount on this host.

Sandbox A's agent writes a file; the backend reads it under A's prefix, through its mount and the
S3 API; sandbox B cannot see it, by name or in a listing; neither sandbox holds the backend's
long-lived key; agent code (uid 1000, without no_new_privs, as `podman exec --user 1000` and
E2B's envd give it) cannot read the session, mount, remount or change the prefix.
Limit of this machine: moto does not evaluate session policies, so here a sandbox is held to its
prefix by its mount; what the session itself allows is tested in test_sandbox_sessions.py.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.bucket_mounts import ProgramMount, program_mount, wait_for
from harness.e2b_sandbox import MOUNT_PROGRAM, PodmanSandbox, in_container, start_as_e2b_does
from harness.moto_server import MotoServer
from harness.podman import build_image, ensure_standin_base, image_history, podman, stack_build_args
from sandbox_storage.attach import CREDENTIALS_FILE, AttachError, StorageConfig, attach, detach

pytestmark = [pytest.mark.podman, pytest.mark.fuse, pytest.mark.timeout(900)]

IMAGE_TAG = "localhost/e2b-sandbox-test:per-sandbox"
MOUNT_DIR = "/opt/sentient"
STATUS_FILE = "/run/e2b-s3-mount/opt-sentient.json"
FUSE = ("--device", "/dev/fuse", "--cap-add", "SYS_ADMIN")
# An unmounted mount point is root's (0755) and, where the file system allows, immutable.
REFUSED = re.compile(r"Permission denied|Operation not permitted")


@dataclass
class World:
    bucket: str
    image_id: str
    a: PodmanSandbox
    b: PodmanSandbox
    config: StorageConfig
    sts: Any
    long_lived_secret: str
    backend: ProgramMount

    def attach(self, sandbox: PodmanSandbox, **options: Any) -> Any:
        return attach(sandbox, config=self.config, sts=self.sts, **options)


def sandbox_container(image_id: str) -> PodmanSandbox:
    name = f"sbx{uuid.uuid4().hex[:12]}"
    podman("run", "--detach", "--rm", "--name", name, "--network=host", *FUSE, image_id,
           "sleep", "900")  # fmt: skip
    sandbox = PodmanSandbox(name)
    start_as_e2b_does(name)
    return sandbox


@pytest.fixture(scope="module")
def world(moto_server: MotoServer) -> Iterator[World]:
    bucket = f"e2b-per-sandbox-{uuid.uuid4().hex[:8]}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    long_lived = {"accessKeyId": f"AKIA{secrets.token_hex(8).upper()}",
                  "secretAccessKey": f"LongLived{secrets.token_hex(16)}"}  # fmt: skip
    outputs = {
        **long_lived,
        "region": moto_server.region,
        "bucketName": bucket,
        "s3MountDir": MOUNT_DIR,
        "s3EndpointUrl": moto_server.endpoint,
        "s3MountFreshnessSeconds": "2",
    }
    # What components/image.py passes with per-sandbox storage: no credential of any kind.
    args = stack_build_args(ensure_standin_base(), outputs)
    args.pop("SANDBOX_CREDENTIALS")
    args["SANDBOX_STORAGE"] = "per-sandbox"
    built = build_image(args, IMAGE_TAG)
    assert built.returncode == 0 and built.image_id, built.log[-4000:]
    a, b = sandbox_container(built.image_id), sandbox_container(built.image_id)
    backend = program_mount(
        bucket, moto_server.endpoint, long_lived["accessKeyId"], long_lived["secretAccessKey"]
    ).mount()
    sts = moto_server.client("sts", long_lived["accessKeyId"], long_lived["secretAccessKey"])
    config = StorageConfig(
        bucket=bucket, region=moto_server.region, storage="per-sandbox",
        sts_endpoint=moto_server.endpoint,
    )  # fmt: skip
    try:
        yield World(bucket, built.image_id, a, b, config, sts,
                    long_lived["secretAccessKey"], backend)  # fmt: skip
    finally:
        for sandbox in (a, b):
            podman("rm", "--force", "--time", "2", sandbox.container, check=False)
        backend.close()


def status_of(sandbox: PodmanSandbox) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(in_container(sandbox.container, f"cat {STATUS_FILE}"))
    return found


def as_agent(sandbox: PodmanSandbox, script: str) -> Any:
    """Agent code: uid 1000 without no_new_privs, as E2B's envd starts `commands.run`."""
    return podman("exec", "--user", "1000", sandbox.container, "sh", "-c", script, check=False)


def test_before_attach_the_mount_point_waits_and_refuses_writes(world: World) -> None:
    fresh = sandbox_container(world.image_id)
    try:
        status = status_of(fresh)
        assert status["ok"] is False and "not attached yet" in status["error"]
        refused = as_agent(fresh, f"echo lost > {MOUNT_DIR}/early.txt")
        assert refused.returncode != 0 and REFUSED.search(refused.stderr), refused.stderr
        assert in_container(fresh.container, "ls /etc/e2b-sandbox").split() == [
            "code-user", "sandbox.env", "storage",
        ]  # fmt: skip
    finally:
        podman("rm", "--force", "--time", "2", fresh.container, check=False)


def test_the_image_holds_no_credential_of_any_kind(world: World) -> None:
    history = json.dumps(image_history(world.image_id))
    # Build args show in the history as NAME=value: the key's is never passed.
    assert not re.search(r"SANDBOX_CREDENTIALS=\S", history)
    assert "AWS_SECRET_ACCESS_KEY" not in history and world.long_lived_secret not in history
    files = in_container(world.a.container, "ls /etc/e2b-sandbox; cat /etc/e2b-sandbox/*")
    assert "credentials.env" not in files and "AWS_SECRET_ACCESS_KEY" not in files


def test_each_sandbox_writes_under_its_own_prefix_and_the_backend_reads_it(
    world: World, moto_server: MotoServer
) -> None:
    attached = world.attach(world.a)
    assert attached.prefix == f"sandboxes/{world.a.sandbox_id}/"
    assert attached.status["ok"] is True and attached.status["keyPrefix"] == attached.prefix
    payload = f"result {uuid.uuid4()}"
    written = as_agent(world.a, f"printf %s '{payload}' > {MOUNT_DIR}/result.txt")
    assert written.returncode == 0, written.stderr
    s3 = moto_server.client("s3")
    body = s3.get_object(Bucket=world.bucket, Key=f"{attached.prefix}result.txt")["Body"].read()
    assert body.decode() == payload
    through_mount = world.backend.dir / attached.prefix / "result.txt"
    assert wait_for(lambda: through_mount.exists(), timeout=10) is not None
    assert through_mount.read_text() == payload


def test_a_sandbox_sees_nothing_of_another(world: World, moto_server: MotoServer) -> None:
    world.attach(world.a)
    world.attach(world.b)
    assert as_agent(world.a, f"echo secret-of-a > {MOUNT_DIR}/a-only.txt").returncode == 0
    assert as_agent(world.b, f"echo b > {MOUNT_DIR}/b-only.txt").returncode == 0
    listing = as_agent(world.b, f"ls -a {MOUNT_DIR}").stdout.split()
    assert "a-only.txt" not in listing and "result.txt" not in listing and "b-only.txt" in listing
    assert as_agent(world.b, f"test -e {MOUNT_DIR}/a-only.txt").returncode != 0
    # Up from the mount is the sandbox's own disk, never the bucket's other prefixes.
    assert as_agent(world.b, f"ls {MOUNT_DIR}/../").stdout.split() == ["sentient"]
    keys = [o["Key"] for o in moto_server.client("s3").list_objects_v2(
        Bucket=world.bucket)["Contents"]]  # fmt: skip
    assert f"sandboxes/{world.b.sandbox_id}/b-only.txt" in keys
    assert f"sandboxes/{world.a.sandbox_id}/a-only.txt" in keys


def test_neither_sandbox_holds_the_backends_long_lived_key(world: World) -> None:
    for sandbox in (world.a, world.b):
        world.attach(sandbox)
        hunt = in_container(
            sandbox.container,
            f"grep -rl --exclude-dir=proc --exclude-dir=sys -- '{world.long_lived_secret}' / "
            "; cat /proc/[0-9]*/environ | tr '\\0' '\\n' | grep -c AWS; true",
        )
        assert world.long_lived_secret not in hunt
        assert not [line for line in hunt.splitlines() if line.startswith("/")], hunt


def test_agent_code_cannot_reach_the_session_or_widen_its_view(world: World) -> None:
    world.attach(world.a)
    session = in_container(world.a.container, f"cat {CREDENTIALS_FILE}")
    secret = next(
        line.split("=", 1)[1].strip('"')
        for line in session.splitlines()
        if line.startswith("AWS_SECRET_ACCESS_KEY=")
    )
    hunt = as_agent(
        world.a,
        f"cat {CREDENTIALS_FILE} /proc/[0-9]*/environ /proc/[0-9]*/cmdline /run/e2b-s3-mount/* "
        "/tmp/* 2>&1; ls /run/e2b-sandbox-attach 2>&1; true",
    )
    assert secret not in hunt.stdout + hunt.stderr
    assert "Permission denied" in hunt.stdout
    before = status_of(world.a)
    # Its own session file, its own mount: refused at every step, the mount unchanged.
    attempts = [
        f"printf 'S3_KEY_PREFIX=\"sandboxes/{world.b.sandbox_id}/\"\\n' > /tmp/mine.env"
        " && /root/.jupyter/start-up.sh --attach /tmp/mine.env",
        f"{MOUNT_PROGRAM} mount --env-file /etc/e2b-sandbox/sandbox.env",
        f"fusermount -u {MOUNT_DIR}",
        f"fusermount3 -u -z {MOUNT_DIR}",
        f"umount -l {MOUNT_DIR}",
    ]
    for attempt in attempts:
        assert as_agent(world.a, attempt).returncode != 0, attempt
    after = status_of(world.a)
    assert (after["ok"], after["keyPrefix"], after["pid"]) == (
        True, before["keyPrefix"], before["pid"],
    )  # fmt: skip
    assert as_agent(world.a, f"ls {MOUNT_DIR}").returncode == 0


def test_attaching_again_replaces_the_session_and_keeps_the_files(world: World) -> None:
    first = world.attach(world.a)
    assert as_agent(world.a, f"echo kept > {MOUNT_DIR}/kept.txt").returncode == 0
    second = world.attach(world.a, valid_for=7200)
    assert second.expires_at != first.expires_at
    assert second.status["credentialsExpireAt"] == second.expires_at
    assert as_agent(world.a, f"cat {MOUNT_DIR}/kept.txt").stdout == "kept\n"


def test_a_read_only_attach_refuses_the_agents_writes(world: World) -> None:
    """The mount refuses nothing itself: the session does, against AWS. moto does not evaluate
    session policies, so here only the attach and its status are checked."""
    attached = world.attach(world.b, read_only=True)
    assert attached.read_only and attached.status["ok"] is True


def test_a_mount_that_fails_raises_with_the_status_files_reason(world: World) -> None:
    name = f"sbx{uuid.uuid4().hex[:12]}"  # a sandbox without FUSE: its mount cannot be made
    podman("run", "--detach", "--rm", "--name", name, "--network=host", world.image_id,
           "sleep", "300")  # fmt: skip
    try:
        start_as_e2b_does(name)
        with pytest.raises(AttachError, match=r"not attached: .*/dev/fuse is missing"):
            world.attach(PodmanSandbox(name))
    finally:
        podman("rm", "--force", "--time", "2", name, check=False)


def test_detach_unmounts_removes_the_session_and_the_mount_point_refuses_writes(
    world: World,
) -> None:
    world.attach(world.b)
    status = detach(world.b)
    assert status["ok"] is False
    assert podman("exec", world.b.container, "test", "-e", CREDENTIALS_FILE,
                  check=False).returncode != 0  # fmt: skip
    refused = as_agent(world.b, f"echo lost > {MOUNT_DIR}/after-detach.txt")
    assert refused.returncode != 0 and REFUSED.search(refused.stderr), refused.stderr


def test_the_agent_publishes_a_tree_into_its_own_prefix_without_a_credential(
    world: World, moto_server: MotoServer
) -> None:
    attached = world.attach(world.a)
    built = as_agent(
        world.a,
        "mkdir -p /tmp/outputs/run && for n in $(seq 1 50); do echo $n > /tmp/outputs/run/$n.txt;"
        f" done && {MOUNT_PROGRAM} publish /tmp/outputs "
        f"{MOUNT_DIR}/published",
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "published 50 of 50 files" in built.stdout
    listed = moto_server.client("s3").list_objects_v2(
        Bucket=world.bucket, Prefix=f"{attached.prefix}published/"
    )["Contents"]
    assert len(listed) == 50
    # The publisher holds the session in memory; nothing of it reached the agent.
    session = in_container(world.a.container, f"cat {CREDENTIALS_FILE}")
    secret = next(
        line.split("=", 1)[1].strip('"')
        for line in session.splitlines()
        if line.startswith("AWS_SECRET_ACCESS_KEY=")
    )
    assert secret not in built.stdout + built.stderr
    hunt = as_agent(world.a, "cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null; true")
    assert secret not in hunt.stdout
