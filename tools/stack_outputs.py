"""The stack's outputs for CI and the backend: its files, a dotenv, JSON, GitHub step outputs.

    python -m tools.stack_outputs --stack dev --format backend # build/dev/: the override, the
                                                               # host mount's unit and program,
                                                               # and the env file with the key
    python -m tools.stack_outputs --stack dev --format env     # build/dev/e2b-s3.env (0600)
    python -m tools.stack_outputs --stack dev --format json    # build/dev/stack-outputs.json (0600)
    python -m tools.stack_outputs --stack dev --format github  # masks, then $GITHUB_OUTPUT
    python -m tools.stack_outputs --stack dev --format mask    # ::add-mask:: for every secret
    python -m tools.stack_outputs --stack dev --check-preview preview.txt

The outputs come from `pulumi stack output --json --show-secrets` (run here, its output never
printed) or from a saved copy (`--input FILE`, `-` for stdin). Bad input stops the command with a
message naming the problem and the fix, before anything is written; files are written to a temporary
file in the same directory and then renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from components import contract, mount_rules
from components.backend_files import (
    ENV_FILE_NAME,
    MOUNT_PROGRAM,
    MOUNT_PROGRAM_NAME,
    OVERRIDE_FILE_NAME,
    SECRET_ID_FILE_NAME,
    UNIT_FILE_NAME,
    default_path,
)
from components.contract import Channel, Consumer
from tools import preview_guard

# The stack's outputs, as the program exports them (camelCase, stable names).
OUTPUT_NAMES = (
    "bucketName",
    "bucketArn",
    "region",
    "iamUserName",
    "iamUserArn",
    "accessKeyId",
    "secretAccessKey",
    "credentialsSecretArn",
    "backendReadPolicyArn",
    "s3MountDir",
    "s3EndpointUrl",
    "s3MountFreshnessSeconds",
    "imageName",
    "imageRef",
    "ecrRepositoryUrl",
    "e2bTemplateName",
    "e2bTemplateId",
    "e2bBuildId",
    "composeOverride",
    "hostMountUnit",
)
SECRET_OUTPUTS = contract.SECRET_OUTPUTS
FORMATS = ("backend", "env", "json", "github", "mask")


class OutputsError(Exception):
    """Bad input: the message names the problem and the fix, never a secret value."""


def read_outputs(stack: str, source: str | None) -> dict[str, object]:
    """The stack outputs from a saved JSON file, stdin (`-`), or the Pulumi CLI."""
    if source is None:
        text, origin = _pulumi_stack_output(stack), f"`pulumi stack output` for stack {stack}"
    elif source == "-":
        text, origin = sys.stdin.read(), "stdin"
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise OutputsError(
                f"cannot read {source}: {reason}. Save the outputs with "
                f"`pulumi stack output --stack {stack} --json --show-secrets > FILE` first"
            ) from None
        origin = source
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputsError(
            f"{origin} is not JSON ({error.msg} at line {error.lineno}, column {error.colno}). "
            "Pass the output of `pulumi stack output --json --show-secrets`"
        ) from None
    if not isinstance(outputs, dict):
        raise OutputsError(
            f"{origin} holds a JSON {type(outputs).__name__}, not an object of stack outputs. "
            "Pass the output of `pulumi stack output --json --show-secrets`"
        )
    return outputs


def _pulumi_stack_output(stack: str) -> str:
    command = ["pulumi", "stack", "output", "--stack", stack, "--json", "--show-secrets"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    except FileNotFoundError:
        raise OutputsError(
            "the pulumi CLI is not on PATH. Install it, or pass --input with a saved "
            "`pulumi stack output --json --show-secrets`"
        ) from None
    if result.returncode != 0:
        raise OutputsError(
            f"`pulumi stack output --stack {stack}` failed: {result.stderr.strip()}. "
            "Log in to the stack's backend and check the stack name"
        )
    return result.stdout


def require(outputs: Mapping[str, object], names: Iterable[str], stack: str) -> dict[str, str]:
    """The named outputs as strings; raises naming every missing or non-text one."""
    names = list(names)
    missing = [name for name in names if name not in outputs]
    if missing:
        raise OutputsError(
            f"stack {stack} has no output {', '.join(missing)}. Run `pulumi up --stack {stack}` "
            "with the current program, and check that --stack names the right stack"
        )
    not_text = [name for name in names if not isinstance(outputs[name], str)]
    if not_text:
        raise OutputsError(
            f"stack output {', '.join(not_text)} of stack {stack} is not a string. "
            "The program exports every output as text: run `pulumi up` with the current program"
        )
    return {name: str(outputs[name]) for name in names}


def render_dotenv(outputs: Mapping[str, object], stack: str) -> str:
    """The backend's dotenv: the key pair, and nothing that travels another way."""
    try:
        pair = contract.values(Consumer.BACKEND, Channel.CREDENTIALS, outputs)
    except contract.ContractError as problem:
        raise OutputsError(
            f"stack {stack}: {problem}. Run `pulumi up --stack {stack}` with the current program"
        ) from None
    return contract.render_env(
        pair,
        header=f"Stack {stack}: the backend's S3 key pair. Keep it mode 0600; never commit it.",
    )


def render_json(outputs: Mapping[str, object], stack: str) -> str:
    values = require(outputs, OUTPUT_NAMES, stack)
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


def _workflow_command_data(value: str) -> str:
    """Escapes a value for a GitHub workflow command (`::add-mask::...`)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask_commands(outputs: Mapping[str, object]) -> str:
    """`::add-mask::` for every line of every secret output present (a new stack has none)."""
    commands = []
    for name in sorted(SECRET_OUTPUTS & outputs.keys()):
        value = outputs[name]
        secret = value if isinstance(value, str) else json.dumps(value)
        commands += [
            f"::add-mask::{_workflow_command_data(line)}\n"
            for line in secret.splitlines()
            if line.strip()
        ]
    return "".join(commands)


def render_github_outputs(outputs: Mapping[str, object], stack: str) -> str:
    """Step outputs in $GITHUB_OUTPUT's multi-line syntax, one random delimiter per value."""
    values = require(outputs, OUTPUT_NAMES, stack)
    blocks = []
    for name, value in values.items():
        delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
        blocks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(blocks)


def find_revealed_secrets(preview: str, outputs: Mapping[str, object]) -> list[str]:
    """Where a preview shows a secret output (tools/preview_guard.py): line numbers and
    reasons, never the value."""
    secrets = {
        name: value
        for name, value in outputs.items()
        if name in SECRET_OUTPUTS and isinstance(value, str) and value
    }
    return preview_guard.find_revealed_secrets(preview, secrets)


def make_parents(path: Path, mode: int) -> None:
    """Creates the missing parent directories with `mode`, whatever the umask: a 0600 key file
    in a directory everyone may write is not private."""
    missing = [parent for parent in reversed(path.parents) if not parent.exists()]
    for directory in missing:
        directory.mkdir()
        directory.chmod(mode)


def write_private(path: Path, text: str, mode: int) -> None:
    """Writes `text` with `mode` the mount program's way (a temporary file, then a rename).
    Directories it makes are 0700 for a private file, 0755 otherwise."""
    if path.is_dir():
        raise OutputsError(f"{path} is a directory: pass a file name with --output")
    try:
        make_parents(path, 0o700 if mode & 0o077 == 0 else 0o755)
        mount_rules.write_atomically(path, text, mode)
    except OSError as error:
        raise OutputsError(
            f"cannot write {path}: {error.strerror}. Pass --output with a path you may write"
        ) from None


def _github(outputs: Mapping[str, object], stack: str, path: str | None) -> str:
    """Masks every secret, then appends every output to the step outputs file."""
    if not path:
        raise OutputsError(
            "GITHUB_OUTPUT is not set: --format github runs inside a GitHub Actions step, "
            "or pass --output FILE"
        )
    text = render_github_outputs(outputs, stack)
    # The runner must know the masks before any output holds the secret.
    sys.stdout.write(mask_commands(outputs))
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


def write_backend_files(
    outputs: Mapping[str, object], stack: str, directory: Path, with_key: bool
) -> list[Path]:
    """The backend's files in one directory: the override and the unit (0644), the mount
    program (0755), and the env file with the key (0600), or without the key the secret's ARN
    (0644), where the backend host's role reads the key. Everything is checked before the first
    file is written."""
    files = require(outputs, ["composeOverride", "hostMountUnit", "credentialsSecretArn"], stack)
    contents = [
        (directory / OVERRIDE_FILE_NAME, files["composeOverride"], 0o644),
        (directory / UNIT_FILE_NAME, files["hostMountUnit"], 0o644),
        (directory / MOUNT_PROGRAM_NAME, MOUNT_PROGRAM.read_text(encoding="utf-8"), 0o755),
    ]
    if with_key:
        contents.append((directory / ENV_FILE_NAME, render_dotenv(outputs, stack), 0o600))
    else:
        secret_id = f"{files['credentialsSecretArn']}\n"
        contents.append((directory / SECRET_ID_FILE_NAME, secret_id, 0o644))
    for path, text, mode in contents:
        write_private(path, text, mode)
    return [path for path, _, _ in contents]


# A stack as Pulumi names it: `stack`, or `org/project/stack` for Pulumi Cloud.
_STACK = re.compile(r"(?:[A-Za-z0-9_.-]+/){0,2}(?P<name>[A-Za-z0-9_-][A-Za-z0-9_.-]*)", re.ASCII)


def stack_name(stack: str) -> str:
    """The stack's own name, for build/<name>/; refuses what could make a path of it."""
    found = _STACK.fullmatch(stack)
    if found is None or ".." in stack.split("/"):
        raise OutputsError(
            f"--stack {stack!r} is not a stack name: letters, digits, '_', '.', '-', "
            "optionally as org/project/stack"
        )
    return found["name"]


def run(args: argparse.Namespace) -> str:
    """Does what the arguments ask; returns what goes to stdout."""
    name = stack_name(args.stack)
    outputs = read_outputs(args.stack, args.input)
    if args.check_preview is not None:
        return _check_preview(Path(args.check_preview), outputs, args.stack)
    if args.format == "mask":
        return mask_commands(outputs)
    if args.format == "github":
        return _github(outputs, args.stack, args.output or os.environ.get("GITHUB_OUTPUT"))
    if args.format == "backend":
        directory = Path(args.output or default_path(name, ""))
        written = write_backend_files(outputs, args.stack, directory, not args.without_key)
        return "".join(f"wrote {path}\n" for path in written)
    names = {"env": ENV_FILE_NAME, "json": "stack-outputs.json"}
    path = Path(args.output or default_path(name, names[args.format]))
    if args.format == "env":
        write_private(path, render_dotenv(outputs, args.stack), 0o600)
    else:
        write_private(path, render_json(outputs, args.stack), 0o600)
    return f"wrote {path}\n"


def _check_preview(path: Path, outputs: Mapping[str, object], stack: str) -> str:
    try:
        preview = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OutputsError(
            f"cannot read the preview {path}: {error.strerror}. Save "
            f"`pulumi preview --diff --stack {stack}` to it first"
        ) from None
    except UnicodeDecodeError:
        raise OutputsError(
            f"the preview {path} is not UTF-8 text: save `pulumi preview --diff --color never` "
            "output to it, nothing else"
        ) from None
    findings = find_revealed_secrets(preview, outputs)
    if findings:
        raise OutputsError(
            f"the preview of stack {stack} shows a secret in plain text, so it is not posted:\n  "
            + "\n  ".join(findings)
            + "\nRead the diff where only you see it (`pulumi preview --diff` on your machine). "
            "Mark the value secret from its first write (pulumi.Output.secret or "
            "additional_secret_outputs), and rotate it if it was ever shown"
        )
    return f"the preview of stack {stack} shows no secret\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stack_outputs",
        description=__doc__.split("\n\n")[0] if __doc__ else "",
    )
    parser.add_argument("--stack", required=True, help="the Pulumi stack, e.g. dev")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--format", choices=FORMATS, help="what to write")
    action.add_argument(
        "--check-preview",
        metavar="FILE",
        help="fail if this saved `pulumi preview --diff` shows a secret in plain text",
    )
    parser.add_argument(
        "--input",
        metavar="FILE",
        help="saved `pulumi stack output --json --show-secrets` ('-' for stdin); "
        "default: run the pulumi CLI",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="where to write: a file, or a directory for backend (default: build/<stack>/..., "
        "or $GITHUB_OUTPUT for github)",
    )
    parser.add_argument(
        "--without-key",
        action="store_true",
        help="backend: leave the env file with the key out (it reaches the backend another way)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sys.stdout.write(run(args))
    except OutputsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
