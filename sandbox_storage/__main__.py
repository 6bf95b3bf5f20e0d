"""The backend's attach and detach from a shell, for a sandbox that already runs.

    python3 -m sandbox_storage attach SANDBOX_ID [--read-only] [--read-prefix P]... [--valid-for S]
    python3 -m sandbox_storage detach SANDBOX_ID
    python3 -m sandbox_storage policy SANDBOX_ID [--read-only] [--read-prefix P]...

attach and detach connect to the sandbox with e2b's SDK (`Sandbox.connect`, E2B_API_KEY in the
environment); policy prints the session policy attach would ask STS for, and needs neither E2B
nor AWS. The stack's settings come from the environment, as the backend's compose override sets
them. Every failure is one line naming the problem, with a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from program.policies import SessionPolicyError
from sandbox_storage.attach import AttachError, StorageConfig, attach, detach


def connect_with_e2b(sandbox_id: str) -> Any:
    """The running sandbox, through e2b's SDK (the backend's own dependency, not this one's)."""
    try:
        from e2b import Sandbox
    except ImportError:
        raise AttachError("the e2b package is not installed: pip install e2b") from None
    try:
        return Sandbox.connect(sandbox_id)
    except Exception as failed:
        raise AttachError(f"cannot connect to sandbox {sandbox_id}: {failed}") from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m sandbox_storage", description=(__doc__ or "").split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("attach", "give a running sandbox its own prefix, mounted at its mount dir"),
        ("detach", "unmount it and remove its credentials"),
        ("policy", "print the session policy attach would ask for"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument("sandbox_id", metavar="SANDBOX_ID")
        if name != "detach":
            command.add_argument("--read-only", action="store_true", help="no writes at all")
            command.add_argument(
                "--read-prefix", action="append", default=[], metavar="PREFIX",
                help="a further prefix to read (shared inputs), ending in '/'",
            )  # fmt: skip
        if name == "attach":
            command.add_argument(
                "--valid-for", type=int, metavar="SECONDS",
                help="how long the credentials last (default: the sandbox's remaining life)",
            )  # fmt: skip
    return parser.parse_args(argv)


def run(args: argparse.Namespace, connect: Callable[[str], Any]) -> str:
    config = StorageConfig.from_environ()
    if args.command == "policy":
        prefix = config.prefix_of(args.sandbox_id)
        document = config.session_policy(prefix, args.read_only, args.read_prefix)
        return json.dumps(document, indent=2) + "\n"
    sandbox = connect(args.sandbox_id)
    if args.command == "detach":
        return json.dumps(detach(sandbox)) + "\n"
    attached = attach(
        sandbox,
        read_only=args.read_only,
        read_prefixes=args.read_prefix,
        valid_for=args.valid_for,
        config=config,
    )
    return json.dumps({"prefix": attached.prefix, "expiresAt": attached.expires_at}) + "\n"


def main(
    argv: Sequence[str] | None = None, connect: Callable[[str], Any] = connect_with_e2b
) -> int:
    args = parse_args(argv)
    try:
        sys.stdout.write(run(args, connect))
    except (AttachError, SessionPolicyError) as problem:
        print(f"error: {args.command} {args.sandbox_id}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
