"""s3fs with the mount program's flags changed, to measure a flag before it goes into
s3mount/client.py: the same command line the program would run (s3mount.client's own functions,
the host's s3fs version), with options added or removed, started without the program's supervisor
(which changes no request).

    --client-options -enable_noobj_cache,+stat_cache_expire=5
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.bucket_mounts import Host, ProgramMount, is_mounted, program_mount, unmount, wait_for
from harness.moto_server import MotoServer
from s3mount.client import client_environment, s3fs_command, s3fs_version
from s3mount.settings import load_mount_settings

MOUNT_SECONDS = 30


def parse_changes(text: str) -> list[str]:
    """`+name[=value]` adds or replaces an option, `-name` removes it; one clear line if not."""
    changes = [change.strip() for change in text.split(",") if change.strip()]
    for change in changes:
        if not re.fullmatch(r"\+[a-z_]+(=[^,]*)?|-[a-z_]+", change):
            raise SystemExit(
                f"--client-options: {change!r} is neither +name[=value] nor -name "
                "(example: +stat_cache_expire=5,-enable_noobj_cache)"
            )
    return changes


def changed(options: str, changes: list[str]) -> str:
    """The -o list with the changes applied (none of the program's values hold a comma)."""
    kept = options.split(",")
    for change in changes:
        name = change[1:].split("=")[0]
        kept = [option for option in kept if option.split("=")[0] != name]
        if change.startswith("+"):
            kept.append(change[1:])
    return ",".join(kept)


@contextmanager
def trial_mount(
    server: MotoServer,
    endpoint: str,
    host: Host,
    bucket: str,
    changes: list[str],
    **settings: str,
) -> Iterator[ProgramMount]:
    """The bucket mounted by s3fs as the program would mount it with `settings`, with `changes`
    to its flags."""
    mount = program_mount(bucket, endpoint, server.access_key, server.secret_key, host, **settings)
    loaded = load_mount_settings(mount.env)
    log = f"{loaded.run_dir}/s3fs.log"
    command = s3fs_command(loaded, Path(log), s3fs_version(host.runner()))
    command[-1] = options = changed(command[-1], changes)  # the -o list
    command = [*host.runner(), *command]
    mount.dir.mkdir()
    mount.run_dir.mkdir()
    client = subprocess.Popen(command, env=client_environment(loaded))
    try:
        if wait_for(lambda: is_mounted(mount.dir), timeout=MOUNT_SECONDS) is None:
            said = host.outside(log).read_text(errors="replace").strip().splitlines()[-3:]
            raise SystemExit(f"s3fs did not mount with {options}: {' / '.join(said)}")
        yield mount
    finally:
        unmount(mount.dir)
        client.wait(timeout=60)
        if not is_mounted(mount.dir):
            shutil.rmtree(mount.root, ignore_errors=True)
