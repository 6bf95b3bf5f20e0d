"""A deployed stack's outputs read back, for the tools on CI and on the backend's host: from the
Pulumi CLI (`pulumi stack output --json --show-secrets`, its output never printed) or from a saved
copy; CI's secret guard also reads the stack's state and config the same way. Bad input is an
OutputsError whose message names the problem and the fix, never a secret.

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Document:
    """A JSON document the Pulumi CLI prints about a stack, read with its secrets decrypted."""

    what: str
    """What it holds, in messages: "stack outputs"."""
    command: tuple[str, ...]
    """`pulumi` arguments before --stack."""
    flags: tuple[str, ...]
    """`pulumi` arguments after --stack: JSON, secrets shown."""
    option: str
    """The tools' option that names a saved copy."""

    def cli(self, stack: str | None = None) -> str:
        where = ("--stack", stack) if stack else ()
        return " ".join(("pulumi", *self.command, *where, *self.flags))


OUTPUTS = Document("stack outputs", ("stack", "output"), ("--json", "--show-secrets"), "--input")
STATE = Document("stack state", ("stack", "export"), ("--show-secrets",), "--state")
CONFIG = Document("stack config", ("config",), ("--show-secrets", "--json"), "--config")


def read_outputs(stack: str, source: str | None) -> dict[str, object]:
    """The stack outputs from a saved JSON file, stdin (`-`), or the Pulumi CLI (None)."""
    return read_document(OUTPUTS, stack, source)


def read_document(document: Document, stack: str, source: str | None) -> dict[str, object]:
    """`document` as a JSON object from a saved file, stdin (`-`), or the Pulumi CLI (None)."""
    if source is None:
        text, origin = _pulumi(document, stack), f"`{document.cli()}` for stack {stack}"
    elif source == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError:
            raise OutputsError(f"stdin is not UTF-8 text: pipe in `{document.cli()}`") from None
        origin = "stdin"
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise OutputsError(
                f"cannot read {source}: {reason}. Save the {document.what} with "
                f"`{document.cli(stack)} > FILE` first"
            ) from None
        origin = source
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputsError(
            f"{origin} is not JSON ({error.msg} at line {error.lineno}, column {error.colno}). "
            f"Pass the output of `{document.cli()}`"
        ) from None
    if not isinstance(loaded, dict):
        raise OutputsError(
            f"{origin} holds a JSON {type(loaded).__name__}, not an object of {document.what}. "
            f"Pass the output of `{document.cli()}`"
        )
    return loaded


def _pulumi(document: Document, stack: str) -> str:
    command = ["pulumi", *document.command, "--stack", stack, *document.flags]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    except FileNotFoundError:
        raise OutputsError(
            f"the pulumi CLI is not on PATH. Install it, or pass {document.option} with a saved "
            f"`{document.cli()}`"
        ) from None
    if result.returncode != 0:
        raise OutputsError(
            f"`pulumi {' '.join(document.command)} --stack {stack}` failed: "
            f"{result.stderr.strip()}. Log in to the stack's backend and check the stack name"
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


def add_state_and_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--state and --config, for the tools that need every secret of a stack, not only its
    outputs' (at most one of them and --input may be '-')."""
    for document in (STATE, CONFIG):
        parser.add_argument(
            document.option,
            metavar="FILE",
            help=f"saved `{document.cli()}` ('-' for stdin); default: run the pulumi CLI",
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
