"""The stack's outputs for CI: masks for the job log, step outputs, or a JSON file.

    python3 -m ci_tools.stack_outputs --stack dev --format mask    # ::add-mask:: for every secret
    python3 -m ci_tools.stack_outputs --stack dev --format github  # masks, then $GITHUB_OUTPUT
    python3 -m ci_tools.stack_outputs --stack dev --format json    # build/dev/stack-outputs.json

The outputs come from `pulumi stack output --json --show-secrets` (run here, its output never
printed) or from a saved copy (`--input FILE`, `-` for stdin). `--format mask` masks every secret
the stack holds or the job is given (ci_tools/stack_secrets.py), so it also reads the stack's state
and config the same way (`--state FILE`, `--config FILE`); `--format github` masks the secret
outputs it writes. Bad input stops the command with a message naming the problem and the fix,
before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from backend_host.files import default_path, write_file
from ci_tools.stack_secrets import known_secrets, mask_commands, read_known_secrets
from program.output_reader import (
    OutputsError,
    add_source_arguments,
    add_state_and_config_arguments,
    read_outputs,
    require,
    run_tool,
    stack_name,
    tool_parser,
)
from program.outputs import OUTPUT_NAMES

FORMATS = ("mask", "github", "json")


def render_json(outputs: Mapping[str, object], stack: str) -> str:
    values = require(outputs, OUTPUT_NAMES, stack)
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


def render_github_outputs(outputs: Mapping[str, object], stack: str) -> str:
    """Step outputs in $GITHUB_OUTPUT's multi-line syntax, one random delimiter per value."""
    values = require(outputs, OUTPUT_NAMES, stack)
    blocks = []
    for name, value in values.items():
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        blocks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(blocks)


def _github(outputs: Mapping[str, object], stack: str, path: str | None) -> str:
    """Masks every secret, then appends every output to the step outputs file."""
    if not path:
        raise OutputsError(
            "GITHUB_OUTPUT is not set: --format github runs inside a GitHub Actions step, "
            "or pass --output FILE"
        )
    text = render_github_outputs(outputs, stack)
    # The runner must know the masks before any output holds the secret.
    sys.stdout.write(mask_commands(known_secrets(outputs)))
    sys.stdout.flush()
    # One write of the whole block: bad input stopped us before anything reached the file.
    try:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise OutputsError(
            f"cannot append to {path}: {error.strerror}. Pass --output with a file you may write"
        ) from None
    return ""


def run(args: argparse.Namespace) -> str:
    """Does what the arguments ask; returns what goes to stdout."""
    name = stack_name(args.stack)
    if args.format == "mask":
        return mask_commands(
            read_known_secrets(args.stack, args.input, args.state, args.config, os.environ)
        )
    outputs = read_outputs(args.stack, args.input)
    if args.format == "github":
        return _github(outputs, args.stack, args.output or os.environ.get("GITHUB_OUTPUT"))
    path = Path(args.output or default_path(name, "stack-outputs.json"))
    if path.is_dir():
        raise OutputsError(f"{path} is a directory: pass a file name with --output")
    try:
        write_file(path, render_json(outputs, args.stack), 0o600)
    except OSError as error:
        raise OutputsError(
            f"cannot write {path}: {error.strerror}. Pass --output with a path you may write"
        ) from None
    return f"wrote {path}\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = tool_parser("ci_tools.stack_outputs", __doc__)
    add_source_arguments(parser)
    add_state_and_config_arguments(parser)
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="where to write (default: build/<stack>/stack-outputs.json, or $GITHUB_OUTPUT)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_tool(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
