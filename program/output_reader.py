"""A deployed stack's outputs read back, for the tools on CI and on the backend's host: from the
Pulumi CLI (`pulumi stack output --json --show-secrets`, its output never printed) or from a saved
copy. Bad input is an OutputsError whose message names the problem and the fix, never a secret.

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

# A stack as Pulumi names it: `stack`, or `org/project/stack` for Pulumi Cloud.
_STACK = re.compile(r"(?:[A-Za-z0-9_.-]+/){0,2}(?P<name>[A-Za-z0-9_-][A-Za-z0-9_.-]*)", re.ASCII)


class OutputsError(Exception):
    """Bad input: the message names the problem and the fix, never a secret value."""


def stack_name(stack: str) -> str:
    """The stack's own name, for build/<name>/; refuses what could make a path of it."""
    found = _STACK.fullmatch(stack)
    if found is None or ".." in stack.split("/"):
        raise OutputsError(
            f"--stack {stack!r} is not a stack name: letters, digits, '_', '.', '-', "
            "optionally as org/project/stack"
        )
    return found["name"]


def read_outputs(stack: str, source: str | None) -> dict[str, object]:
    """The stack outputs from a saved JSON file, stdin (`-`), or the Pulumi CLI (None)."""
    if source is None:
        text, origin = _pulumi_stack_output(stack), f"`pulumi stack output` for stack {stack}"
    elif source == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError:
            raise OutputsError(
                "stdin is not UTF-8 text: pipe in `pulumi stack output --json --show-secrets`"
            ) from None
        origin = "stdin"
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


def tool_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A tool's parser, from its docstring: the first paragraph says what it does, the rest (its
    usage examples and notes) follows the options in --help, as written."""
    summary, _, rest = (doc or "").partition("\n\n")
    return argparse.ArgumentParser(
        prog=f"python3 -m {module}",
        description=summary,
        epilog=rest or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--stack and --input, as every tool that reads a deployed stack's outputs takes them."""
    parser.add_argument("--stack", required=True, help="the Pulumi stack, e.g. dev")
    parser.add_argument(
        "--input",
        metavar="FILE",
        help="saved `pulumi stack output --json --show-secrets` ('-' for stdin); "
        "default: run the pulumi CLI",
    )


def run_tool(action: Callable[[], str | int]) -> int:
    """Runs a tool's action: text it returns goes to stdout (exit 0), a number is the exit code.
    An OutputsError, or an OS error nothing nearer caught, goes to stderr as one line naming
    the problem and the fix (exit 1): never a traceback."""
    try:
        result = action()
    except OutputsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(
            f"error: {where}{error.strerror or error}. Check the path and its permissions",
            file=sys.stderr,
        )
        return 1
    if isinstance(result, int):
        return result
    sys.stdout.write(result)
    return 0
