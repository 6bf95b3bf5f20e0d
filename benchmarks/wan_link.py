"""What the WAN benchmarks share: the link to moto (through the shaped proxy or straight), mounts
made by the mount program, and counting an action's S3 requests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from harness.bucket_mounts import Host, ProgramMount, program_mount
from harness.moto_server import MotoServer
from harness.wan_proxy import WanProxy

MIB = 1024 * 1024
# Quiet time around a counted action, so requests still in flight from before are not its own.
SETTLE_SECONDS = 0.3


@dataclass
class Link:
    """How the clients reach moto: through a shaped proxy, or straight (loopback)."""

    endpoint: str
    proxy: WanProxy | None

    def counts(self) -> tuple[int, dict[str, int]]:
        """The requests since the last reset, and how many of each kind (one read of the proxy's
        figures, so the two agree)."""
        return (0, {}) if self.proxy is None else self.proxy.counts()

    def reset(self) -> None:
        if self.proxy:
            self.proxy.reset()


def s3_client(server: MotoServer, endpoint: str, in_flight: int = 10) -> Any:
    """boto3 at `endpoint` with connections for `in_flight` requests at once."""
    return server.client("s3", endpoint_url=endpoint, config=Config(max_pool_connections=in_flight))


@contextmanager
def mounted(
    server: MotoServer, link: Link, host: Host, bucket: str, **settings: str
) -> Iterator[ProgramMount]:
    mount = program_mount(
        bucket, link.endpoint, server.access_key, server.secret_key, host, **settings
    )
    try:
        yield mount.mount()
    finally:
        mount.close()


def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def counted(link: Link, action: Callable[[], object]) -> tuple[int, dict[str, int]]:
    """The S3 requests one action costs, as the proxy saw them."""
    time.sleep(SETTLE_SECONDS)
    link.reset()
    action()
    time.sleep(SETTLE_SECONDS)
    return link.counts()
