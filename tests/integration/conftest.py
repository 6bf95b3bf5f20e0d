"""Integration tests: real parts on this machine (harness/): moto servers, real FUSE mounts with
s3fs 1.90 (this Debian 12) and 1.95 (a Debian 13 chroot, the image's release), podman builds and
containers, Docker Compose v2 on podman's socket.

moto servers are real processes on 127.0.0.1: one without IAM enforcement (FUSE clients sign
listing requests in a way enforcing moto rejects) and one with it (access-matrix tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bucket_mounts import THIS_MACHINE, Host, ProgramMount
from harness.debian_root import S3FS_DEBIAN_13, chroot
from harness.moto_server import MotoServer, start_moto
from tests.support.mock_fixtures import pulumi_mocks, session_mocks

__all__ = ["pulumi_mocks", "session_mocks"]


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


@pytest.fixture
def made() -> Iterator[list[ProgramMount]]:
    """The mounts a test makes; each is taken down afterwards, whatever state it was left in."""
    mounts: list[ProgramMount] = []
    yield mounts
    for mount in mounts:
        mount.close()
