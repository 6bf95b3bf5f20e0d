"""The bucket through the mount program over a WAN, against direct boto3 over the same WAN.

    make bench        # or: PYTHONPATH=.:docker/e2b-sandbox .venv/bin/python -m benchmarks.mount_wan

A proxy (harness/wan_proxy.py) sits between every client and moto: each chunk waits the
one-way latency (20 ms), each connection is paced to 40 MiB/s (like one S3 connection across
clouds), and every S3 request is counted where it crosses. Sandboxes reach S3 over such a link;
on loopback, two cores shared by moto, s3fs and the reader measure CPU contention instead.

Reported (markdown, for docs/mount-benchmark.md):
- S3 requests per operation, counted at the proxy: a figure that does not drift with load;
- throughput against direct boto3 through the same proxy, as the median of per-pair ratios
  (a direct sample right before each mount sample): 64 MiB durable write (in the bucket when
  close() returns), 64 MiB cold read, and 4 KiB files written one after another;
- close-to-visible time (0 by the contract: the object is checked right after close) and the
  freshness observed for changes made through the API;
- what a larger S3_MOUNT_FRESHNESS_SECONDS saves in requests;
- the same ratios on loopback, as a CPU-bound footnote.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.wan_link import (
    MIB,
    Link,
    counted,
    mounted,
    s3_client,
    seconds,
)
from harness.bucket_mounts import HOST_RECIPES, Host, mount_host, wait_for
from harness.moto_server import MotoServer, start_moto
from harness.paths import REPO_ROOT
from harness.wan_proxy import WanProxy

BIG = 64 * MIB
SMALL = 4096
SMALL_FILES = 40
LISTING = 1000
FRESHNESS_SAMPLES = 10
FRESHNESS_GIVE_UP_SECONDS = 30


def write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        for start in range(0, len(data), MIB):
            handle.write(data[start : start + MIB])


def read_file(path: Path) -> bytes:
    chunks = []
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            chunks.append(chunk)
    return b"".join(chunks)


def request_counts(
    server: MotoServer, link: Link, host: Host
) -> list[tuple[str, int, dict[str, int]]]:
    """Requests per operation through the mount, and for direct boto3 where it has a match."""
    s3_direct = server.client("s3")
    s3_wan = s3_client(server, link.endpoint)
    bucket = f"counts-{uuid.uuid4().hex[:8]}"
    s3_direct.create_bucket(Bucket=bucket)
    for number in range(LISTING):
        s3_direct.put_object(Bucket=bucket, Key=f"listing/{number:04d}", Body=b"x")
    s3_direct.put_object(Bucket=bucket, Key="seen-never.bin", Body=os.urandom(SMALL))
    s3_direct.put_object(Bucket=bucket, Key="big-cold.bin", Body=os.urandom(BIG))
    rows = []
    with mounted(server, link, host, bucket) as mount:
        root = mount.dir
        operations: list[tuple[str, Callable[[], object]]] = [
            ("create, write and close a 4 KiB file",
             lambda: write_file(root / "new.bin", b"x" * SMALL)),
            ("open and read a 4 KiB file (never seen before)",
             lambda: read_file(root / "seen-never.bin")),
            ("stat a missing name", lambda: (root / "missing.txt").exists()),
            (f"list a directory of {LISTING:,} keys", lambda: list((root / "listing").iterdir())),
            ("write a 64 MiB file (until close returns)",
             lambda: write_file(root / "big.bin", b"y" * BIG)),
            ("read a 64 MiB file (cold)", lambda: read_file(root / "big-cold.bin")),
        ]  # fmt: skip
        for name, action in operations:
            rows.append((name, *counted(link, action)))
    direct: list[tuple[str, Callable[[], object]]] = [
        ("direct: put a 4 KiB object",
         lambda: s3_wan.put_object(Bucket=bucket, Key="d.bin", Body=b"x" * SMALL)),
        ("direct: get a 4 KiB object",
         lambda: s3_wan.get_object(Bucket=bucket, Key="d.bin")["Body"].read()),
        ("direct: upload 64 MiB (upload_fileobj)",
         lambda: s3_wan.upload_fileobj(io.BytesIO(b"y" * BIG), bucket, "d-big.bin")),
        ("direct: download 64 MiB (download_fileobj)",
         lambda: s3_wan.download_fileobj(bucket, "d-big.bin", io.BytesIO())),
    ]  # fmt: skip
    for name, action in direct:
        rows.append((name, *counted(link, action)))
    return rows


@dataclass
class Ratios:
    write: list[float]
    read: list[float]
    small: list[float]
    direct_write: list[float]
    direct_read: list[float]
    direct_small: list[float]


def one_pair(server: MotoServer, link: Link, host: Host, ratios: Ratios) -> None:
    """A direct sample right before the mount's, for each of the three workloads."""
    s3_direct = server.client("s3")
    s3_wan = s3_client(server, link.endpoint)
    bucket = f"tput-{uuid.uuid4().hex[:8]}"
    s3_direct.create_bucket(Bucket=bucket)
    data, small = os.urandom(BIG), os.urandom(SMALL)
    for key in ("cold-direct.bin", "cold-mount.bin"):
        s3_direct.put_object(Bucket=bucket, Key=key, Body=data)
    with mounted(server, link, host, bucket) as mount:
        # boto3's transfer defaults: 8 MiB parts, 10 threads.
        direct = seconds(lambda: s3_wan.upload_fileobj(io.BytesIO(data), bucket, "w.bin"))
        through = seconds(lambda: write_file(mount.dir / "w-mount.bin", data))
        in_bucket = s3_direct.get_object(Bucket=bucket, Key="w-mount.bin")["Body"].read()
        assert in_bucket == data, "the mount's write was not in the bucket when close returned"
        ratios.write.append(direct / through)
        ratios.direct_write.append(BIG / MIB / direct)

        get = seconds(
            lambda: s3_wan.get_object(Bucket=bucket, Key="cold-direct.bin")["Body"].read()
        )
        fetch = seconds(lambda: s3_wan.download_fileobj(bucket, "cold-direct.bin", io.BytesIO()))
        through = seconds(lambda: read_file(mount.dir / "cold-mount.bin"))
        ratios.read.append(min(get, fetch) / through)
        ratios.direct_read.append(BIG / MIB / min(get, fetch))

        direct = seconds(
            lambda: [
                s3_wan.put_object(Bucket=bucket, Key=f"s-direct/{n}", Body=small)
                for n in range(SMALL_FILES)
            ]
        )
        (mount.dir / "s-mount").mkdir()
        through = seconds(
            lambda: [
                (mount.dir / "s-mount" / str(n)).write_bytes(small) for n in range(SMALL_FILES)
            ]
        )
        ratios.small.append(direct / through)
        ratios.direct_small.append(SMALL_FILES / direct)


def throughput(server: MotoServer, link: Link, host: Host, repeat: int) -> Ratios:
    """Per-pair ratios (direct time / mount time), `repeat` pairs of each."""
    ratios = Ratios([], [], [], [], [], [])
    for _ in range(repeat):
        one_pair(server, link, host, ratios)
    return ratios


def freshness(server: MotoServer, link: Link, host: Host) -> tuple[list[float], list[float]]:
    """Seconds until API changes are seen: a new name looked up while missing, an overwrite."""
    s3_direct = server.client("s3")
    bucket = f"fresh-{uuid.uuid4().hex[:8]}"
    s3_direct.create_bucket(Bucket=bucket)
    new_names, overwrites = [], []
    with mounted(server, link, host, bucket) as mount:
        for n in range(FRESHNESS_SAMPLES):
            target = mount.dir / f"new-{n}.txt"
            assert not target.exists()
            s3_direct.put_object(Bucket=bucket, Key=target.name, Body=b"v1")
            new_names.append(seen_within(target.exists, f"new name {target.name}"))
            s3_direct.put_object(Bucket=bucket, Key=target.name, Body=b"version 2")
            overwritten = partial(holds, target, b"version 2")
            overwrites.append(seen_within(overwritten, f"overwrite of {target.name}"))
    return new_names, overwrites


def seen_within(predicate: Callable[[], bool], what: str) -> float:
    """Seconds until the mount shows a change; a change never seen stops the run (a figure that
    left it out would report a bound the mount does not keep)."""
    seconds = wait_for(predicate, timeout=FRESHNESS_GIVE_UP_SECONDS, interval=0.02)
    if seconds is None:
        raise SystemExit(f"freshness: the {what} was not seen in {FRESHNESS_GIVE_UP_SECONDS} s")
    return seconds


def holds(path: Path, content: bytes) -> bool:
    return path.read_bytes() == content


def busy_reader(folder: Path) -> None:
    """A stat, a listing and a missing name every 0.1 s for 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (folder / "7").stat()
        list(folder.iterdir())
        (folder / "missing").exists()
        time.sleep(0.1)


def freshness_cost(server: MotoServer, link: Link, host: Host) -> list[tuple[str, int]]:
    """Requests of a busy reader (a stat, a listing of 20 and a missing name every 0.1 s for
    10 s) at the default bound and at 30 s."""
    s3_direct = server.client("s3")
    rows = []
    for bound in ("2", "30"):
        bucket = f"cost-{uuid.uuid4().hex[:8]}"
        s3_direct.create_bucket(Bucket=bucket)
        for number in range(20):
            s3_direct.put_object(Bucket=bucket, Key=f"d/{number}", Body=b"x")
        with mounted(server, link, host, bucket, S3_MOUNT_FRESHNESS_SECONDS=bound) as mount:
            rows.append((bound, counted(link, partial(busy_reader, mount.dir / "d"))[0]))
    return rows


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(ratios: Ratios) -> str:
    rows = [
        ("64 MiB durable write", ratios.direct_write, "MiB/s", ratios.write),
        ("64 MiB cold read", ratios.direct_read, "MiB/s", ratios.read),
        (f"{SMALL_FILES} x 4 KiB files, one after another", ratios.direct_small, "files/s",
         ratios.small),
    ]  # fmt: skip
    return "\n".join(
        f"| {name} | {median(rate):.1f} {unit} | {median(pairs):.2f}x | "
        f"{', '.join(f'{r:.2f}' for r in pairs)} |"
        for name, rate, unit, pairs in rows
    )


def wan_run(server: MotoServer, link: Link, host: Host, repeat: int) -> None:
    print("| Operation | S3 requests | by kind |\n| --- | ---: | --- |")
    for name, total, kinds in request_counts(server, link, host):
        shown = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        print(f"| {name} | {total} | {shown} |")
    ratios = throughput(server, link, host, repeat)
    print(f"\n| Throughput (median of {repeat} pairs) | direct boto3 | mount / direct | pairs |")
    print("| --- | ---: | ---: | --- |")
    print(report(ratios))
    new_names, overwrites = freshness(server, link, host)
    print(
        "\nclose-to-visible: 0 s (every write above was read back right after close returned); "
        f"changes through the API seen after (median / max of {FRESHNESS_SAMPLES}): new names "
        f"{median(new_names):.2f} / {max(new_names):.2f} s, overwrites "
        f"{median(overwrites):.2f} / {max(overwrites):.2f} s"
    )
    print("\n| S3_MOUNT_FRESHNESS_SECONDS | requests of a busy reader over 10 s |\n| ---: | ---: |")
    for bound, total in freshness_cost(server, link, host):
        print(f"| {bound} | {total} |")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mount_wan")
    parser.add_argument("--repeat", type=int, default=5, help="pairs per ratio (median)")
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--mib-per-s", type=float, default=40)
    parser.add_argument(
        "--host", choices=sorted(HOST_RECIPES), default="debian13",
        help="whose s3fs: this machine's (1.90), Debian 13's (1.95, the image's) or testing's",
    )  # fmt: skip
    parser.add_argument("--skip-loopback", action="store_true")
    args = parser.parse_args()
    logs = REPO_ROOT / "build" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server = start_moto(enforce_iam=False, log_dir=logs)
    with mount_host(args.host) as host:
        try:
            with WanProxy(server.endpoint, args.latency_ms, args.mib_per_s) as proxy:
                print(
                    f"## {host.name}: WAN of {args.latency_ms:g} ms one way, "
                    f"{args.mib_per_s:g} MiB/s a connection\n"
                )
                wan_run(server, Link(proxy.endpoint, proxy), host, args.repeat)
            if not args.skip_loopback:
                ratios = throughput(server, Link(server.endpoint, None), host, args.repeat)
                print(f"\n## {host.name}: loopback (CPU-bound footnote)\n")
                print("| Throughput | direct boto3 | mount / direct | pairs |")
                print("| --- | ---: | ---: | --- |")
                print(report(ratios))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
