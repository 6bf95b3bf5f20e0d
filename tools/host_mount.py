"""Mount the stack's bucket on this machine, the backend's host, as the sandboxes mount it.

    sudo python -m tools.host_mount --stack dev              # mount (a healthy mount is kept)
    sudo python -m tools.host_mount --stack dev --check      # exit 0 only if mounted and healthy
    sudo python -m tools.host_mount --stack dev --unmount    # unmount cleanly

A thin caller of the mount program (docker/e2b-sandbox/s3mount.py), which owns the client, its
flags, the bounds, the probe and the status file: the key pair comes from the env file the outputs
tool writes (build/<stack>/e2b-s3.env by default), the bucket's settings from the stack outputs
(the Pulumi CLI, or a saved `pulumi stack output --json --show-secrets` with --input). On a host
without this project, the systemd unit from `--format backend` runs the same program.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from components.backend_files import ENV_FILE_NAME, MOUNT_PROGRAM, default_path
from components.contract import Channel, Consumer, ContractError, values
from tools.stack_outputs import OutputsError, read_outputs, stack_name


def mount_environment(outputs: dict[str, object], stack: str) -> dict[str, str]:
    """What the mount program reads from its environment: the bucket's settings, as the host
    mount receives them, and a PATH; the key pair stays in the env file."""
    try:
        settings = values(Consumer.HOST_MOUNT, Channel.SETTINGS, outputs)
    except ContractError as problem:
        raise OutputsError(f"stack {stack}: {problem}. Run `pulumi up --stack {stack}`") from None
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        **settings,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.host_mount", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--stack", required=True, help="the Pulumi stack, e.g. dev")
    parser.add_argument("--input", metavar="FILE", help="saved stack outputs ('-' for stdin)")
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
            f"error: no key pair at {env_file}: write it with `python -m tools.stack_outputs "
            f"--stack {args.stack} --format env`, or pass --env-file",
            file=sys.stderr,
        )
        return 1
    command = "check" if args.check else "unmount" if args.unmount else "mount"
    completed = subprocess.run(
        [sys.executable, str(MOUNT_PROGRAM), command, "--env-file", str(env_file)],
        env=environment,
        check=False,
    )
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
