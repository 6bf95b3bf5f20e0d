"""The command line: mount, run, check, unmount, settings, key-file (and the internal watch)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import s3mount
from s3mount.keyfile import write_key_file
from s3mount.mounting import mount_reporting, stop_on_request
from s3mount.mountpoint import mount_entry, probe
from s3mount.settings import MountSettings, MountSettingsError, gather, load_mount_settings
from s3mount.status import MountError, StatusFile, exclusive, log, prepare_run_dir, status_file
from s3mount.supervise import start_watcher, supervise

COMMANDS = ("mount", "run", "check", "unmount", "settings", "key-file", "watch")


def run_command(command: str, s: MountSettings) -> int:
    if command == "settings":
        print(json.dumps(s.public(), indent=2))
        return 0
    prepare_run_dir(s)
    status = status_file(s)
    with exclusive(status):
        if command == "check":
            problem = (
                "not mounted" if mount_entry(s.mount_dir) is None else probe(s.mount_dir, s.timeout)
            )
            print(problem or f"{s.mount_dir}: mounted and healthy")
            return 0 if problem is None else 1
        if command == "unmount":
            return 0 if stop_on_request(status, s.mount_dir) else 1
        try:
            client = mount_reporting(s, status)
        except MountError as failure:
            log(f"bucket not mounted: {failure}")
            return 1
        if command == "mount" and client is not None:
            start_watcher(status)
    return supervise(status, client) if command == "run" else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="s3mount", description=(s3mount.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "--env-file", action="append", default=[], type=Path, metavar="FILE",
        help="settings in KEY=value lines; later files win, the environment wins over all",
    )  # fmt: skip
    parser.add_argument(
        "--status", type=Path, metavar="FILE", help="watch: the status file of the mount to watch"
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="key-file: where to write")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "key-file":
        if args.output is None:
            log("key-file needs --output FILE")
            return 2
        try:
            write_key_file(sys.stdin.read(), args.output)
        except MountSettingsError as problem:
            log(f"no key file written: {problem}")
            return 2
        return 0
    if args.command == "watch":
        if args.status is None:
            log("watch needs --status FILE")
            return 2
        return supervise(StatusFile(args.status), None)
    try:
        settings = load_mount_settings(gather(args.env_file, os.environ))
    except MountSettingsError as problem:
        log(f"bad settings: {problem}")
        return 2
    try:
        return run_command(args.command, settings)
    except OSError as failure:
        log(f"{failure.filename or ''}: {failure.strerror or failure}")
        return 1
