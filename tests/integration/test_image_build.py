"""The sandbox image, built for real with podman from the project's Dockerfile (issue #4).

One build per module with the build args the stack passes (a fresh key per session, so the
credentials step always runs), then: what the image exposes (Config.Env, history), what it contains
(fuse.conf, start-up.sh, the root-only credentials file), how a key rotation uses the cache, how
pinned downloads are verified, and a real mount of a moto bucket from inside a container.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.podman_support import (
    BuildResult,
    build_image,
    ensure_standin_base,
    image_history,
    inspect_image,
    podman,
    remove_image,
    run_in_image,
)
from tests.support.moto_server import MotoServer

# The first build pays for debootstrap (once per machine) and the apt and pip layers.
pytestmark = [pytest.mark.podman, pytest.mark.timeout(900)]

IMAGE_TAG = "localhost/e2b-sandbox-test"
MOUNT_DIR = "/opt/sentient"
CREDENTIALS_FILE = "/etc/e2b-sandbox/credentials.env"
RUN_STEPS_IN_DOCKERFILE = 4  # apt, pip, pinned downloads, credentials


@dataclass(frozen=True)
class BuiltImage:
    image_id: str
    build: BuildResult
    args: dict[str, str]

    @property
    def secret(self) -> str:
        return self.args["AWS_SECRET_ACCESS_KEY"]


def _fresh_key() -> tuple[str, str]:
    token = uuid.uuid4().hex
    return f"AKIA{token[:16].upper()}", f"test-secret/{token}+rotated"


def _require_success(result: BuildResult) -> str:
    assert result.returncode == 0 and result.image_id, f"build failed:\n{result.log[-6000:]}"
    return result.image_id


@pytest.fixture(scope="module")
def standin_base() -> str:
    for tool in ("podman", "buildah", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `bash .ci/install-test-deps.sh`")
    return ensure_standin_base()


@pytest.fixture(scope="module")
def build_args(standin_base: str, moto_server: MotoServer) -> dict[str, str]:
    """The build args the stack passes, pointed at moto; GitHub downloads are unreachable here."""
    bucket = f"e2b-image-{uuid.uuid4().hex[:12]}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    access_key, secret_key = _fresh_key()
    return {
        "BASE_IMAGE": standin_base,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_REGION": moto_server.region,
        "S3_BUCKET_NAME": bucket,
        "S3_MOUNT_DIR": MOUNT_DIR,
        "S3_ENDPOINT_URL": moto_server.endpoint,
        "GOOFYS_URL": "",
        "GEESEFS_URL": "",
    }


def _image_id(reference: str) -> str | None:
    """The image's ID as the build's iidfile writes it (sha256:...), or None when absent."""
    found = podman("image", "inspect", "--format", "{{.Id}}", reference, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        return None
    return f"sha256:{found.stdout.strip().removeprefix('sha256:')}"


@pytest.fixture(scope="module")
def image(build_args: dict[str, str]) -> BuiltImage:
    """The session's image. The tag stays, so the next run finds the heavy layers cached."""
    tag = f"{IMAGE_TAG}:session"
    previous = _image_id(tag)
    result = build_image(build_args, tag)
    image_id = _require_success(result)
    if previous and previous != image_id:
        # Only the last run's own branch goes: layers shared with this build stay.
        remove_image(previous)
    return BuiltImage(image_id, result, build_args)


def _sh(image_id: str, script: str, *run_args: str) -> str:
    result = run_in_image(image_id, ["sh", "-c", script], run_args)
    assert result.returncode == 0, f"{script!r} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_build_with_the_stacks_build_args_succeeds(image: BuiltImage) -> None:
    assert image.image_id.startswith("sha256:")
    assert image.build.run_steps == RUN_STEPS_IN_DOCKERFILE
    # The key is new in every session, so at least the credentials step ran.
    assert image.build.run_steps_executed >= 1


def test_secret_is_not_in_the_image_environment(image: BuiltImage) -> None:
    env: list[str] = inspect_image(image.image_id)["Config"]["Env"]
    assert not [entry for entry in env if image.secret in entry]
    assert not [entry for entry in env if entry.startswith("AWS_SECRET_ACCESS_KEY=")]
    # The non-secret settings are there on purpose, for the agent code.
    assert f"S3_BUCKET_NAME={image.args['S3_BUCKET_NAME']}" in env
    assert f"S3_MOUNT_DIR={MOUNT_DIR}" in env


def test_secret_appears_in_at_most_one_history_entry(image: BuiltImage) -> None:
    history = image_history(image.image_id)
    hits = [n for n, entry in enumerate(history) if image.secret in json.dumps(entry)]
    assert len(hits) <= 1, [history[n]["CreatedBy"][:200] for n in hits]
    # podman lists the newest entry first: only the last step may have seen the key.
    assert hits in ([], [0])


def test_fuse_conf_allows_other_exactly_once(image: BuiltImage) -> None:
    fuse_conf = _sh(image.image_id, "cat /etc/fuse.conf")
    assert [line.strip() for line in fuse_conf.splitlines()].count("user_allow_other") == 1


def test_start_up_script_is_installed_executable(image: BuiltImage) -> None:
    mode, owner = _sh(image.image_id, "stat -c '%a %U' /root/.jupyter/start-up.sh").split()
    assert int(mode, 8) & 0o111 == 0o111
    assert owner == "root"


def test_workdir_is_workspace(image: BuiltImage) -> None:
    assert inspect_image(image.image_id)["Config"]["WorkingDir"] == "/workspace"


def test_baked_credentials_file_is_root_only_and_holds_the_build_args(image: BuiltImage) -> None:
    stats = _sh(image.image_id, f"stat -c '%a %U %G' {CREDENTIALS_FILE} /etc/e2b-sandbox")
    assert stats.splitlines() == ["400 root root", "700 root root"]
    baked = dict(
        line.split("=", 1) for line in _sh(image.image_id, f"cat {CREDENTIALS_FILE}").splitlines()
    )
    expected_keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "S3_BUCKET_NAME")
    expected = {key: image.args[key] for key in (*expected_keys, "S3_MOUNT_DIR", "S3_ENDPOINT_URL")}
    assert baked == expected


def test_key_rotation_reruns_only_the_credentials_step(image: BuiltImage) -> None:
    access_key, secret_key = _fresh_key()
    rotated_args = {
        **image.args,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
    }
    rotated = build_image(rotated_args, f"{IMAGE_TAG}:rotated")
    try:
        rotated_id = _require_success(rotated)
        assert rotated.run_steps == RUN_STEPS_IN_DOCKERFILE
        assert rotated.run_steps_executed == 1, rotated.log[-4000:]
        baked = _sh(rotated_id, f"cat {CREDENTIALS_FILE}")
        assert f"AWS_SECRET_ACCESS_KEY={secret_key}" in baked.splitlines()
        assert image.secret not in baked
    finally:
        remove_image(f"{IMAGE_TAG}:rotated")


def test_empty_client_urls_leave_those_clients_out(image: BuiltImage) -> None:
    present = _sh(
        image.image_id, "for c in goofys geesefs s3fs rclone; do command -v $c; done; true"
    )
    assert "/goofys" not in present and "/geesefs" not in present
    assert "/s3fs" in present and "/rclone" in present


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output free of request lines."""


@pytest.fixture(scope="module")
def local_download(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(URL, SHA-256) of a stand-in client binary served on 127.0.0.1, as GitHub is unreachable."""
    directory = tmp_path_factory.mktemp("downloads")
    body = b"#!/bin/sh\necho stand-in mount client\n"
    (directory / "client").write_bytes(body)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/client", hashlib.sha256(body).hexdigest()
    finally:
        server.shutdown()
        server.server_close()


def test_download_with_matching_sha256_is_installed(
    image: BuiltImage, local_download: tuple[str, str]
) -> None:
    url, sha256 = local_download
    tag = f"{IMAGE_TAG}:pinned-download"
    result = build_image({**image.args, "GOOFYS_URL": url, "GOOFYS_SHA256": sha256}, tag)
    try:
        image_id = _require_success(result)
        assert _sh(image_id, "stat -c %a /usr/local/bin/goofys && goofys").split() == [
            "755",
            "stand-in",
            "mount",
            "client",
        ]
    finally:
        remove_image(tag)


def test_download_with_wrong_sha256_fails_the_build(
    image: BuiltImage, local_download: tuple[str, str]
) -> None:
    url, sha256 = local_download
    wrong = hashlib.sha256(sha256.encode()).hexdigest()
    tag = f"{IMAGE_TAG}:wrong-checksum"
    result = build_image({**image.args, "GEESEFS_URL": url, "GEESEFS_SHA256": wrong}, tag)
    remove_image(tag)
    assert result.returncode != 0
    assert result.image_id is None
    assert "FAILED" in result.log  # sha256sum -c names the mismatch


def _wait_for_object(moto_server: MotoServer, bucket: str, key: str, timeout: float) -> bytes:
    """The object's body once it reaches the bucket (FUSE clients upload asynchronously)."""
    s3 = moto_server.client("s3")
    deadline = time.monotonic() + timeout
    while True:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
        if any(item["Key"] == key for item in listed):
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} did not reach {bucket} within {timeout} s")
        time.sleep(0.5)


def test_mount_only_mounts_the_bucket_with_the_baked_credentials(
    image: BuiltImage, moto_server: MotoServer
) -> None:
    # No AWS_* or S3_ENDPOINT_URL in the container's environment: start-up.sh can only have the
    # key and the endpoint from the file the image baked.
    fuse_access = ("--device", "/dev/fuse", "--cap-add", "SYS_ADMIN")
    run = ("run", "--detach", "--rm", "--network=host", *fuse_access, image.image_id)
    container = podman(*run, "sleep", "600").stdout.strip()
    try:
        mounted = podman(
            "exec", container, "/root/.jupyter/start-up.sh", "--mount-only", check=False
        )
        status = podman("exec", container, "cat", "/tmp/s3-mount-status.json", check=False).stdout
        assert mounted.returncode == 0, mounted.stderr
        report = json.loads(status)
        assert report["ok"] is True, report
        assert report["bucket"] == image.args["S3_BUCKET_NAME"]
        assert report["mountDir"] == MOUNT_DIR

        payload = f"written in the sandbox {uuid.uuid4()}\n"
        write = f"printf %s '{payload}' > {MOUNT_DIR}/from-container.txt && sync"
        podman("exec", container, "sh", "-c", write)
        body = _wait_for_object(moto_server, image.args["S3_BUCKET_NAME"], "from-container.txt", 30)
        assert body.decode() == payload
    finally:
        podman("rm", "--force", "--time", "2", container, check=False)


def test_build_result_counts_cached_and_executed_run_steps() -> None:
    log = "\n".join(
        [
            "STEP 1/4: FROM base",
            "STEP 2/4: RUN apt-get update",
            "--> Using cache 1234",
            "STEP 3/4: COPY a b",
            "--> Using cache 5678",
            "STEP 4/4: RUN write credentials",
            "--> 9abc",
        ]
    )
    result = BuildResult(returncode=0, log=log, seconds=1.0, image_id="sha256:9abc")
    assert (result.run_steps, result.run_steps_executed) == (2, 1)


def test_standin_is_tagged_with_the_base_images_name(standin_base: str) -> None:
    # The tarball cache under build/podman only matters when podman lacks the image: on a machine
    # that already imported it (a second CI run) nothing is rebuilt, so only the tag is checked.
    assert standin_base.startswith("docker.io/e2bdev/code-interpreter:debootstrap-standin-")
    assert podman("image", "exists", standin_base, check=False).returncode == 0
