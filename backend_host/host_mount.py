"""Mount the stack's bucket on this machine, the backend's host, as the sandboxes mount it.

    sudo python3 -m backend_host.host_mount --stack dev            # mount (a healthy one is kept)
    sudo python3 -m backend_host.host_mount --stack dev --check    # exit 0 only if it answers
    sudo python3 -m backend_host.host_mount --stack dev --unmount  # unmount cleanly

A thin caller of the mount program (s3mount/), which owns the client, its flags, the bounds, the
probe and the status file: the key pair comes from the env file the bundle writes
(build/<stack>/e2b-s3.env by default), the bucket's settings from the stack outputs (the Pulumi
CLI, or a saved `pulumi stack output --json --show-secrets` with --input). On a host without this
project, the systemd unit from backend_host.bundle runs the same program. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from backend_host.files import ENV_FILE_NAME, default_path
from program.output_reader import OutputsError, add_source_arguments, read_outputs, stack_name
from program.shared import Channel, Consumer, received
from s3mount.contract import ContractError

# The checkout this tool runs from: the mount program runs from its package here.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def mount_environment(outputs: dict[str, object], stack: str) -> dict[str, str]:
    """What the mount program reads from its environment: the bucket's settings, as the host
    mount receives them, and a PATH; the key pair stays in the env file."""
    try:
        settings = received(Consumer.HOST_MOUNT, Channel.SETTINGS, outputs)
    except ContractError as problem:
        raise OutputsError(f"stack {stack}: {problem}. Run `pulumi up --stack {stack}`") from None
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        **settings,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m backend_host.host_mount", description=(__doc__ or "").split("\n\n")[0]
    )
    add_source_arguments(parser)
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        type=Path,
        help=f"the key pair (default build/<stack>/{ENV_FILE_NAME})",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="check the mount, change nothing")
    action.add_argument("--unmount", action="store_true", help="unmount cleanly")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # build/<name>/, where the outputs tool writes, also for --stack org/project/name.
        env_file = args.env_file or Path(default_path(stack_name(args.stack), ENV_FILE_NAME))
        environment = mount_environment(read_outputs(args.stack, args.input), args.stack)
    except OutputsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not env_file.is_file():
        print(
            f"error: no key pair at {env_file}: write it with `python3 -m backend_host.bundle "
            f"--stack {args.stack} --format env`, or pass --env-file",
            file=sys.stderr,
        )
        return 1
    command = "check" if args.check else "unmount" if args.unmount else "mount"
    completed = subprocess.run(
        [sys.executable, "-m", "s3mount", command, "--env-file", str(env_file.resolve())],
        env=environment,
        cwd=PROJECT_DIR,
        check=False,
    )
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
