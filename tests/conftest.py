"""Fixtures shared by every test layer.

- Pulumi mocks are process-global, so one autouse fixture installs them for the whole session and
  clears what they recorded before each test.
- The mount program is tested where it runs: this machine (Debian 12, s3fs 1.90) and a chroot
  of Debian 13 (s3fs 1.95, as in the image's python:3.13 base).
- moto servers are real processes on 127.0.0.1; one without IAM enforcement (FUSE clients sign
  listing requests in a way enforcing moto rejects) and one with it (access-matrix tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bucket_mounts import THIS_MACHINE, Host
from tests.support.debian_root import S3FS_DEBIAN_13, chroot
from tests.support.moto_server import MotoServer, start_moto
from tests.support.paths import REPO_ROOT
from tests.support.pulumi_mocks import RecordingMocks, install_mocks


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def _session_mocks() -> RecordingMocks:
    return install_mocks()


@pytest.fixture(autouse=True)
def pulumi_mocks(_session_mocks: RecordingMocks) -> RecordingMocks:
    """The recording mocks, emptied for this test."""
    _session_mocks.reset()
    return _session_mocks


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto without IAM enforcement: for FUSE mounts and image tests."""
    server = start_moto(enforce_iam=False, log_dir=tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_iam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto that enforces IAM policies; its admin key is the server's default key."""
    server = start_moto(enforce_iam=True, log_dir=tmp_path_factory.mktemp("moto-iam"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def debian13_root() -> Iterator[Path]:
    """A Debian 13 chroot with its s3fs and python3, made once per session."""
    with chroot(S3FS_DEBIAN_13) as root:
        yield root


@pytest.fixture(scope="session", params=["debian12", "debian13"])
def mount_host(request: pytest.FixtureRequest) -> Host:
    """Where the mount program runs: each contract test runs against both s3fs versions."""
    if request.param == "debian12":
        return THIS_MACHINE
    return Host("debian13", request.getfixturevalue("debian13_root"))


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    """A new, empty bucket on the session's moto (no IAM enforcement)."""
    name = f"bucket-{uuid.uuid4().hex[:12]}"
    moto_server.client("s3").create_bucket(Bucket=name)
    return name
