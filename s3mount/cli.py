"""The command line: mount, run, check, unmount, settings, key-file (and the internal watch).

Every command turns bad input and OS errors into one line on stderr that names the problem and the
fix, with a non-zero exit: 2 for bad input, 1 for a mount that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import s3mount
from s3mount import settings as known
from s3mount.keyfile import write_key_file
from s3mount.mounting import mount_reporting, stop_on_request, wait_for_attach
from s3mount.mountpoint import mount_entry, probe
from s3mount.publish import publish_command
from s3mount.publisher import serve_from_stdin
from s3mount.settings import (
    MountSettings,
    MountSettingsError,
    Needs,
    gather,
    load_mount_settings,
)
from s3mount.status import MountError, StatusFile, exclusive, log, prepare_run_dir, status_file
from s3mount.supervise import start_publisher, start_watcher, supervise

# What each command is for, and what it needs to know.
COMMANDS: dict[str, tuple[str, Needs | None]] = {
    "mount": ("mount the bucket (a healthy mount is kept), check it, report", Needs.EVERYTHING),
    "run": (
        "mount, then supervise the client in the foreground (systemd, Type=notify); SIGTERM "
        "unmounts cleanly",
        Needs.EVERYTHING,
    ),
    "check": ("exit 0 only if the bucket is mounted and answers a probe", Needs.MOUNT_POINT),
    "status": ("print the mount's status file (no secret is in it)", Needs.MOUNT_POINT),
    "prepare": (
        "make the mount point an empty directory that refuses writes until a mount comes (a "
        "sandbox waiting to be attached)",
        Needs.MOUNT_POINT,
    ),
    "unmount": ("stop the client and unmount", Needs.MOUNT_POINT),
    "settings": (
        "validate the settings and print them, never the secret (the key pair is optional here)",
        Needs.ALL_BUT_CREDENTIALS,
    ),
    "key-file": (
        "write Secrets Manager's value (the key pair as JSON, on stdin) as an env file, mode 0600",
        None,
    ),
}
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def settings_help(needs: Needs) -> str:
    """The settings a command reads, with their defaults and where they come from."""
    lines = [
        "settings, from the --env-file files (KEY=value lines; later files win) and the",
        "environment (which wins over all):",
    ]
    stack = "required" if needs is not Needs.MOUNT_POINT else "read if set"
    for name, meaning in known.STACK_SETTINGS.items():
        required = stack if name != s3mount.contract.MOUNT_DIR else "required"
        lines.append(f"  {name:<28} {meaning} ({required}, sent by the stack)")
    credentials = "required" if needs is Needs.EVERYTHING else "checked if set"
    for name, meaning in known.CREDENTIALS.items():
        lines.append(f"  {name:<28} {meaning} ({credentials})")
    for name, (default, meaning) in known.OWN_SETTINGS.items():
        lines.append(f"  {name:<28} {meaning} (default {default})")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="s3mount",
        description=(s3mount.__doc__ or "").split("\n\n")[0],
        epilog="`s3mount COMMAND --help` lists the settings a command reads.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{" + ",".join([*COMMANDS, "publish"]) + "}"
    )
    for name, (summary, needs) in COMMANDS.items():
        command = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=settings_help(needs) if needs else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if needs is None:
            command.add_argument(
                "--output", required=True, type=Path, metavar="FILE", help="where to write"
            )
        else:
            command.add_argument(
                "--env-file", action="append", default=[], type=Path, metavar="FILE",
                help="settings in KEY=value lines; later files win, the environment wins",
            )  # fmt: skip
        if name == "mount":
            command.add_argument(
                "--print-status", action="store_true",
                help="print the status file when done, mounted or not (one JSON line)",
            )  # fmt: skip
    publish = commands.add_parser(
        "publish",
        help="copy a local tree into the mounted bucket, many files at once, and report each",
        description=(
            "Copy the tree at SOURCE (on local disk) to DESTINATION (a directory in the mount): "
            "returns once every file is in the bucket, with a line per file that failed. Needs "
            "no credential: the mount's publisher (root) reads the files the caller opened."
        ),
    )
    publish.add_argument("source", type=Path, metavar="SOURCE")
    publish.add_argument("destination", type=Path, metavar="DESTINATION")
    # What `mount` starts for itself, detached; not for people.
    watch = commands.add_parser("watch")
    watch.add_argument("--status", required=True, type=Path, metavar="FILE")
    publisher = commands.add_parser("publish-server")
    publisher.add_argument("--status", required=True, type=Path, metavar="FILE")
    return parser.parse_args(argv)


def run_command(command: str, s: MountSettings, print_status: bool = False) -> int:
    if command == "settings":
        print(json.dumps(s.public(), indent=2))
        return 0
    if command == "status":
        found = status_file(s).read()
        print(json.dumps(found or {"ok": False, "error": "no status: never mounted here"}))
        return 0 if found.get("ok") is True else EXIT_FAILED
    prepare_run_dir(s)
    status = status_file(s)
    with exclusive(status):
        if command == "check":
            writable = status.read().get("readOnly") is not True  # a read-only one is listed
            mounted = mount_entry(s.mount_dir) is not None
            problem = probe(s.mount_dir, s.timeout, writable) if mounted else "not mounted"
            print(f"{s.mount_dir}: {problem or 'mounted and healthy'}")
            return 0 if problem is None else EXIT_FAILED
        if command == "unmount":
            return 0 if stop_on_request(status, s.mount_dir) else EXIT_FAILED
        if command == "prepare":
            return wait_for_attach(s, status)
        try:
            client = mount_reporting(s, status)
        except MountError as failure:
            log(f"bucket not mounted at {s.mount_dir}: {failure}")
            if print_status:
                print(json.dumps(status.read()))
            return EXIT_FAILED
        if command == "mount" and client is not None:
            start_watcher(status)
            if not s.read_only:  # a read-only session could not write what it is handed
                start_publisher(s, status, client.pid)
        if print_status:
            print(json.dumps(status.read()))
    return supervise(status, client) if command == "run" else 0


def _key_file(output: Path) -> int:
    if output.is_dir():
        log(f"no key file written: {output} is a directory: pass a file name with --output")
        return EXIT_BAD_INPUT
    try:
        write_key_file(sys.stdin.read(), output)
    except MountSettingsError as problem:
        log(f"no key file written: {problem}")
        return EXIT_BAD_INPUT
    except UnicodeDecodeError:
        log("no key file written: stdin is not UTF-8 text: pipe in the secret's SecretString")
        return EXIT_BAD_INPUT
    except OSError as failure:
        log(
            f"no key file written: cannot write {output}: {failure.strerror}: pass --output "
            "with a file in a directory that exists and that you may write"
        )
        return EXIT_BAD_INPUT
    return 0


def _watch(status_path: Path) -> int:
    status = StatusFile(status_path)
    if not status_path.is_file() or not status.read().get("mountDir"):
        log(f"watch: {status_path} is not a mount's status file; `s3mount mount` starts watch")
        return EXIT_BAD_INPUT
    return supervise(status, None)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "key-file":
        return _key_file(args.output)
    if args.command == "watch":
        return _watch(args.status)
    if args.command == "publish-server":
        return serve_from_stdin(args.status)
    if args.command == "publish":
        run_dir = Path(
            os.environ.get("S3_MOUNT_RUN_DIR") or known.OWN_SETTINGS["S3_MOUNT_RUN_DIR"][0]
        )
        return publish_command(args.source, args.destination, run_dir)
    needs = COMMANDS[args.command][1] or Needs.EVERYTHING
    try:
        settings = load_mount_settings(gather(args.env_file, os.environ), needs)
    except MountSettingsError as problem:
        log(
            f"{args.command}: bad settings: {problem}. Pass them with --env-file FILE or in the "
            f"environment (`s3mount {args.command} --help` lists them)"
        )
        return EXIT_BAD_INPUT
    try:
        return run_command(args.command, settings, getattr(args, "print_status", False))
    except OSError as failure:
        where = failure.filename or settings.mount_dir
        log(f"{args.command}: {where}: {failure.strerror or failure}")
        return EXIT_FAILED
