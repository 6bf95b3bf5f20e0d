"""Real programs in the mount over a WAN, next to the direct boto3 route and local disk.

    PYTHONPATH=.:docker/e2b-sandbox .venv/bin/python -m benchmarks.mount_programs --host debian13

Each program (benchmarks/programs.py) runs as the sandbox user (uid 1000), three ways, each from
a fresh start: on local disk; in a fresh bucket mounted by the mount program through the WAN proxy
(harness/wan_proxy.py: 20 ms each way, 40 MiB/s a connection), timed, its S3 requests counted by
kind at the proxy; and as the direct route to the same end state (boto3, many requests in flight,
through the same proxy). A run past --cap seconds is killed and reported as "> cap". What the
mount run left in the bucket is checked against the local run's files, so a fast wrong answer
cannot pass; a difference fails the benchmark.

--client-options measures a flag before it goes into s3mount/client.py (benchmarks/trial_client.py);
--request-log DIR writes every request each mount run made, in order, for finding where they go.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.direct_route import local_files, run_route, upload_tree
from benchmarks.program_inputs import LISTING_FILES, make_inputs
from benchmarks.program_results import COPIED_OUT, bucket_manifest, difference, manifest
from benchmarks.program_runs import EXTRACT, Run, as_sandbox_user, sandbox_owned, seed_local
from benchmarks.programs import PROGRAMS, Program, Route, Seed, program_named
from benchmarks.trial_client import parse_changes, trial_mount
from benchmarks.wan_link import Link, counted, mounted, s3_client, seconds
from harness.bucket_mounts import HOST_RECIPES, Host, ProgramMount, mount_host
from harness.moto_server import MotoServer, start_moto
from harness.paths import REPO_ROOT
from harness.wan_proxy import WanProxy
from s3mount.contract import FRESHNESS_SECONDS
from s3mount.publisher import IN_FLIGHT

DEFAULT_CAP = 300
# --only's name for the row of `s3mount publish`, which is no script in the mount.
PUBLISH = "publish"
# What the programs' scripts run (`make bench-deps` installs them).
TOOLS = ("git", "rsync", "tar", "sqlite3", "setpriv")


@dataclass
class Bench:
    server: MotoServer
    proxy: WanProxy
    host: Host
    inputs: Path
    scratch: Path
    cap: float
    changes: list[str]
    request_log: Path | None
    settings: dict[str, str]

    @property
    def link(self) -> Link:
        return Link(self.proxy.endpoint, self.proxy)

    def new_bucket(self) -> str:
        bucket = f"prog-{uuid.uuid4().hex[:10]}"
        self.server.client("s3").create_bucket(Bucket=bucket)
        return bucket

    def mount(self, bucket: str) -> AbstractContextManager[ProgramMount]:
        if self.changes:
            return trial_mount(
                self.server, self.link.endpoint, self.host, bucket, self.changes, **self.settings
            )
        return mounted(self.server, self.link, self.host, bucket, **self.settings)

    def fresh_dir(self, name: str) -> Path:
        return sandbox_owned(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.scratch)))


def seed_bucket(bench: Bench, program: Program, bucket: str) -> None:
    """What the backend wrote before the program runs (S3 API, straight to moto: untimed)."""
    s3 = bench.server.client("s3")
    if program.seed is Seed.LISTING:
        for number in range(LISTING_FILES):
            s3.put_object(Bucket=bucket, Key=f"listing/{number:04d}", Body=b"x")
    elif program.seed is Seed.TREE:
        upload_tree(s3, bucket, bench.inputs, under="tree")


def local_run(bench: Bench, program: Program) -> tuple[Run, Path, Path]:
    work, out = bench.fresh_dir("local"), bench.fresh_dir("local-out")
    seed_local(program.seed, work, bench.inputs, bench.cap)
    run = as_sandbox_user(program.script, work, bench.inputs, out, bench.cap)
    verify(bench, program, run, work, out)
    return run, work, out


def verify(bench: Bench, program: Program, run: Run, work: Path, out: Path) -> None:
    """Fails the run if the program's own check (untimed, where it ran) does not pass."""
    if run.seconds is not None and run.failure is None and program.verify:
        checked = as_sandbox_user(program.verify, work, bench.inputs, out, bench.cap)
        if checked.seconds is None or checked.failure:
            run.failure = f"its check ({program.verify.strip()}): {shown(checked, bench.cap)}"


def direct_run(bench: Bench, program: Program, result: Path) -> Run:
    bucket = bench.new_bucket()
    seed_bucket(bench, program, bucket)
    if program.route is Route.DELETE:  # the tree it deletes
        upload_tree(bench.server.client("s3"), bucket, bench.inputs, under="tree")
    return timed_route(bench, program.route, bucket, result)


def timed_route(bench: Bench, route_taken: Route, bucket: str, result: Path) -> Run:
    s3 = s3_client(bench.server, bench.link.endpoint, in_flight=IN_FLIGHT)
    destination = bench.fresh_dir("direct-out")
    took: list[float] = []

    def route() -> None:
        took.append(seconds(lambda: run_route(route_taken, s3, bucket, result, destination)))

    requests, kinds = counted(bench.link, route)
    return Run(took[0], requests, kinds)


def mount_run(bench: Bench, program: Program, expected: dict[str, int]) -> Run:
    """The program in a fresh mount; its result checked against the local run's (`expected`)."""
    bucket = bench.new_bucket()
    seed_bucket(bench, program, bucket)
    out = bench.fresh_dir("mount-out")
    with bench.mount(bucket) as mount:
        if program.seed is Seed.EXTRACTED:
            seeded = as_sandbox_user(EXTRACT, mount.dir, bench.inputs, out, bench.cap)
            if seeded.seconds is None or seeded.failure:
                return Run(None, failure=f"its seed (tar -xf): {shown(seeded, bench.cap)}")
        runs: list[Run] = []

        def run_program() -> None:
            runs.append(as_sandbox_user(program.script, mount.dir, bench.inputs, out, bench.cap))

        requests, kinds = counted(bench.link, run_program)
        if bench.request_log is not None:
            write_log(bench, program, bench.proxy.log())
        run = Run(runs[0].seconds, requests, kinds, runs[0].failure)
        verify(bench, program, run, mount.dir, out)
    if run.seconds is not None and run.failure is None:
        found = bucket_manifest(bench.server.client("s3"), bucket) | manifest(out, COPIED_OUT)
        run.failure = difference(expected, found, program.stable)
    return run


def publish_run(bench: Bench) -> tuple[Run, Run]:
    """`s3mount publish` of the 300-file tree from the sandbox's local disk into a fresh mount, as
    the sandbox user, and the direct route to the same keys; the bucket checked against the tree.
    """
    work = Path(tempfile.mkdtemp(prefix="publish-", dir=bench.host.outside("/tmp")))
    try:
        seed_local(Seed.TREE, sandbox_owned(work), bench.inputs, bench.cap)
        direct = timed_route(bench, Route.UPLOAD, bench.new_bucket(), work)
        bucket = bench.new_bucket()
        done: list[subprocess.CompletedProcess[str]] = []
        took: list[float] = []
        with bench.mount(bucket) as mount:

            def publish_tree() -> None:
                done.append(mount.publish_as_user(work / "tree", mount.dir / "tree", bench.cap))

            requests, kinds = counted(bench.link, lambda: took.append(seconds(publish_tree)))
        through = Run(took[0], requests, kinds)
        if done[0].returncode != 0:
            through.failure = f"exit {done[0].returncode}: {done[0].stderr.strip()[-160:]}"
        else:
            through.failure = difference(
                manifest(work), bucket_manifest(bench.server.client("s3"), bucket), True
            )
        return direct, through
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_log(bench: Bench, program: Program, lines: list[str]) -> None:
    assert bench.request_log is not None
    bench.request_log.mkdir(parents=True, exist_ok=True)
    name = "-".join(re.findall(r"[a-z0-9]+", program.name.lower()))[:48]
    (bench.request_log / f"{bench.host.name}-{name}.log").write_text("\n".join(lines) + "\n")


def one_program(bench: Bench, program: Program) -> tuple[Run, Run, Run]:
    local, result, out = local_run(bench, program)
    if program.route in (Route.UPLOAD, Route.UPLOAD_DOWNLOAD) and not local_files(result):
        local.failure = local.failure or "left no file: the script is wrong"
    if local.failure or local.seconds is None:
        skipped = Run(None, failure="not run: the program failed on local disk")
        return local, skipped, skipped
    direct = direct_run(bench, program, result)
    through = mount_run(bench, program, manifest(result) | manifest(out, COPIED_OUT))
    return local, direct, through


def shown(run: Run, cap: float) -> str:
    took = f"> {cap:g} s" if run.seconds is None else f"{run.seconds:.2f} s"
    return f"{took}, failed: {run.failure}" if run.failure else took


def kinds_shown(kinds: dict[str, int]) -> str:
    return ", ".join(
        f"{kind} {count}" for kind, count in sorted(kinds.items(), key=lambda k: -k[1])
    )


def ratio(through: Run, direct: Run, cap: float) -> str:
    if through.failure or direct.seconds is None:
        return "-"
    if through.seconds is None:
        return f"> {cap / direct.seconds:.0f}x"
    return f"{through.seconds / direct.seconds:.1f}x"


def row(name: str, through: Run, direct: Run, local: str, cap: float) -> str:
    return (
        f"| {name} | {shown(through, cap)} | {through.requests:,} | {kinds_shown(through.kinds)} "
        f"| {shown(direct, cap)} | {direct.requests:,} | {ratio(through, direct, cap)} | {local} |"
    )


@contextmanager
def bench_setup(args: argparse.Namespace) -> Iterator[Bench]:
    logs = REPO_ROOT / "build" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    server = start_moto(enforce_iam=False, log_dir=logs)
    scratch = Path(tempfile.mkdtemp(prefix="bench-programs-"))
    try:
        with (
            mount_host(args.host) as host,
            WanProxy(server.endpoint, args.latency_ms, args.mib_per_s) as proxy,
        ):
            sandbox_owned(scratch)
            yield Bench(
                server, proxy, host, make_inputs(scratch), scratch,
                args.cap, parse_changes(args.client_options), args.request_log,
                {FRESHNESS_SECONDS: args.freshness} if args.freshness else {},
            )  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mount_programs")
    parser.add_argument("--host", choices=sorted(HOST_RECIPES), default="debian13")
    parser.add_argument(
        "--only", action="append", default=[], help=f"a program's name prefix, or {PUBLISH!r}"
    )
    parser.add_argument("--cap", type=float, default=DEFAULT_CAP, help="seconds per run")
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--mib-per-s", type=float, default=40)
    parser.add_argument(
        "--client-options", default="", help="+name[=value] or -name, comma-separated"
    )
    parser.add_argument("--freshness", help="S3_MOUNT_FRESHNESS_SECONDS (default: the stack's)")
    parser.add_argument("--request-log", type=Path, help="a directory for the mount runs' requests")
    args = parser.parse_args()
    names = [name for name in args.only if name != PUBLISH]
    programs = [program_named(name) for name in names] or ([] if args.only else list(PROGRAMS))
    if args.client_options and PUBLISH in args.only:
        raise SystemExit(
            "--only publish measures the mount's publisher, which a mount with --client-options "
            "(s3fs alone) does not start: leave one of them out"
        )
    with_publish = (not args.only or PUBLISH in args.only) and not args.client_options
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"the benchmark runs {', '.join(missing)}, which this machine lacks: `make bench-deps` "
            "installs them (Debian, as root)"
        )
    failures = []
    with bench_setup(args) as bench:
        flags = f", s3fs flags changed: {args.client_options}" if bench.changes else ""
        flags += f", {FRESHNESS_SECONDS}={args.freshness}" if args.freshness else ""
        print(
            f"## {bench.host.name}: programs over a WAN of {args.latency_ms:g} ms one way{flags}\n"
        )
        print(
            "| Program | in the mount | S3 requests | by kind | direct boto3 | requests "
            "| mount / direct | local disk |"
        )
        print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |", flush=True)
        for program in programs:
            local, direct, through = one_program(bench, program)
            failures += [
                f"{program.name}: {run.failure}" for run in (local, through) if run.failure
            ]
            print(row(program.name, through, direct, shown(local, args.cap), args.cap), flush=True)
        if with_publish:
            direct, through = publish_run(bench)
            failures += [f"publish: {through.failure}"] if through.failure else []
            name = "`s3mount publish` of the 300-file tree from local disk"
            print(row(name, through, direct, "-", args.cap), flush=True)
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
