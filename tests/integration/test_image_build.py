"""The sandbox image, built for real with podman from the project's Dockerfile.

One build per module with the build args the stack passes (a fresh key per session, so the key
step always runs), then: what the image exposes (no ENV, history), what it holds (s3fs, the mount
program, the start command, the baked settings and the root-only key file), how a key rotation
uses the cache, a real mount of a moto bucket from inside a container, and the start command as
E2B runs it: the servers run as the sandbox user, who cannot read the key by any path.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.e2b_sandbox import KEY_HUNT, MOUNT_PROGRAM, in_container, start_as_e2b_does
from harness.moto_server import MotoServer
from harness.podman import (
    BuildResult,
    build_image,
    ensure_standin_base,
    image_history,
    inspect_image,
    podman,
    remove_image,
    run_in_image,
    stack_build_args,
)
from s3mount.contract import START_SCRIPT

# The first build pays for debootstrap (once per machine) and the apt and pip layers.
pytestmark = [pytest.mark.podman, pytest.mark.timeout(900)]

IMAGE_TAG = "localhost/e2b-sandbox-test"
MOUNT_DIR = "/opt/sentient"
SETTINGS_FILE = "/etc/e2b-sandbox/sandbox.env"
CREDENTIALS_FILE = "/etc/e2b-sandbox/credentials.env"
STATUS_FILE = "/run/e2b-s3-mount/opt-sentient.json"
RUN_STEPS_IN_DOCKERFILE = (
    6  # the zipapp (its own stage), apt, pip, /root access, settings, key pair
)
FUSE = ("--device", "/dev/fuse", "--cap-add", "SYS_ADMIN")


@dataclass(frozen=True)
class BuiltImage:
    image_id: str
    build: BuildResult
    args: dict[str, str]
    outputs: dict[str, str]

    @property
    def secret(self) -> str:
        return self.outputs["secretAccessKey"]

    @property
    def bucket(self) -> str:
        return self.outputs["bucketName"]


def fresh_key() -> dict[str, str]:
    token = uuid.uuid4().hex
    return {"accessKeyId": f"AKIA{token[:16].upper()}", "secretAccessKey": f"SeCrEt/{token}+x"}


def require_success(result: BuildResult) -> str:
    assert result.returncode == 0 and result.image_id, f"build failed:\n{result.log[-6000:]}"
    return result.image_id


@pytest.fixture(scope="module")
def standin_base() -> str:
    for tool in ("podman", "buildah", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `bash .ci/install-test-deps.sh`")
    return ensure_standin_base()


@pytest.fixture(scope="module")
def stack_outputs(moto_server: MotoServer) -> dict[str, str]:
    """The stack outputs the image is built from, pointed at moto, with a fresh key."""
    bucket = f"e2b-image-{uuid.uuid4().hex[:12]}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    return {
        **fresh_key(),
        "region": moto_server.region,
        "bucketName": bucket,
        "s3MountDir": MOUNT_DIR,
        "s3EndpointUrl": moto_server.endpoint,
        "s3MountFreshnessSeconds": "2",
    }


def image_id_of(reference: str) -> str | None:
    """The image's ID as the build's iidfile writes it (sha256:...), or None when absent."""
    found = podman("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        return None
    return f"sha256:{found.stdout.strip().removeprefix('sha256:')}"


@pytest.fixture(scope="module")
def image(standin_base: str, stack_outputs: dict[str, str]) -> BuiltImage:
    """The session's image. The tag stays, so the next run finds the heavy layers cached."""
    tag = f"{IMAGE_TAG}:session"
    previous = image_id_of(tag)
    args = stack_build_args(standin_base, stack_outputs)
    result = build_image(args, tag)
    image_id = require_success(result)
    if previous and previous != image_id:
        remove_image(previous)  # only the last run's own branch goes
    return BuiltImage(image_id, result, args, stack_outputs)


def sh(image_id: str, script: str, *run_args: str) -> str:
    result = run_in_image(image_id, ["sh", "-c", script], run_args)
    assert result.returncode == 0, f"{script!r} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


# --- what the image is ------------------------------------------------------------------------


def test_build_with_the_stacks_build_args_succeeds(image: BuiltImage) -> None:
    assert image.image_id.startswith("sha256:")
    assert image.build.run_steps == RUN_STEPS_IN_DOCKERFILE
    assert image.build.run_steps_executed >= 1  # the key is new in every session


def test_the_image_sets_no_environment_and_the_key_is_in_one_history_entry(
    image: BuiltImage,
) -> None:
    config = inspect_image(image.image_id)["Config"]
    assert not [entry for entry in config.get("Env") or [] if image.secret in entry]
    history = image_history(image.image_id)
    hits = [n for n, entry in enumerate(history) if image.secret in json.dumps(entry)]
    # podman lists the newest entry first: only the last step may have seen the key.
    assert hits in ([], [0]), [history[n]["CreatedBy"][:200] for n in hits]


def test_the_settings_are_world_readable_and_the_key_root_only(image: BuiltImage) -> None:
    stats = sh(image.image_id, f"stat -c '%a %U %G' {SETTINGS_FILE} {CREDENTIALS_FILE}")
    assert stats.splitlines() == ["644 root root", "400 root root"]
    settings = sh(image.image_id, f"cat {SETTINGS_FILE}")
    assert settings == image.args["SANDBOX_SETTINGS"] + "\n"
    assert image.secret not in settings
    assert image.secret in sh(image.image_id, f"cat {CREDENTIALS_FILE}")
    assert sh(image.image_id, "cat /etc/e2b-sandbox/code-user") == "user\n"


def test_the_image_holds_s3fs_the_mount_program_and_the_start_command(image: BuiltImage) -> None:
    listing = sh(
        image.image_id,
        "command -v s3fs; command -v setpriv; "
        f"stat -c '%a %U %n' /usr/lib/e2b-sandbox/s3mount.pyz {START_SCRIPT}",
    )
    assert listing.splitlines() == [
        "/usr/bin/s3fs",
        "/usr/bin/setpriv",
        "755 root /usr/lib/e2b-sandbox/s3mount.pyz",
        f"755 root {START_SCRIPT}",
    ]
    fuse_conf = sh(image.image_id, "cat /etc/fuse.conf")
    # Root mounts without it: no other user may pass allow_other (issue 21).
    assert [line.strip() for line in fuse_conf.splitlines()].count("user_allow_other") == 0


def test_a_key_rotation_reruns_only_the_key_step(image: BuiltImage, standin_base: str) -> None:
    rotated_outputs = {**image.outputs, **fresh_key()}
    tag = f"{IMAGE_TAG}:rotated"
    rotated = build_image(stack_build_args(standin_base, rotated_outputs), tag)
    try:
        rotated_id = require_success(rotated)
        assert rotated.run_steps_executed == 1, rotated.log[-4000:]
        baked = sh(rotated_id, f"cat {CREDENTIALS_FILE}")
        assert rotated_outputs["secretAccessKey"] in baked
        assert image.secret not in baked
    finally:
        remove_image(tag)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SANDBOX_CREDENTIALS": ""}, "SANDBOX_CREDENTIALS is required"),
        ({"SANDBOX_CREDENTIALS": 'AWS_ACCESS_KEY_ID="AKIAX"\n'}, "AWS_SECRET_ACCESS_KEY: required"),
        ({"SANDBOX_CODE_USER": "admin"}, "SANDBOX_CODE_USER must be user or root"),
    ],
)
def test_bad_settings_fail_the_build_with_a_reason(
    image: BuiltImage, change: dict[str, str], message: str
) -> None:
    tag = f"{IMAGE_TAG}:bad-{uuid.uuid4().hex[:6]}"
    result = build_image({**image.args, **change}, tag)
    remove_image(tag)
    assert result.returncode != 0 and result.image_id is None
    assert message in result.log
    assert image.secret not in result.log


# --- the image at work ------------------------------------------------------------------------


@pytest.fixture
def container(image: BuiltImage) -> Iterator[str]:
    """A running container of the image (host network: moto is on this machine's loopback)."""
    started = podman(
        "run", "--detach", "--rm", "--network=host", *FUSE, image.image_id, "sleep", "600"
    )
    name = started.stdout.strip()
    yield name
    podman("rm", "--force", "--time", "2", name, check=False)


def test_mount_only_mounts_the_bucket_with_the_baked_settings_alone(
    image: BuiltImage, container: str, moto_server: MotoServer
) -> None:
    # Nothing in the container's environment: the key and the endpoint come from the baked files.
    mounted = podman("exec", container, START_SCRIPT, "--mount-only", check=False)
    assert mounted.returncode == 0, mounted.stderr
    status = json.loads(in_container(container, f"cat {STATUS_FILE}"))
    assert (status["ok"], status["bucket"], status["mountDir"]) == (True, image.bucket, MOUNT_DIR)
    payload = f"written in the sandbox {uuid.uuid4()}\n"
    in_container(container, f"printf %s '{payload}' > {MOUNT_DIR}/from-container.txt", "1000")
    body = moto_server.client("s3").get_object(Bucket=image.bucket, Key="from-container.txt")
    assert body["Body"].read().decode() == payload  # in the bucket when the write returned


def test_the_servers_run_as_the_sandbox_user_who_cannot_reach_the_key(
    image: BuiltImage, container: str, moto_server: MotoServer
) -> None:
    jupyter, server = start_as_e2b_does(container)
    assert jupyter[0] == "1000"
    assert "NoNewPrivs:\t1" in jupyter
    assert not [line for line in jupyter if image.secret in line]
    assert server == ["1000", "/root/.server"]

    hunt = podman("exec", "--user", "1000", container, "sh", "-c", KEY_HUNT, check=False)
    assert image.secret not in hunt.stdout + hunt.stderr
    assert "Permission denied" in hunt.stderr  # the hunt did reach the files, and was refused

    # The mount works for the code that runs there, and its writes are in the bucket.
    in_container(container, f"echo agent-output > {MOUNT_DIR}/agent.txt", "1000")
    s3 = moto_server.client("s3")
    assert s3.get_object(Bucket=image.bucket, Key="agent.txt")["Body"].read() == b"agent-output\n"

    # So does publishing a tree built on local disk, with no credential in the agent's hands.
    published = in_container(
        container,
        "mkdir -p /tmp/out/a && echo one > /tmp/out/a/1.txt && echo two > /tmp/out/2.txt && "
        f"{MOUNT_PROGRAM} publish /tmp/out {MOUNT_DIR}/results",
        "1000",
    )
    assert "published 2 of 2 files" in published and image.secret not in published
    assert s3.get_object(Bucket=image.bucket, Key="results/a/1.txt")["Body"].read() == b"one\n"
    again = podman("exec", "--user", "1000", container, "sh", "-c", KEY_HUNT, check=False)
    assert image.secret not in again.stdout + again.stderr


def test_with_code_user_root_the_servers_run_as_root(image: BuiltImage) -> None:
    tag = f"{IMAGE_TAG}:root-code"
    result = build_image({**image.args, "SANDBOX_CODE_USER": "root"}, tag)
    try:
        image_id = require_success(result)
        started = podman(
            "run", "--detach", "--rm", "--network=host", *FUSE, image_id, "sleep", "600"
        )
        container = started.stdout.strip()
        try:
            jupyter, server = start_as_e2b_does(container)
        finally:
            podman("rm", "--force", "--time", "2", container, check=False)
        assert (jupyter[0], server[0]) == ("0", "0")
    finally:
        remove_image(tag)


def test_build_result_counts_cached_and_executed_run_steps() -> None:
    log = "\n".join(
        [
            "[1/2] STEP 1/2: FROM base AS stage",
            "[1/2] STEP 2/2: RUN make the zipapp",
            "--> Using cache 0123",
            "[2/2] STEP 1/4: FROM base",
            "STEP 2/4: RUN apt-get update",
            "--> Using cache 1234",
            "STEP 3/4: COPY a b",
            "--> Using cache 5678",
            "STEP 4/4: RUN write credentials",
            "--> 9abc",
        ]
    )
    result = BuildResult(returncode=0, log=log, seconds=1.0, image_id="sha256:9abc")
    assert (result.run_steps, result.run_steps_executed) == (3, 1)


def test_standin_is_tagged_with_the_base_images_name(standin_base: str) -> None:
    assert standin_base.startswith("docker.io/e2bdev/code-interpreter:debootstrap-standin-")
    assert podman("image", "exists", standin_base, check=False).returncode == 0
