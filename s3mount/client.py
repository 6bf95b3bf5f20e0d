"""s3fs, the client: its flags, its environment, and what its error lines mean.

s3fs is the one client measured whose close() and fsync() wait for the upload (rclone's fsync is a
no-op, goofys ignores fsync, geesefs uploads after close returned; docs/design.md).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from s3mount.settings import MountSettings

CLIENT = "s3fs"
# Parallel parts of 8 MiB for uploads and cold reads: about what boto3's transfer manager uses
# (docs/mount-benchmark.md measures the choice over a WAN).
PARALLEL_COUNT = 8
PART_MIB = 8
# s3fs stats every entry of a listing with a HEAD request; more of them in flight shortens `ls`.
LISTING_HEADS_IN_FLIGHT = 64
# From this s3fs version on, missing names are cached unless disabled.
NEGATIVE_CACHE_BY_DEFAULT = (1, 92)
# Network bounds of one request: a dead endpoint fails close() in seconds, not minutes.
CONNECT_TIMEOUT = 5
TRANSFER_TIMEOUT = 30
RETRIES = 3


def fuse_option(value: str) -> str:
    """Escapes a value for a FUSE -o list: libfuse splits on ',' unless a backslash precedes it,
    so a value can never add an option even if validation were bypassed."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


def s3fs_version(runner: Sequence[str] = ()) -> tuple[int, int] | None:
    """The installed s3fs's version (1.90 in Debian 12, 1.95 in Debian 13); None if unknown.
    `runner` prefixes the command (a chroot, for the benchmarks' other hosts)."""
    try:
        result = subprocess.run(
            [*runner, CLIENT, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"V(\d+)\.(\d+)", result.stdout)
    return (int(found[1]), int(found[2])) if found else None


def freshness_options(seconds: float, version: tuple[int, int] | None) -> list[str]:
    """s3fs and kernel caches bounded so a view is never older than `seconds`.

    A stale answer can come from two caches in a row: the kernel's (entries, attributes and
    missing names: *_timeout, float seconds) and s3fs's stat cache (whole seconds), which also
    remembers missing names. Half of the bound goes to s3fs (when at least one whole second).
    The kernel keeps entries and attributes for half of the rest (worst case 3/4 of the bound)
    and missing names exactly as long as s3fs does (worst case the bound).

    That equality is what makes s3fs's cache of missing names safe to use: 1.90 and 1.95 renew
    a missing name's entry each time they are asked for it, so a name polled more often than
    the entry lives stayed missing forever (seen in the contract tests). The kernel answers for
    a missing name as long as s3fs's entry lives, so s3fs is asked again only once it expired.
    The cache saves the second round of "is this name free?" requests in every create, mkdir
    and rename (docs/mount-programs-benchmark.md). It is on by default from 1.92; 1.90 needs
    the flag.
    """
    stat_seconds = int(seconds // 2)
    kernel = (seconds - stat_seconds) / 2
    options = [f"attr_timeout={kernel:g}", f"entry_timeout={kernel:g}"]
    if stat_seconds < 1:
        return [*options, f"negative_timeout={kernel:g}", "max_stat_cache_size=0"]
    options += [f"negative_timeout={stat_seconds}", f"stat_cache_expire={stat_seconds}"]
    if version is not None and version < NEGATIVE_CACHE_BY_DEFAULT:
        options.append("enable_noobj_cache")
    return options


def s3fs_options(s: MountSettings, version: tuple[int, int] | None) -> str:
    """The -o list for s3fs: ownership, signing, bounds, parallel transfers, freshness."""
    options = [
        "allow_other",
        f"uid={s.uid}",
        f"gid={s.gid}",
        f"umask={s.umask}",
        f"mp_umask={s.umask}",
        # Signature v4 only: after a rejected key s3fs would otherwise retry with v2 for seconds.
        "sigv4",
        f"endpoint={fuse_option(s.region)}",
        f"connect_timeout={CONNECT_TIMEOUT}",
        f"readwrite_timeout={TRANSFER_TIMEOUT}",
        f"retries={RETRIES}",
        # Errors only: the log is where the status file finds why an upload failed.
        "dbglevel=err",
        f"parallel_count={PARALLEL_COUNT}",
        f"multipart_size={PART_MIB}",
        f"multireq_max={LISTING_HEADS_IN_FLIGHT}",
        *freshness_options(s.freshness, version),
    ]
    if s.endpoint:
        options += [f"url={fuse_option(s.endpoint)}", "use_path_request_style"]
    if s.read_only:
        options.append("ro")
    return ",".join(options)


def s3fs_command(s: MountSettings, log_path: Path, version: tuple[int, int] | None) -> list[str]:
    """s3fs in the foreground, logging to its own file: stdout to a file would be block-buffered
    and the supervisor would learn of a failed upload only when the client ends."""
    logging = f"logfile={fuse_option(str(log_path))}"
    return [CLIENT, s.remote, s.mount_dir, "-f", "-o", f"{s3fs_options(s, version)},{logging}"]


def client_environment(s: MountSettings) -> dict[str, str]:
    """Nothing inherited: only what s3fs needs, the key pair among it."""
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "AWSACCESSKEYID": s.access_key_id,
        "AWSSECRETACCESSKEY": s.secret_access_key,
        # A session's token: s3fs takes it from here only (measured: not from a credentials file).
        **({"AWSSESSIONTOKEN": s.session_token} if s.session_token else {}),
    }


# S3's error codes for a session whose credentials expired.
EXPIRED_CODES = r"ExpiredToken|TokenRefreshRequired"
EXPIRED = "the credentials expired{expiry}: attach the sandbox again"
_EXPLANATIONS = (
    (rf"{EXPIRED_CODES}|token has expired|RequestExpired", EXPIRED),
    (r"SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|invalid credentials|Forbidden|"
     r"\b403\b", "the endpoint rejected the credentials (access denied)"),
    (r"NoSuchBucket|bucket not found|\b404\b", "bucket {bucket} does not exist"),
    (r"/dev/fuse|fuse: device not found|allow_other only allowed|"
     r"fusermount.*(denied|not permitted)|Operation not permitted",
     "no permission to mount (FUSE needs root or user_allow_other)"),
    (r"Could not resolve|Couldn't resolve", "the endpoint host does not resolve"),
    (r"Connection refused|COULDNT_CONNECT|Couldn't connect|Failed to connect|timed out|"
     r"TIMEDOUT|Timeout",
     "could not reach the endpoint {endpoint}"),
)  # fmt: skip


def error_lines(log: str) -> list[str]:
    """The client's error lines: [ERR] and [CRT], and what it printed without a timestamp."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return [
        line
        for line in lines
        if ("[ERR]" in line or "[CRT]" in line or not re.match(r"^\d{4}-\d\d-\d\dT", line))
        # Not reasons: the level change at start, and the retry loop's own bookkeeping.
        and not re.search(r"change debug level|### (giving up|retrying)", line, re.IGNORECASE)
    ]


def explain(
    errors: Sequence[str], bucket: str, endpoint: str, fallback: str, expires_at: str = ""
) -> str:
    """A person-readable reason from the client's error lines (which never hold the secret)."""
    text = "\n".join(errors)
    for pattern, reason in _EXPLANATIONS:
        if re.search(pattern, text, re.IGNORECASE):
            return reason.format(
                bucket=bucket, endpoint=endpoint or "default", expiry=_at(expires_at)
            )
    last = errors[-1][:200] if errors else ""
    return f"{fallback} ({last})" if last else fallback


def expired_reason(expires_at: str) -> str:
    """Why nothing through the mount can succeed once its session's credentials expired."""
    return EXPIRED.format(expiry=_at(expires_at))


def _at(expires_at: str) -> str:
    return f" (at {expires_at})" if expires_at else ""
