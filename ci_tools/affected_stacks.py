"""Which deployed stacks a change affects, from the paths it touches.

    git diff --name-only --no-renames BASE HEAD | python3 -m ci_tools.affected_stacks
    ["dev", "staging", "prod"]

The output is a JSON list for a GitHub Actions job matrix, in deployment order. A stack file
(stacks/Pulumi.<stack>.yaml) affects its own stack; the program's code affects every deployed stack;
anything else (docs, tests, CI tools) affects none. The local stack runs against an emulator and is
never deployed by CI.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import PurePosixPath

from program.environments import DEPLOYED_STACKS
from program.output_reader import tool_parser

# The Pulumi program: what `pulumi up` runs or builds, whatever the stack (the image's context is
# the project, filtered by .dockerignore; the backend's files are rendered by the program).
PROGRAM_FILES = frozenset(
    {
        "__main__.py",
        "Pulumi.yaml",
        "requirements.txt",
        ".dockerignore",
        "backend_host/files.py",
        "backend_host/render.py",
        "backend_host/unit_environment.py",
    }
)
PROGRAM_DIRS = tuple(
    PurePosixPath(d)
    # The policy pack judges every preview and up: a change to it is seen in each stack's preview.
    for d in ("components", "program", "s3mount", "docker/e2b-sandbox", "policy")
)
STACK_FILE_DIR = PurePosixPath("stacks")


def _stacks_of(path: str) -> set[str]:
    changed = PurePosixPath(path.strip().removeprefix("./"))
    if str(changed) in PROGRAM_FILES or any(changed.is_relative_to(d) for d in PROGRAM_DIRS):
        return set(DEPLOYED_STACKS)
    if changed.parent == STACK_FILE_DIR and changed.suffix == ".yaml":
        stack = changed.stem.removeprefix("Pulumi.")
        if changed.stem.startswith("Pulumi.") and stack in DEPLOYED_STACKS:
            return {stack}
    return set()


def affected_stacks(paths: Iterable[str]) -> list[str]:
    """The deployed stacks the changed paths affect, in deployment order (dev, staging, prod)."""
    affected: set[str] = set()
    for path in paths:
        if path.strip():
            affected |= _stacks_of(path)
    return [stack for stack in DEPLOYED_STACKS if stack in affected]


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("ci_tools.affected_stacks", __doc__)
    parser.parse_args(argv)
    # A terminal would wait for paths nobody types: say how to give them instead.
    if sys.stdin is None or sys.stdin.isatty():
        print(
            "error: no changed paths on stdin: pipe them in, e.g. "
            "`git diff --name-only --no-renames BASE HEAD | python3 -m ci_tools.affected_stacks`",
            file=sys.stderr,
        )
        return 2
    try:
        paths = sys.stdin.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        print(
            f"error: cannot read the changed paths from stdin: {reason}. "
            "Pipe in `git diff --name-only`",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(affected_stacks(paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
