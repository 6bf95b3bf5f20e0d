"""The shared bucket's contract, through real FUSE mounts made by the mount program.

- Durable at close: when close() or fsync() returns, the bucket holds exactly the bytes written
  (checked with one GET right after, never by polling), and killing the client loses nothing.
- Failure is loud: an upload that cannot complete fails close()/fsync(), and the status says why.
- Fresh: what the S3 API or another mount changes is seen by name, in a listing and by content
  within S3_MOUNT_FRESHNESS_SECONDS.
"""

from __future__ import annotations

import errno
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.bucket_mounts import Host, ProgramMount, program_mount, wait_for
from harness.moto_server import MotoServer
from harness.wan_proxy import WanProxy

pytestmark = pytest.mark.fuse

MIB = 1024 * 1024
FRESHNESS = 2.0  # the default bound


@pytest.fixture
def s3(moto_server: MotoServer) -> Any:
    return moto_server.client("s3")


MountFactory = Callable[..., ProgramMount]


@pytest.fixture
def mount_factory(moto_server: MotoServer, mount_host: Host) -> Iterator[MountFactory]:
    """Mounts of a bucket (on moto, or through another endpoint), all taken down afterwards."""
    made: list[ProgramMount] = []

    def make(bucket: str, endpoint: str | None = None, **settings: str) -> ProgramMount:
        mount = program_mount(
            bucket,
            endpoint or moto_server.endpoint,
            moto_server.access_key,
            moto_server.secret_key,
            mount_host,
            **settings,
        )
        made.append(mount)
        return mount.mount()

    yield make
    for mount in made:
        mount.close()


@pytest.fixture
def mounted(mount_factory: MountFactory, bucket: str) -> ProgramMount:
    return mount_factory(bucket)


def body(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes now (one GET, no waiting), or None when there is no such key."""
    try:
        data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return data


def keys(s3: Any, bucket: str) -> set[str]:
    listing = s3.list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


# --- durable at close -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [4096, 64 * MIB], ids=["4KiB", "64MiB"])
def test_close_returns_once_the_bytes_are_in_the_bucket(
    mounted: ProgramMount, s3: Any, bucket: str, size: int
) -> None:
    data = os.urandom(size)
    with (mounted.dir / "result.bin").open("wb") as handle:
        for start in range(0, size, MIB):
            handle.write(data[start : start + MIB])
    assert body(s3, bucket, "result.bin") == data


def test_an_overwrite_is_in_the_bucket_at_close(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    (mounted.dir / "report.txt").write_bytes(b"first version, the longer one\n")
    (mounted.dir / "report.txt").write_bytes(b"second\n")
    assert body(s3, bucket, "report.txt") == b"second\n"


def test_a_rename_moves_the_key_before_it_returns(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    (mounted.dir / "draft.txt").write_bytes(b"final words\n")
    (mounted.dir / "draft.txt").rename(mounted.dir / "final.txt")
    assert body(s3, bucket, "final.txt") == b"final words\n"
    assert body(s3, bucket, "draft.txt") is None


def test_a_new_empty_file_is_in_the_bucket_at_close(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    (mounted.dir / "empty.txt").touch()
    assert body(s3, bucket, "empty.txt") == b""


def test_a_file_in_a_new_directory_is_in_the_bucket_at_close(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    (mounted.dir / "runs" / "42").mkdir(parents=True)
    (mounted.dir / "runs" / "42" / "out.csv").write_bytes(b"a,b\n1,2\n")
    assert body(s3, bucket, "runs/42/out.csv") == b"a,b\n1,2\n"


def test_fsync_puts_what_was_written_so_far_in_the_bucket(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    with (mounted.dir / "log.txt").open("wb") as handle:
        handle.write(b"line 1\n")
        handle.flush()
        os.fsync(handle.fileno())
        assert body(s3, bucket, "log.txt") == b"line 1\n"
        handle.write(b"line 2\n")
    assert body(s3, bucket, "log.txt") == b"line 1\nline 2\n"


def test_killing_the_client_right_after_close_loses_nothing(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    data = os.urandom(3 * MIB)
    (mounted.dir / "last-words.bin").write_bytes(data)
    os.kill(mounted.status()["pid"], signal.SIGKILL)
    assert body(s3, bucket, "last-words.bin") == data


# --- failure is loud --------------------------------------------------------------------------


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[WanProxy]:
    """A fault-injecting endpoint in front of moto (no added latency)."""
    with WanProxy(moto_server.endpoint, latency_ms=0, mib_per_s=0) as wan:
        yield wan


FAULTS = {
    # The endpoint goes away mid-write: every connection reset, new ones refused.
    "endpoint-stopped": ("down", {errno.EIO}, r"could not reach the endpoint"),
    # The key is rejected (as after its deletion): S3's 403 for every request.
    "credentials-rejected": ("reject", {errno.EPERM, errno.EACCES}, r"rejected the credentials"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("call", ["close", "fsync"])
def test_an_upload_that_cannot_complete_fails_the_call_and_the_status_says_why(
    mount_factory: MountFactory,
    proxy: WanProxy,
    s3: Any,
    bucket: str,
    fault: str,
    call: str,
) -> None:
    mode, errnos, reason = FAULTS[fault]
    mount = mount_factory(bucket, endpoint=proxy.endpoint)
    handle = (mount.dir / "doomed.bin").open("wb")
    handle.write(os.urandom(MIB))
    proxy.set_mode(mode)
    with pytest.raises(OSError) as failed:
        if call == "fsync":
            handle.flush()
            os.fsync(handle.fileno())
        else:
            handle.close()
    assert failed.value.errno in errnos, failed.value
    proxy.set_mode("pass")
    handle.close()  # closes the file descriptor; now it may upload, or still fail
    assert wait_for(lambda: mount.status().get("lastError") is not None, timeout=5) is not None
    assert mount.status()["lastError"] is not None
    assert re.search(reason, mount.status()["lastError"])


def test_a_failed_close_never_leaves_a_partial_object(
    mount_factory: MountFactory, proxy: WanProxy, s3: Any, bucket: str
) -> None:
    mount = mount_factory(bucket, endpoint=proxy.endpoint)
    (mount.dir / "whole.bin").write_bytes(b"version one\n")
    handle = (mount.dir / "whole.bin").open("wb")
    handle.write(os.urandom(20 * MIB))
    proxy.set_mode("down")
    with pytest.raises(OSError):
        handle.close()
    proxy.set_mode("pass")
    # S3 replaces an object whole, so none of the new bytes arrived. Opening with O_TRUNC is a
    # truncation s3fs makes at once (an empty object); the old bytes stay a noncurrent version.
    assert body(s3, bucket, "whole.bin") in (b"", b"version one\n")


# --- fresh ------------------------------------------------------------------------------------


def seen_within(
    predicate: Callable[[], bool], bound: float = FRESHNESS, interval: float = 0.05
) -> float:
    """Seconds until predicate held; fails the test past the bound (plus one poll)."""
    seconds = wait_for(predicate, timeout=bound + 5, interval=interval)
    assert seconds is not None, f"not seen within {bound + 5} s"
    assert seconds <= bound, f"seen after {seconds:.2f} s, over the {bound} s bound"
    return seconds


def names(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


def exists(path: Path) -> bool:
    return path.exists()


def content(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def test_a_put_through_the_api_is_seen_even_after_a_missing_lookup(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    target = mounted.dir / "from-backend.txt"
    assert not target.exists()  # the name was looked up while missing
    s3.put_object(Bucket=bucket, Key="from-backend.txt", Body=b"hello sandbox\n")
    seen_within(lambda: exists(target))
    assert target.read_bytes() == b"hello sandbox\n"


def test_a_name_polled_while_missing_is_seen_once_put(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    # A program waiting for a file polls its name, here every millisecond, so a lookup reaches
    # s3fs as soon as the kernel's entry expires. s3fs 1.90 and 1.95 renew a missing name's
    # cache entry on each lookup: polling for longer than the caches live must not keep the name
    # missing once it was put (s3mount/client.py: freshness_options).
    target = mounted.dir / "awaited.txt"
    assert wait_for(lambda: exists(target), timeout=2 * FRESHNESS, interval=0.001) is None
    s3.put_object(Bucket=bucket, Key="awaited.txt", Body=b"here\n")
    seen_within(lambda: exists(target), interval=0.001)


def test_a_put_through_the_api_is_seen_in_a_listing(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    (mounted.dir / "inbox").mkdir()
    assert names(mounted.dir / "inbox") == []
    s3.put_object(Bucket=bucket, Key="inbox/task.json", Body=b"{}")
    seen_within(lambda: names(mounted.dir / "inbox") == ["task.json"])


def test_a_key_under_a_new_prefix_appears_as_a_directory(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    # The backend writes keys without directory markers; the sandbox must still see the folder.
    s3.put_object(Bucket=bucket, Key="reports/2026/summary.md", Body=b"# done\n")
    seen_within(lambda: content(mounted.dir / "reports" / "2026" / "summary.md") == b"# done\n")
    assert "reports" in names(mounted.dir)


def test_an_overwrite_through_the_api_is_seen_by_content(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    target = mounted.dir / "config.json"
    s3.put_object(Bucket=bucket, Key="config.json", Body=b'{"v": 1}')
    seen_within(lambda: content(target) == b'{"v": 1}')
    s3.put_object(Bucket=bucket, Key="config.json", Body=b'{"v": 2, "longer": true}')
    seen_within(lambda: content(target) == b'{"v": 2, "longer": true}')


def test_a_delete_through_the_api_is_seen_by_name_and_in_a_listing(
    mounted: ProgramMount, s3: Any, bucket: str
) -> None:
    target = mounted.dir / "stale.txt"
    target.write_bytes(b"old\n")
    assert target.exists()
    s3.delete_object(Bucket=bucket, Key="stale.txt")
    seen_within(lambda: not target.exists())
    seen_within(lambda: "stale.txt" not in names(mounted.dir))


def test_two_mounts_of_one_bucket_see_each_others_changes(
    mount_factory: MountFactory, bucket: str
) -> None:
    sandbox, backend = mount_factory(bucket), mount_factory(bucket)
    assert not (backend.dir / "answer.txt").exists()
    (sandbox.dir / "answer.txt").write_bytes(b"42\n")
    seen_within(lambda: content(backend.dir / "answer.txt") == b"42\n")
    (backend.dir / "answer.txt").write_bytes(b"forty-two\n")
    seen_within(lambda: content(sandbox.dir / "answer.txt") == b"forty-two\n")
    (sandbox.dir / "answer.txt").unlink()
    seen_within(lambda: not (backend.dir / "answer.txt").exists())


def test_a_larger_freshness_bound_is_passed_to_the_caches(
    mount_factory: MountFactory, bucket: str
) -> None:
    mount = mount_factory(bucket, S3_MOUNT_FRESHNESS_SECONDS="30")
    assert mount.status()["freshnessSeconds"] == 30
    cmdline = Path(f"/proc/{mount.status()['pid']}/cmdline").read_bytes().decode()
    assert "stat_cache_expire=15" in cmdline
    assert "entry_timeout=7.5" in cmdline
    # The kernel holds a missing name exactly as long as s3fs does (s3mount/client.py says why).
    assert "negative_timeout=15" in cmdline
