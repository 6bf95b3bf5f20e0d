"""Writes the backend's files from the stack's outputs, for `make up`, CI and a backend host.

    python3 -m backend_host.bundle --stack dev                # build/dev/: the override, the
                                                              # host mount's unit and program, and
                                                              # the env file with the key (0600)
    python3 -m backend_host.bundle --stack dev --without-key --output DIR   # CI's artifact: the
                                                              # secret's ARN instead of the key
    python3 -m backend_host.bundle --stack dev --format env   # build/dev/e2b-s3.env only

The outputs come from `pulumi stack output --json --show-secrets` (run here, its output never
printed) or from a saved copy (`--input FILE`, `-` for stdin). Everything is checked before the
first file is written; each file is written to a temporary file and renamed, so a reader never
sees half of one. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from backend_host.files import (
    ENV_FILE_NAME,
    MOUNT_PROGRAM_NAME,
    OVERRIDE_FILE_NAME,
    SANDBOX_STORAGE_NAME,
    SECRET_ID_FILE_NAME,
    UNIT_FILE_NAME,
    default_path,
    make_parents,
    write_file,
)
from program.output_reader import (
    OutputsError,
    add_source_arguments,
    read_outputs,
    require,
    run_tool,
    stack_name,
    tool_parser,
)
from program.shared import Channel, Consumer, received
from s3mount import build, contract

FORMATS = ("backend", "env")


def render_dotenv(outputs: Mapping[str, object], stack: str) -> str:
    """The backend's dotenv: the key pair, and nothing that travels another way."""
    try:
        pair = received(Consumer.BACKEND, Channel.CREDENTIALS, outputs)
    except contract.ContractError as problem:
        raise OutputsError(
            f"stack {stack}: {problem}. Run `pulumi up --stack {stack}` with the current program"
        ) from None
    return contract.render_env(
        pair,
        header=f"Stack {stack}: the backend's S3 key pair. Keep it mode 0600; never commit it.",
    )


# The backend's attach: its own package, the policies it asks STS for, and the mount's contract.
SANDBOX_STORAGE_PACKAGES = tuple(
    build.PACKAGE_DIR.parent / name for name in ("sandbox_storage", "program", "s3mount")
)


def zipapp(name: str, packages: tuple[Path, ...] = (build.PACKAGE_DIR,)) -> bytes:
    """A zipapp as it ships, built from this checkout's packages."""
    with tempfile.TemporaryDirectory(prefix="bundle-") as directory:
        return build.build(Path(directory) / name, packages).read_bytes()


def backend_files(
    outputs: Mapping[str, object], stack: str, with_key: bool
) -> list[tuple[str, str | bytes, int]]:
    """(file name, content, mode) of the backend's files: the override and the unit (0644), the
    mount program (0755), and the env file with the key (0600), or without the key the secret's
    ARN (0644), where the backend host's role reads the key."""
    files = require(outputs, ["composeOverride", "hostMountUnit", "credentialsSecretArn"], stack)
    contents: list[tuple[str, str | bytes, int]] = [
        (OVERRIDE_FILE_NAME, files["composeOverride"], 0o644),
        (UNIT_FILE_NAME, files["hostMountUnit"], 0o644),
        (MOUNT_PROGRAM_NAME, zipapp(MOUNT_PROGRAM_NAME), 0o755),
        (SANDBOX_STORAGE_NAME, zipapp(SANDBOX_STORAGE_NAME, SANDBOX_STORAGE_PACKAGES), 0o644),
    ]
    if with_key:
        contents.append((ENV_FILE_NAME, render_dotenv(outputs, stack), 0o600))
    else:
        contents.append((SECRET_ID_FILE_NAME, f"{files['credentialsSecretArn']}\n", 0o644))
    return contents


def write_all(directory: Path, contents: list[tuple[str, str | bytes, int]]) -> list[Path]:
    """Writes every file into `directory`, made if missing. What would stop a write (a target
    that is a directory, a directory that cannot be made or written) stops before the first."""
    fix = "Pass --output with a directory you may write"
    targets = [directory / name for name, _, _ in contents]
    for path in targets:
        if path.is_dir():
            raise OutputsError(f"{path} is a directory: pass another --output")
    try:
        make_parents(targets[0], 0o700 if any(m & 0o077 == 0 for *_, m in contents) else 0o755)
    except OSError as error:
        raise OutputsError(f"cannot make {directory}: {error.strerror}. {fix}") from None
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        reason = "not a directory" if not directory.is_dir() else "not writable"
        raise OutputsError(f"cannot write into {directory}: {reason}. {fix}")
    for path, (_, content, mode) in zip(targets, contents, strict=True):
        try:
            write_file(path, content, mode)
        except OSError as error:
            raise OutputsError(f"cannot write {path}: {error.strerror}. {fix}") from None
    return targets


def run(args: argparse.Namespace) -> str:
    """Does what the arguments ask; returns what goes to stdout."""
    name = stack_name(args.stack)
    outputs = read_outputs(args.stack, args.input)
    if args.format == "env":
        path = Path(args.output or default_path(name, ENV_FILE_NAME))
        written = write_all(path.parent, [(path.name, render_dotenv(outputs, args.stack), 0o600)])
    else:
        directory = Path(args.output or default_path(name, ""))
        written = write_all(directory, backend_files(outputs, args.stack, not args.without_key))
    return "".join(f"wrote {path}\n" for path in written)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = tool_parser("backend_host.bundle", __doc__)
    add_source_arguments(parser)
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="backend",
        help="backend: every file (default); env: the env file with the key only",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="the directory for backend, the file for env (default: build/<stack>/...)",
    )
    parser.add_argument(
        "--without-key",
        action="store_true",
        help="backend: the secret's ARN instead of the env file with the key (CI's artifact)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_tool(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
