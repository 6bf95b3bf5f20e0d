"""A hostile review's findings, each replayed in a container of the real image started as E2B
starts it (issue 21): the sandbox user without no_new_privs, as `podman exec --user 1000` and
E2B's envd give it (`sandbox.commands.run` without user="root"), with /dev/fuse usable by all as on
a Linux VM, tries to stack its own FUSE mount over the bucket or anywhere else, to stall the mount
program by holding its lock, and to use a sudo rule in each form the old clean-up let through."""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.e2b_sandbox import E2B_FINALIZE, FAKE_SERVERS, MOUNT_PROGRAM, in_container
from harness.moto_server import MotoServer
from harness.podman import build_image, ensure_standin_base, podman, remove_image, stack_build_args
from s3mount.contract import START_SCRIPT

pytestmark = [pytest.mark.podman, pytest.mark.fuse, pytest.mark.timeout(900)]

MOUNT_DIR = "/opt/sentient"
SETTINGS = "--env-file /etc/e2b-sandbox/sandbox.env --env-file /etc/e2b-sandbox/credentials.env"
FUSE = ("--device", "/dev/fuse", "--cap-add", "SYS_ADMIN")
# Every form of a sudo rule that names the sandbox user without starting with its name.
SUDO_RULES = {
    "/etc/sudoers": "%user ALL=(ALL:ALL) NOPASSWD: ALL\n#1000 ALL=(ALL) NOPASSWD: ALL\n",
    "/etc/sudoers.d/alias": "User_Alias SB = user\nSB ALL=(ALL) NOPASSWD: ALL\n",
    "/etc/sudoers.d/everyone": "ALL ALL=(ALL) NOPASSWD: ALL\n",
    "/etc/sudoers.d/e2b": "user ALL=(ALL:ALL) NOPASSWD: ALL\n",
}


@dataclass(frozen=True)
class Sandbox:
    container: str
    bucket: str
    endpoint: str

    def as_user(self, script: str, timeout: float = 60) -> tuple[int, str]:
        done = podman("exec", "--user", "1000", self.container, "sh", "-c", script,
                      check=False, timeout=timeout)  # fmt: skip
        return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def image(moto_server: MotoServer) -> Iterator[tuple[str, str]]:
    bucket = f"hardening-{uuid.uuid4().hex[:8]}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    outputs = {
        "accessKeyId": f"AKIA{uuid.uuid4().hex[:16].upper()}",
        "secretAccessKey": uuid.uuid4().hex,
        "region": moto_server.region,
        "bucketName": bucket,
        "s3MountDir": MOUNT_DIR,
        "s3EndpointUrl": moto_server.endpoint,
        "s3MountFreshnessSeconds": "2",
    }
    tag = "localhost/e2b-sandbox-test:hardening"
    built = build_image(stack_build_args(ensure_standin_base(), outputs), tag)
    assert built.returncode == 0 and built.image_id, built.log[-4000:]
    yield built.image_id, bucket
    remove_image(tag)


@pytest.fixture
def sandbox(image: tuple[str, str], moto_server: MotoServer) -> Iterator[Sandbox]:
    """The image started as E2B starts it, after E2B's setup and the review's sudo rules, on a
    machine whose /dev/fuse everyone may open."""
    image_id, bucket = image
    name = f"hard{uuid.uuid4().hex[:10]}"
    podman("run", "--detach", "--rm", "--name", name, "--network=host", *FUSE, image_id,
           "sleep", "900")  # fmt: skip
    try:
        in_container(name, E2B_FINALIZE)
        in_container(name, FAKE_SERVERS)
        for path, rules in SUDO_RULES.items():
            in_container(name, f"printf '%s' '{rules}' >> {path} && chmod 0440 {path}")
        in_container(name, "chmod 0666 /dev/fuse")
        podman("exec", "--detach", name, START_SCRIPT)
        deadline = time.monotonic() + 60
        while podman("exec", name, "test", "-f", "/tmp/server-ran", check=False).returncode:
            assert time.monotonic() < deadline, "the start command did not start the servers"
            time.sleep(0.5)
        yield Sandbox(name, bucket, moto_server.endpoint)
    finally:
        podman("rm", "--force", "--time", "2", name, check=False)


def fuse_mounts(sandbox: Sandbox) -> list[str]:
    return [
        line
        for line in in_container(sandbox.container, "cat /proc/self/mountinfo").splitlines()
        if " - fuse" in line
    ]


def test_the_sandbox_user_cannot_stack_a_fuse_mount_over_the_bucket_or_anywhere(
    sandbox: Sandbox,
) -> None:
    before = fuse_mounts(sandbox)
    assert len(before) == 1 and f" {MOUNT_DIR} " in before[0]
    options = f"url={sandbox.endpoint},use_path_request_style,nonempty,allow_other"
    for target in (MOUNT_DIR, "/tmp/mine"):
        _, output = sandbox.as_user(
            f"mkdir -p /tmp/mine; AWSACCESSKEYID=x AWSSECRETACCESSKEY=y "
            f"s3fs {sandbox.bucket} {target} -o {options} -f & sleep 3; kill %1 2>/dev/null; true"
        )
        assert fuse_mounts(sandbox) == before, f"{target}: {output}"
    # Root's own mount needs neither: what let the user mount is gone from the image.
    modes = in_container(sandbox.container, "stat -L -c '%a %n' /usr/bin/fusermount*")
    assert modes.strip(), "no fusermount to check"
    assert [m for m in modes.splitlines() if int(m.split()[0], 8) & 0o4000] == []
    allowed = in_container(sandbox.container, "grep -c '^ *user_allow_other' /etc/fuse.conf; true")
    assert allowed.strip() == "0"


HOLD_EVERY_LOCK = textwrap.dedent(
    """
    import fcntl, glob, sys, time
    held = {}  # kept open: a closed file lets its lock go
    for path in glob.glob("/run/e2b-s3-mount/**", recursive=True):
        try:
            handle = open(path)
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held[path] = handle
        except OSError:
            pass
    open("/tmp/held", "w").write(repr(sorted(held)))
    time.sleep(120)
    """
)


def test_a_lock_the_sandbox_user_holds_stalls_neither_check_mount_nor_the_watcher(
    sandbox: Sandbox,
) -> None:
    podman("exec", "--detach", "--user", "1000", sandbox.container, "python3", "-c",
           HOLD_EVERY_LOCK)  # fmt: skip
    time.sleep(2)
    holding = in_container(sandbox.container, "cat /tmp/held")
    for command in ("check", "mount"):
        started = time.monotonic()
        done = podman("exec", sandbox.container, "sh", "-c",
                      f"timeout 20 {MOUNT_PROGRAM} {command} {SETTINGS}", check=False)  # fmt: skip
        assert done.returncode == 0, f"{command} stalled ({holding}): {done.stdout}{done.stderr}"
        assert time.monotonic() - started < 15, command
    # The watcher's clean-up after its client dies takes the lock too.
    status = json.loads(in_container(sandbox.container, "cat /run/e2b-s3-mount/opt-sentient.json"))
    in_container(sandbox.container, f"kill -9 {status['pid']}")
    deadline = time.monotonic() + 15
    while json.loads(in_container(
        sandbox.container, "cat /run/e2b-s3-mount/opt-sentient.json"))["ok"]:  # fmt: skip
        assert time.monotonic() < deadline, "the watcher never reported its client's end"
        time.sleep(0.5)


def test_no_sudo_rule_of_any_form_survives_the_start_command(sandbox: Sandbox) -> None:
    listed = in_container(sandbox.container, "sudo -l -U user 2>&1; true")
    assert "not allowed to run sudo" in listed, listed
    code, output = sandbox.as_user("sudo -n true")
    assert code != 0, output
    code, output = sandbox.as_user("sudo -n -u root id -u")
    assert code != 0 and "0\n" not in output, output
