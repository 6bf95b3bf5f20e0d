"""What attaching a sandbox costs over a WAN: time and requests, phase by phase.

    .venv/bin/python -m benchmarks.attach_wan [--repeat 5]

A sandbox is a podman container of the per-sandbox image (as tests/integration/test_per_sandbox.py
builds it), its S3 endpoint and the backend's STS behind the WAN proxy (20 ms each way, 40 MiB/s a
connection) in front of moto. `attach` runs as the backend runs it, with commands.run and
files.write as `podman exec`s: E2B's own API round trips are not part of the figure, and the
`podman exec` overhead (measured with `true`) is subtracted from the in-sandbox phases. Each
sample is a first attach (a new prefix: its marker is made) or an attach again (a hand-over).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.e2b_sandbox import CommandResult, PodmanSandbox, start_as_e2b_does
from harness.moto_server import MotoServer, start_moto
from harness.podman import build_image, ensure_standin_base, podman, stack_build_args
from harness.wan_proxy import WanProxy
from sandbox_storage.attach import StorageConfig, attach, detach

IMAGE_TAG = "localhost/e2b-sandbox-bench:per-sandbox"
FUSE = ("--device", "/dev/fuse", "--cap-add", "SYS_ADMIN")


class Phases:
    """Wall time of each phase of one attach, by wrapping what attach calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started


@dataclass(frozen=True)
class TimedSandbox(PodmanSandbox):
    """The sandbox, with its calls timed as the phases they are."""

    phases: Phases

    def write(self, path: str, data: str, user: str = "user") -> None:
        with self.phases.timing("write the session"):
            super().write(path, data, user)

    def run(self, cmd: str, user: str = "user", timeout: float = 60) -> CommandResult:
        phase = "mount and check" if "--attach" in cmd else "prepare the directory"
        with self.phases.timing(phase):
            return super().run(cmd, user, timeout)


def timed_sts(sts: Any, phases: Phases) -> Any:
    class Timed:
        def get_federation_token(self, **kwargs: Any) -> Any:
            with phases.timing("issue credentials (STS)"):
                return sts.get_federation_token(**kwargs)

    return Timed()


def exec_overhead(sandbox: PodmanSandbox, samples: int = 5) -> float:
    """What one `podman exec` costs by itself (E2B's envd round trip stands in its place)."""
    times = []
    for _ in range(samples):
        started = time.monotonic()
        sandbox.run("true", "root")
        times.append(time.monotonic() - started)
    return statistics.median(times)


def requests_of(proxy: WanProxy, action: Callable[[], object]) -> Counter[str]:
    proxy.reset()
    action()
    return Counter(proxy.counts()[1])


def sample(
    sandbox: PodmanSandbox, config: StorageConfig, sts: Any, proxy: WanProxy, overhead: float
) -> tuple[dict[str, float], Counter[str]]:
    phases = Phases()
    attached: list[Any] = []
    counted = requests_of(
        proxy,
        lambda: attached.append(
            attach(
                TimedSandbox(sandbox.container, phases), config=config, sts=timed_sts(sts, phases)
            )
        ),
    )
    seconds = dict(phases.seconds)  # the phases' own order
    for phase in ("write the session", "prepare the directory", "mount and check"):
        seconds[phase] = max(seconds.get(phase, 0.0) - overhead, 0.0)
    seconds["total"] = sum(seconds.values())
    # Inside "mount and check": what the mount program's own mount took, as its status says.
    seconds["of which the mount program's mount"] = float(attached[0].status["seconds"])
    return seconds, counted


def sandbox_of(image_id: str) -> PodmanSandbox:
    name = f"bench{uuid.uuid4().hex[:10]}"
    podman("run", "--detach", "--rm", "--name", name, "--network=host", *FUSE, image_id,
           "sleep", "3600")  # fmt: skip
    start_as_e2b_does(name)
    return PodmanSandbox(name)


def table(title: str, runs: list[tuple[dict[str, float], Counter[str]]]) -> str:
    phases = list(runs[0][0])
    lines = [f"### {title} ({len(runs)} samples, median)", "", "| Phase | seconds |",
             "| --- | ---: |"]  # fmt: skip
    lines += [f"| {p} | {statistics.median(r[0][p] for r in runs):.3f} |" for p in phases]
    kinds = sorted({k for _, counted in runs for k in counted})
    lines += ["", "| Requests at the proxy | count |", "| --- | ---: |"]
    lines += [f"| {k} | {statistics.median(c.get(k, 0) for _, c in runs):g} |" for k in kinds]
    total = statistics.median(sum(c.values()) for _, c in runs)
    return "\n".join([*lines, f"| all | {total:g} |", ""])


def run(server: MotoServer, repeat: int) -> str:
    bucket = f"bench-attach-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    with WanProxy(server.endpoint, latency_ms=20, mib_per_s=40) as proxy:
        outputs = {
            "accessKeyId": server.access_key, "secretAccessKey": server.secret_key,
            "region": server.region, "bucketName": bucket, "s3MountDir": "/opt/sentient",
            "s3EndpointUrl": proxy.endpoint, "s3MountFreshnessSeconds": "2",
        }  # fmt: skip
        args = stack_build_args(ensure_standin_base(), outputs)
        args.pop("SANDBOX_CREDENTIALS")
        args["SANDBOX_STORAGE"] = "per-sandbox"
        built = build_image(args, IMAGE_TAG)
        if built.returncode != 0 or built.image_id is None:
            raise SystemExit(f"the image did not build:\n{built.log[-3000:]}")
        config = StorageConfig(bucket=bucket, region=server.region, storage="per-sandbox",
                               sts_endpoint=proxy.endpoint)  # fmt: skip
        # The backend's STS calls cross the same link.
        sts_via_proxy = server.client("sts", endpoint_url=proxy.endpoint)
        first, again, overheads = [], [], []
        for _ in range(repeat):
            sandbox = sandbox_of(built.image_id)
            try:
                overhead = exec_overhead(sandbox)
                overheads.append(overhead)
                first.append(sample(sandbox, config, sts_via_proxy, proxy, overhead))
                again.append(sample(sandbox, config, sts_via_proxy, proxy, overhead))
                detach(sandbox)
            finally:
                podman("rm", "--force", "--time", "1", sandbox.container, check=False)
    note = f"`podman exec` overhead subtracted: {statistics.median(overheads):.3f} s a call\n"
    return "\n".join(
        [
            table("First attach: a new prefix", first),
            table("Attach again: a hand-over", again),
            note,
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attach_wan")
    parser.add_argument("--repeat", type=int, default=5, help="samples of each kind")
    args = parser.parse_args()
    log_dir = Path("build/bench")
    log_dir.mkdir(parents=True, exist_ok=True)
    server = start_moto(enforce_iam=False, log_dir=log_dir)
    try:
        print(run(server, args.repeat))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
