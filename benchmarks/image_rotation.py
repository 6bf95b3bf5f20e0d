"""What a key rotation costs the sandbox image build: cold, unchanged and rotated rebuilds.

Builds docker/e2b-sandbox/e2b.Dockerfile with podman on the debootstrap stand-in base (see
harness/podman.py), with the build args the stack passes, and prints a markdown table: wall
time, RUN steps that ran (not taken from the layer cache) and time against the cold build. Goal of
issue #4: a rotation re-runs 1 RUN step in at most 0.1x the cold time.

    PYTHONPATH=.:docker/e2b-sandbox .venv/bin/python -m benchmarks.image_rotation [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import uuid
from dataclasses import dataclass

from harness.podman import (
    BuildResult,
    build_image,
    ensure_standin_base,
    podman,
    remove_image,
    stack_build_args,
)

TAG = "localhost/e2b-sandbox-bench:latest"


@dataclass(frozen=True)
class Row:
    label: str
    seconds: list[float]
    run_steps: int
    executed: list[int]


def _key() -> dict[str, str]:
    token = uuid.uuid4().hex
    return {"accessKeyId": f"AKIA{token[:16].upper()}", "secretAccessKey": f"bench-secret/{token}"}


OUTPUTS = {
    "region": "us-east-1",
    "bucketName": "e2b-sandbox-bench",
    "s3MountDir": "/opt/sentient",
    "s3EndpointUrl": "",
    "s3MountFreshnessSeconds": "2",
}


def _checked(result: BuildResult) -> BuildResult:
    if result.returncode != 0:
        raise SystemExit(f"build failed:\n{result.log[-6000:]}")
    return result


def _row(label: str, results: list[BuildResult]) -> Row:
    return Row(
        label,
        [r.seconds for r in results],
        results[0].run_steps,
        [r.run_steps_executed for r in results],
    )


def measure(repeat: int) -> list[Row]:
    base = ensure_standin_base()
    outputs = {**OUTPUTS, **_key()}
    args = stack_build_args(base, outputs)
    cold = _checked(build_image(args, TAG, extra_args=["--no-cache"]))
    # Layers of a --no-cache build are not offered as cache later, so seed the cache once.
    warmup = _checked(build_image(args, TAG))
    unchanged: list[BuildResult] = []
    rotated: list[BuildResult] = []
    resettled: list[BuildResult] = []
    # Each unchanged rebuild repeats the rotation just before it.
    for _ in range(repeat):
        outputs = {**outputs, **_key()}
        args = stack_build_args(base, outputs)
        rotated.append(_checked(build_image(args, TAG)))
        unchanged.append(_checked(build_image(args, TAG)))
        bucket = f"e2b-sandbox-bench-{uuid.uuid4().hex[:8]}"
        moved = stack_build_args(base, {**outputs, "bucketName": bucket})
        resettled.append(_checked(build_image(moved, TAG)))
    # Drop what this run built but keep TAG's image: removing an image also removes its parents
    # that nothing else uses, and TAG keeps the shared layers cached for the next run.
    kept = resettled[-1].image_id
    for result in [cold, warmup, *unchanged, *rotated, *resettled]:
        if result.image_id and result.image_id != kept:
            remove_image(result.image_id)
    return [
        _row("cold (--no-cache)", [cold]),
        _row("unchanged rebuild", unchanged),
        _row("key rotation (new AWS key pair)", rotated),
        _row("settings change (new bucket name)", resettled),
    ]


def _machine() -> str:
    podman_version = podman("version", "--format", "{{.Client.Version}}").stdout.strip()
    distro = subprocess.run(
        ["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{distro}, {platform.machine()}, {os.cpu_count()} CPUs, podman {podman_version} "
        "(chroot isolation, overlay storage, runc)"
    )


def render(rows: list[Row]) -> str:
    cold = statistics.median(rows[0].seconds)
    lines = [
        "| Build | Runs | Median s (min-max) | RUN steps re-run | vs cold |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        median = statistics.median(row.seconds)
        spread = f"{median:.1f} ({min(row.seconds):.1f}-{max(row.seconds):.1f})"
        executed = "/".join(sorted({str(n) for n in row.executed}))
        lines.append(
            f"| {row.label} | {len(row.seconds)} | {spread} | {executed} of {row.run_steps} "
            f"| {median / cold:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="unchanged and rotated rebuilds")
    options = parser.parse_args()
    rows = measure(options.repeat)
    print(f"Machine: {_machine()}\n")
    print(render(rows))


if __name__ == "__main__":
    main()
