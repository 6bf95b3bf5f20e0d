"""Mount the stack's bucket on this machine, the backend's host, as the sandboxes mount it.

    sudo python3 -m backend_host.host_mount --stack dev            # mount (a healthy one is kept)
    sudo python3 -m backend_host.host_mount --stack dev --check    # exit 0 only if it answers
    sudo python3 -m backend_host.host_mount --stack dev --unmount  # unmount cleanly

A thin caller of the mount program (s3mount/), which owns the client, its flags, the bounds, the
probe and the status file. It reads the files `python3 -m backend_host.bundle --stack dev` wrote
into build/<stack>/: the bucket's settings from the unit (e2b-s3-mount.service, no secret) and,
to mount, the key pair from the env file beside it. So it needs neither the Pulumi CLI nor a login
under sudo, and --check and --unmount need no key. --input takes the settings from saved stack
outputs instead. On a host without this project, the unit runs the same program. Standard library
only: the host's own python3 runs it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from backend_host.files import ENV_FILE_NAME, UNIT_FILE_NAME, default_path
from backend_host.unit_environment import UnitError, unit_environment
from program.output_reader import (
    OutputsError,
    read_outputs,
    run_tool,
    stack_name,
    tool_parser,
)
from program.shared import Channel, Consumer, received
from s3mount.contract import MOUNT_DIR, ContractError

# The checkout this tool runs from: the mount program runs from its package here.
PROJECT_DIR = Path(__file__).resolve().parent.parent


def settings_from_outputs(outputs: dict[str, object], stack: str) -> dict[str, str]:
    """The bucket's settings as the host mount receives them from the stack."""
    try:
        return received(Consumer.HOST_MOUNT, Channel.SETTINGS, outputs)
    except ContractError as problem:
        raise OutputsError(f"stack {stack}: {problem}. Run `pulumi up --stack {stack}`") from None


def settings_from_unit(unit: Path, stack: str) -> dict[str, str]:
    """The bucket's settings from the unit the bundle wrote beside the key: the same run wrote
    both, so they belong together even after a later `pulumi up` moved the stack on."""
    fix = f"Write the backend's files with `python3 -m backend_host.bundle --stack {stack}`"
    try:
        text = unit.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OutputsError(
            f"no unit at {unit} (it holds the bucket's settings). {fix}, or pass --input with "
            "saved stack outputs"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise OutputsError(f"cannot read {unit}: {reason}. {fix}") from None
    try:
        settings = unit_environment(text)
    except UnitError as problem:
        raise OutputsError(f"{unit}: {problem}. {fix}") from None
    if not settings.get(MOUNT_DIR):
        raise OutputsError(f"{unit} sets no {MOUNT_DIR}. {fix}")
    return settings


def mount_command(command: str, env_file: Path, stack: str) -> list[str]:
    """The mount program's command line; raises OutputsError when mounting lacks the key."""
    program = [sys.executable, "-m", "s3mount", command]
    if command != "mount":
        return program  # the mount dir (in the settings) is all these need: no key
    if not env_file.is_file():
        raise OutputsError(
            f"no key pair at {env_file}: write the backend's files with `python3 -m "
            f"backend_host.bundle --stack {stack}`, or pass --env-file"
        )
    return [*program, "--env-file", str(env_file.resolve())]


def run(args: argparse.Namespace) -> int:
    # build/<name>/, where the bundle writes, also for --stack org/project/name.
    env_file = args.env_file or Path(default_path(stack_name(args.stack), ENV_FILE_NAME))
    command = mount_command(
        "check" if args.check else "unmount" if args.unmount else "mount", env_file, args.stack
    )
    if args.input is not None:
        settings = settings_from_outputs(read_outputs(args.stack, args.input), args.stack)
    else:
        settings = settings_from_unit(env_file.parent / UNIT_FILE_NAME, args.stack)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        **settings,
    }
    return subprocess.run(command, env=environment, cwd=PROJECT_DIR, check=False).returncode


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = tool_parser("backend_host.host_mount", __doc__)
    parser.add_argument("--stack", required=True, help="the Pulumi stack, e.g. dev")
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        type=Path,
        help=f"the key pair (default build/<stack>/{ENV_FILE_NAME}); the unit "
        f"({UNIT_FILE_NAME}) is read from the same directory",
    )
    parser.add_argument(
        "--input",
        metavar="FILE",
        help="the bucket's settings from a saved `pulumi stack output --json --show-secrets` "
        "('-' for stdin) instead of the unit",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="check the mount, change nothing")
    action.add_argument("--unmount", action="store_true", help="unmount cleanly")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_tool(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
