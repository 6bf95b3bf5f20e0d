"""What `make up`, `make preview` and `make down` check, and set up, before Pulumi runs.

    python3 -m local_stack.preflight --command "make up" --engine --env-file build/local-stack.env
    python3 -m local_stack.preflight --stop-engine

Python 3.11 or newer; the Pulumi CLI (the user's own, or the pinned one installed into
build/pulumi/bin); with --engine, a container engine, whose DOCKER_HOST goes into the env file the
make recipes source. A problem is one line naming it, the fix and the command to run again.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from local_stack import engine, pulumi_cli
from program.output_reader import tool_parser

# The program's own floor (pyproject.toml); the virtualenv make builds uses this python3.
PYTHON_MIN = (3, 11)
MANUAL_INSTALL = (
    "install it yourself (https://www.pulumi.com/docs/install/, e.g. "
    "'brew install pulumi/tap/pulumi' or 'curl -fsSL https://get.pulumi.com | sh')"
)


class PreflightError(Exception):
    """The message names the problem and the fix."""


def check_python() -> None:
    if sys.version_info < PYTHON_MIN:
        found = ".".join(map(str, sys.version_info[:3]))
        raise PreflightError(
            f"python3 is {found}; the project needs {'.'.join(map(str, PYTHON_MIN))} or newer: "
            "install one (e.g. 'brew install python@3.12', 'sudo apt-get install python3') and "
            "put it first on PATH"
        )


def pulumi() -> str:
    version = pulumi_cli.pinned_version()
    try:
        directory, installed = pulumi_cli.ensure(version)
    except pulumi_cli.InstallError as problem:
        raise PreflightError(
            f"the Pulumi CLI is not installed and {version} could not be fetched ({problem}); "
            f"{MANUAL_INSTALL}"
        ) from None
    return f"installed the Pulumi CLI {version} into {directory}" if installed else ""


def container_engine(env_file: Path) -> str:
    try:
        docker_host, chosen = engine.find_engine()
    except engine.EngineError as problem:
        raise PreflightError(str(problem)) from None
    line = f"export DOCKER_HOST={shlex.quote(docker_host)}\n" if docker_host else ""
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(f"# Written by local_stack.preflight: {chosen}.\n{line}", encoding="utf-8")
    return f"building with {chosen}"


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("local_stack.preflight", __doc__)
    parser.add_argument("--command", default="make up", help="what the user ran, for messages")
    parser.add_argument("--engine", action="store_true", help="also find a container engine")
    parser.add_argument(
        "--env-file", type=Path, default=Path("build/local-stack.env"), metavar="FILE",
        help="where DOCKER_HOST goes (with --engine)",
    )  # fmt: skip
    parser.add_argument(
        "--stop-engine", action="store_true", help="stop the podman service make started"
    )
    args = parser.parse_args(argv)
    try:
        if args.stop_engine:
            engine.stop_podman()
            return 0
        check_python()
        notes = [pulumi()]
        if args.engine:
            notes.append(container_engine(args.env_file))
    except PreflightError as problem:
        print(f"error: {problem}; then run '{args.command}' again.", file=sys.stderr)
        return 1
    except OSError as problem:
        where = f"{problem.filename}: " if problem.filename else ""
        reason = problem.strerror or problem
        print(f"error: {where}{reason}; fix it, then run '{args.command}' again.", file=sys.stderr)
        return 1
    for note in filter(None, notes):
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
