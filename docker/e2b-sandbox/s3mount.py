#!/usr/bin/env python3
"""Mounts the stack's S3 bucket at the mount dir, for the sandbox and for the backend host alike.

    s3mount.py mount    [--env-file FILE]...  mount (or keep a healthy mount), check it, report
    s3mount.py run      [--env-file FILE]...  the same, then supervise the client in the
                                              foreground (systemd); SIGTERM unmounts cleanly
    s3mount.py check    [--env-file FILE]...  exit 0 only if the mount is up and answers a probe
    s3mount.py unmount  [--env-file FILE]...  stop the client and unmount
    s3mount.py settings [--env-file FILE]...  validate the settings; print them without secrets
    s3mount.py key-file --output FILE         the key pair from Secrets Manager's JSON (stdin)
                                              as an env file (0600) for the unit and compose

The contract it keeps (README, "The shared bucket's contract"):
- durable at close: when close() or fsync() on a file under the mount returns success, the bucket
  holds exactly the bytes written, and losing the client right after loses nothing;
- failure is loud: an upload that cannot complete fails close()/fsync() with an error, and the
  status file says why;
- fresh: a change made through the S3 API or another mount is seen by name, in listings and by
  content within S3_MOUNT_FRESHNESS_SECONDS (default 2).
s3fs is the client: of the clients measured, only it uploads inside close() and fsync()
(rclone's fsync is a no-op, goofys ignores fsync, geesefs uploads after close returned; see
docs/mount-benchmark.md).

Settings come from the --env-file files (dotenv: KEY=value, KEY="escaped", # comments, optional
`export `) and from the environment, which wins when it sets a value:
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the key pair (required)
  S3_BUCKET_NAME (required), AWS_REGION (us-east-1), S3_MOUNT_DIR (/opt/sentient)
  S3_ENDPOINT_URL        an S3-compatible endpoint, path-style; empty: AWS
  S3_MOUNT_FRESHNESS_SECONDS (2)   how stale a view may be; larger saves requests (README)
  S3_MOUNT_UID, S3_MOUNT_GID (1000), S3_MOUNT_UMASK (0022)   who owns the files in the mount
  S3_MOUNT_TIMEOUT (30, at most 30)   the whole mount, check included
  S3_MOUNT_RUN_DIR (/run/e2b-s3-mount)   status (0644) and client log (0600), named after the dir

Standard library only: it runs in the sandbox image and on any backend host without a virtualenv.
The secret reaches s3fs through its environment only: never argv, the log or the status file.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import fcntl
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CLIENT = "s3fs"
DEFAULTS = {
    "AWS_REGION": "us-east-1",
    "S3_MOUNT_DIR": "/opt/sentient",
    "S3_ENDPOINT_URL": "",
    "S3_MOUNT_FRESHNESS_SECONDS": "2",
    "S3_MOUNT_UID": "1000",
    "S3_MOUNT_GID": "1000",
    "S3_MOUNT_UMASK": "0022",
    "S3_MOUNT_TIMEOUT": "30",
    "S3_MOUNT_RUN_DIR": "/run/e2b-s3-mount",
}
# Every name this program reads; the stack's contract (components/contract.py) must not send others.
SETTING_NAMES = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET_NAME", *DEFAULTS}
)
SECRET_NAMES = frozenset({"AWS_SECRET_ACCESS_KEY"})
MAX_TIMEOUT = 30
MAX_FRESHNESS = 3600
# Parallel parts of 8 MiB for uploads and cold reads: about what boto3's transfer manager uses
# (docs/mount-benchmark.md measures the choice over a WAN).
PARALLEL_COUNT = 8
PART_MIB = 8
# s3fs stats every entry of a listing with a HEAD request; more of them in flight shortens `ls`.
LISTING_HEADS_IN_FLIGHT = 64
# Network bounds of one request: a dead endpoint fails close() in seconds, not minutes.
CONNECT_TIMEOUT = 5
TRANSFER_TIMEOUT = 30
RETRIES = 3

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
_ACCESS_KEY_ID = re.compile(r"^[A-Za-z0-9]{1,128}$")
_MOUNT_DIR = re.compile(r"^(/[A-Za-z0-9._-]+)+$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Where a mount would hide what the system needs: these directories themselves, and everything
# under the trees (binaries, libraries, configuration, the kernel's, root's home with the start
# command and the code-interpreter server, runtime state, docker's data).
_RESERVED_DIRS = frozenset({"/", "/home", "/tmp", "/opt", "/mnt", "/srv", "/media"})  # noqa: S108
_RESERVED_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
    "/run", "/sbin", "/sys", "/usr", "/var",
)  # fmt: skip
# chattr +i: an unmounted mount point refuses writes, so nothing meant for the bucket lands on the
# local disk underneath (where nobody else would ever see it).
_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_IMMUTABLE_FL = 0x10


class SettingsError(Exception):
    """A bad setting: the message names it and the allowed form, never a secret value."""


class MountError(Exception):
    """The mount could not be made or checked; the message says why, for the status file."""


# --- settings -------------------------------------------------------------------------------


def parse_env_file(text: str, origin: str) -> dict[str, str]:
    """KEY=value lines as compose and systemd write them. Unquoted values end at ` #`; double
    quotes take \\\\ \\" \\$ escapes; single quotes are literal. A malformed line is an error
    naming the file and line, never its value (it may be the secret)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise SettingsError(f"{origin} line {number}: expected KEY=value")
        values[key] = _env_value(rest.strip(), f"{origin} line {number} ({key})")
    return values


def _env_value(rest: str, where: str) -> str:
    if rest[:1] == '"':
        out, i = [], 1
        while i < len(rest) and rest[i] != '"':
            if rest[i] == "\\" and i + 1 < len(rest):
                i += 1
            out.append(rest[i])
            i += 1
        if i >= len(rest):
            raise SettingsError(f"{where}: the double quote is never closed")
        _only_comment_after(rest[i + 1 :], where)
        return "".join(out)
    if rest[:1] == "'":
        end = rest.find("'", 1)
        if end < 0:
            raise SettingsError(f"{where}: the single quote is never closed")
        _only_comment_after(rest[end + 1 :], where)
        return rest[1:end]
    return re.split(r"\s+#", rest, maxsplit=1)[0].strip()


def _only_comment_after(tail: str, where: str) -> None:
    tail = tail.strip()
    if tail and not tail.startswith("#"):
        raise SettingsError(f"{where}: unexpected text after the closing quote")


def gather(env_files: Sequence[Path], environ: Mapping[str, str]) -> dict[str, str]:
    """The raw settings: the files in order, then the environment's non-empty values."""
    raw: dict[str, str] = {}
    for path in env_files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(f"cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise SettingsError(f"{path} is not UTF-8 text") from None
        raw.update({k: v for k, v in parse_env_file(text, str(path)).items() if k in SETTING_NAMES})
    raw.update({k: v for k, v in environ.items() if k in SETTING_NAMES and v})
    return raw


@dataclass(frozen=True)
class Settings:
    access_key_id: str
    secret_access_key: str
    bucket: str
    region: str
    mount_dir: str
    endpoint: str
    freshness: float
    uid: int
    gid: int
    umask: str
    timeout: int
    run_dir: Path

    @property
    def name(self) -> str:
        """The mount's name in the run dir: /opt/sentient -> opt-sentient."""
        return self.mount_dir.strip("/").replace("/", "-")

    def public(self) -> dict[str, object]:
        """What may be shown to anyone: everything but the secret."""
        return {
            "bucket": self.bucket,
            "region": self.region,
            "mountDir": self.mount_dir,
            "endpoint": self.endpoint or "default",
            "freshnessSeconds": self.freshness,
            "accessKeyId": self.access_key_id,
        }


def load_settings(raw: Mapping[str, str]) -> Settings:
    """Validated settings; every problem at once, each naming the variable and the allowed form."""
    values = {**DEFAULTS, **raw}
    problems: list[str] = []

    def check(name: str, ok: bool, allowed: str, show: bool = True) -> None:
        if not ok:
            shown = f" = {values.get(name, '')!r}" if show and name not in SECRET_NAMES else ""
            problems.append(f"{name}{shown}: {allowed}")

    check(
        "AWS_ACCESS_KEY_ID",
        bool(_ACCESS_KEY_ID.match(values.get("AWS_ACCESS_KEY_ID", ""))),
        "required: the access key id (letters and digits)",
    )
    secret = values.get("AWS_SECRET_ACCESS_KEY", "")
    check(
        "AWS_SECRET_ACCESS_KEY",
        bool(secret) and not _CONTROL.search(secret) and len(secret) <= 256,
        "required: the secret access key (one line)",
    )
    check(
        "S3_BUCKET_NAME",
        bool(_BUCKET.match(values.get("S3_BUCKET_NAME", ""))),
        "required: an S3 bucket name (3-63 lowercase letters, digits, '.', '-')",
    )
    check("AWS_REGION", bool(_REGION.match(values["AWS_REGION"])), "an AWS region like us-east-1")
    check("S3_MOUNT_DIR", mount_dir_problem(values["S3_MOUNT_DIR"]) is None,
          mount_dir_problem(values["S3_MOUNT_DIR"]) or "")  # fmt: skip
    endpoint_problem = endpoint_url_problem(values["S3_ENDPOINT_URL"])
    check("S3_ENDPOINT_URL", endpoint_problem is None, endpoint_problem or "")
    freshness = _number(values["S3_MOUNT_FRESHNESS_SECONDS"])
    check(
        "S3_MOUNT_FRESHNESS_SECONDS",
        freshness is not None and 0 <= freshness <= MAX_FRESHNESS,
        f"seconds from 0 to {MAX_FRESHNESS}",
    )
    ids = {name: _number(values[name]) for name in ("S3_MOUNT_UID", "S3_MOUNT_GID")}
    for name, number in ids.items():
        check(name, number is not None and number.is_integer() and 0 <= number < 2**32 - 1,
              "a numeric id")  # fmt: skip
    check("S3_MOUNT_UMASK", bool(re.match(r"^0?[0-7]{3}$", values["S3_MOUNT_UMASK"])),
          "an octal umask like 0022")  # fmt: skip
    timeout = _number(values["S3_MOUNT_TIMEOUT"])
    check(
        "S3_MOUNT_TIMEOUT",
        timeout is not None and timeout.is_integer() and 1 <= timeout <= MAX_TIMEOUT,
        f"whole seconds from 1 to {MAX_TIMEOUT}",
    )
    run_dir = values["S3_MOUNT_RUN_DIR"]
    check("S3_MOUNT_RUN_DIR", run_dir.startswith("/") and not _CONTROL.search(run_dir),
          "an absolute path")  # fmt: skip
    if problems:
        raise SettingsError("; ".join(problems))
    return Settings(
        access_key_id=values["AWS_ACCESS_KEY_ID"],
        secret_access_key=secret,
        bucket=values["S3_BUCKET_NAME"],
        region=values["AWS_REGION"],
        mount_dir=values["S3_MOUNT_DIR"],
        endpoint=values["S3_ENDPOINT_URL"].rstrip("/"),
        freshness=float(freshness or 0),
        uid=int(ids["S3_MOUNT_UID"] or 0),
        gid=int(ids["S3_MOUNT_GID"] or 0),
        umask=values["S3_MOUNT_UMASK"].rjust(4, "0"),
        timeout=int(timeout or 0),
        run_dir=Path(run_dir),
    )


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number else None  # NaN is no number


def mount_dir_problem(path: str) -> str | None:
    """Why a mount dir is refused, or None: absolute, normal, not where the system lives."""
    if not _MOUNT_DIR.match(path) or any(part in (".", "..") for part in path.split("/")):
        return (
            "an absolute path like /opt/sentient: letters, digits, '.', '_', '-' between single "
            "slashes, no trailing slash, no '.' or '..'"
        )
    if any(len(part) > 255 for part in path.split("/")) or len(path) > 1024:
        return "at most 255 characters a component and 1024 in all"
    if path in _RESERVED_DIRS or any(
        path == t or path.startswith(f"{t}/") for t in _RESERVED_TREES
    ):
        return (
            "a directory of its own such as /opt/sentient or /mnt/shared, not a system "
            "directory: not "
            + ", ".join(sorted(_RESERVED_DIRS - {"/"}))
            + " themselves, nor anything under "
            + ", ".join(_RESERVED_TREES)
        )
    return None


def endpoint_url_problem(url: str) -> str | None:
    """Why an endpoint is refused, or None. Empty means AWS."""
    if not url:
        return None
    allowed = (
        "an http(s) URL of an S3-compatible endpoint like http://minio:9000: host and optional "
        "port, no user, password, query, comma, space or control character"
    )
    if _CONTROL.search(url) or re.search(r"[\s,\\]", url):
        return allowed
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return allowed
    host = parts.hostname or ""
    if (
        parts.scheme not in ("http", "https")
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or parts.path not in ("", "/")
        or not (_HOST.match(host) or _is_ipv6(host))
        or port == 0
    ):
        return allowed
    return None


def _is_ipv6(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        return False
    return True


# --- s3fs -----------------------------------------------------------------------------------


def fuse_option(value: str) -> str:
    """Escapes a value for a FUSE -o list: libfuse splits on ',' unless a backslash precedes it,
    so a value can never add an option even if validation were bypassed."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


def s3fs_version() -> tuple[int, int] | None:
    """The installed s3fs's version (1.90 in Debian 12, 1.95 in Debian 13); None if unknown."""
    try:
        result = subprocess.run(
            [CLIENT, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"V(\d+)\.(\d+)", result.stdout)
    return (int(found[1]), int(found[2])) if found else None


def freshness_options(seconds: float, version: tuple[int, int] | None) -> list[str]:
    """s3fs and kernel caches bounded so a view is never older than `seconds`.

    A stale answer can come from two caches in a row: the kernel's (entries, attributes and
    missing names: *_timeout, float seconds) and s3fs's stat cache (whole seconds). Half of the
    bound goes to s3fs (when at least one whole second), half of the rest to the kernel, so the
    worst case is 3/4 of it. s3fs's cache of missing names stays off: in 1.90 it does not expire
    while the name is looked up again and again (seen in the contract tests), and from 1.92 on it
    is on unless disabled. An unknown version is taken as a new one: an older s3fs then refuses
    the option and the mount fails loudly, where the other guess would silently keep missing
    names missing.
    """
    stat_seconds = int(seconds // 2)
    kernel = (seconds - stat_seconds) / 2
    options = [f"{cache}_timeout={kernel:g}" for cache in ("attr", "entry", "negative")]
    if stat_seconds >= 1:
        options.append(f"stat_cache_expire={stat_seconds}")
    else:
        options.append("max_stat_cache_size=0")
    if version is None or version >= (1, 92):
        options.append("disable_noobj_cache")
    return options


def s3fs_options(s: Settings, version: tuple[int, int] | None) -> str:
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
    return ",".join(options)


def s3fs_command(s: Settings, log_path: Path, version: tuple[int, int] | None) -> list[str]:
    """s3fs in the foreground, logging to its own file: stdout to a file would be block-buffered
    and the supervisor would learn of a failed upload only when the client ends."""
    logging = f"logfile={fuse_option(str(log_path))}"
    return [CLIENT, s.bucket, s.mount_dir, "-f", "-o", f"{s3fs_options(s, version)},{logging}"]


def client_environment(s: Settings) -> dict[str, str]:
    """Nothing inherited: only what s3fs needs, the key pair among it."""
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "AWSACCESSKEYID": s.access_key_id,
        "AWSSECRETACCESSKEY": s.secret_access_key,
    }


_EXPLANATIONS = (
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


def explain(errors: Sequence[str], bucket: str, endpoint: str, fallback: str) -> str:
    """A person-readable reason from the client's error lines (which never hold the secret)."""
    text = "\n".join(errors)
    for pattern, reason in _EXPLANATIONS:
        if re.search(pattern, text, re.IGNORECASE):
            return reason.format(bucket=bucket, endpoint=endpoint or "default")
    last = errors[-1][:200] if errors else ""
    return f"{fallback} ({last})" if last else fallback


# --- the mount point ------------------------------------------------------------------------


def mount_entry(mount_dir: str) -> tuple[str, str] | None:
    """(fstype, source) of what is mounted at mount_dir, from mountinfo: stat() would hang on a
    dead FUSE mount."""
    escaped = mount_dir.replace("\\", "\\134").replace(" ", "\\040")
    with Path("/proc/self/mountinfo").open(encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if len(fields) > 4 and fields[4] == escaped:
                tail = fields[fields.index("-") + 1 :]
                return (tail[0], tail[1]) if len(tail) >= 2 else ("", "")
    return None


def set_immutable(path: str, immutable: bool) -> bool:
    """chattr +i/-i on a directory; False where the file system has no such flag."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        wanted = flags[0] | _FS_IMMUTABLE_FL if immutable else flags[0] & ~_FS_IMMUTABLE_FL
        if wanted != flags[0]:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, array.array("i", [wanted]))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def prepare_mount_point(s: Settings) -> None:
    """The mount dir exists, is empty and refuses writes while nothing is mounted on it."""
    path = Path(s.mount_dir)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise MountError(f"{s.mount_dir} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise MountError(
            f"{s.mount_dir} is not empty: files written there while the bucket was not mounted "
            "are on the local disk only; move them into the bucket, then mount again"
        )
    # The flag also forbids chmod: lifted for a moment, set again right after.
    set_immutable(s.mount_dir, False)
    path.chmod(0o755)  # the sandbox user (and the backend) must enter it
    if not set_immutable(s.mount_dir, True):
        log(f"{s.mount_dir}: the file system cannot make it read-only while unmounted")


def unmount(mount_dir: str) -> bool:
    """Unmount, lazily if busy; True once nothing is mounted there."""
    for command in (["fusermount", "-u", mount_dir], ["fusermount", "-u", "-z", mount_dir],
                    ["umount", "-l", mount_dir]):  # fmt: skip
        if mount_entry(mount_dir) is None:
            return True
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(command, capture_output=True, timeout=10, check=False)
    return mount_entry(mount_dir) is None


_PROBE = """
import os, sys
root, name, content = sys.argv[1], sys.argv[2], sys.argv[3].encode()
os.listdir(root)
path = os.path.join(root, name)
with open(path, "wb") as probe:
    probe.write(content)
    probe.flush()
    os.fsync(probe.fileno())
with open(path, "rb") as probe:
    assert probe.read() == content, "read back other bytes"
os.unlink(path)
"""


def probe(mount_dir: str, seconds: float) -> str | None:
    """Lists, writes (fsync), reads back and deletes a probe file in a child process, so a hung
    mount costs `seconds` and no more. None when it passed, else the reason."""
    name = f".e2b-mount-probe-{secrets.token_hex(6)}"
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-c", _PROBE, mount_dir, name, secrets.token_hex(16)],
            capture_output=True,
            text=True,
            timeout=max(seconds, 1),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the mount check (list, write, read back, delete) took over {seconds:.0f} s"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return f"the mount check (list, write, read back, delete) failed: {last}"
    return None


# --- status ---------------------------------------------------------------------------------


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"{stamp} [s3mount] {message}", file=sys.stderr, flush=True)


def write_atomically(path: Path, text: str, mode: int) -> None:
    """A temporary file in the same directory, then rename(2): readers never see half a file,
    and a symlink planted at `path` is replaced, never followed."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class StatusFile:
    """The mount's status, readable by everyone (no secret in it), written only by root.

    `ok` says whether the bucket is mounted and was checked; `error` why not; `lastError` the
    last operation the client could not complete while mounted (close() then failed with it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.log_path = path.with_suffix(".log")

    def read(self) -> dict[str, object]:
        try:
            status = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return status if isinstance(status, dict) else {}

    def write(self, status: Mapping[str, object]) -> None:
        document = {**status, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            write_atomically(self.path, json.dumps(document) + "\n", 0o644)
        except OSError as failure:
            log(f"cannot write {self.path}: {failure.strerror}")

    def update(self, **changes: object) -> None:
        self.write({**self.read(), **changes})

    def report(self, s: Settings, error: str | None, seconds: float, pid: int | None) -> None:
        """A new status for this mount: mounted and checked (error None), or why not."""
        self.write(
            {
                "ok": error is None,
                "tool": CLIENT if error is None else None,
                **s.public(),
                "error": error,
                "lastError": None,
                "seconds": round(seconds, 3),
                "pid": pid,
                "watcher": None,
                # Where the client's log stood when the mount was checked: what comes after is
                # news for the supervisor, even if it starts a moment later.
                "logOffset": self.log_path.stat().st_size if self.log_path.exists() else 0,
            }
        )

    def log_text(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as client_log:
                client_log.seek(offset)
                return client_log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def status_file(s: Settings) -> StatusFile:
    return StatusFile(s.run_dir / f"{s.name}.json")


def prepare_run_dir(s: Settings) -> None:
    """Root's own directory: others may read the status, nobody else may write there."""
    s.run_dir.mkdir(parents=True, exist_ok=True)
    s.run_dir.chmod(0o755)  # the status is for everyone to read


@contextlib.contextmanager
def exclusive(status: StatusFile) -> Iterator[None]:
    """One mount operation per mount dir at a time (a unit, a by-hand run and a supervisor
    noticing its client's end may race; each reads, decides and writes under this lock)."""
    with status.path.with_suffix(".lock").open("a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- processes ------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def command_line(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def stop_process(pid: int) -> None:
    """SIGTERM, five seconds, SIGKILL; reaps it when it is this program's child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def client_pid(status: Mapping[str, object], mount_dir: str) -> int | None:
    """The client the status names, if that process is still s3fs on this mount dir."""
    pid = status.get("pid")
    if not isinstance(pid, int) or not alive(pid):
        return None
    cmdline = command_line(pid)
    return pid if cmdline[:1] == [CLIENT.encode()] and mount_dir.encode() in cmdline else None


def stop_on_request(status: StatusFile, mount_dir: str) -> bool:
    """`unmount`, or SIGTERM to a supervisor: take the mount down and say so in the status."""
    unmounted = take_down(status, mount_dir)
    status.update(ok=False, tool=None, error="stopped on request", pid=None)
    return unmounted


def take_down(status: StatusFile, mount_dir: str) -> bool:
    """Unmounts and stops the client; True once nothing is mounted there. Its supervisor is
    dismissed first, so it does not report the end it did not cause."""
    status.update(watcher=None)
    pid = client_pid(status.read(), mount_dir)
    unmounted = unmount(mount_dir)
    if pid is not None:
        stop_process(pid)
    return unmounted or unmount(mount_dir)


# --- mounting -------------------------------------------------------------------------------


def check_endpoint(s: Settings, seconds: float) -> None:
    """A refused or silent endpoint fails here in seconds, with the reason, before s3fs runs."""
    if not s.endpoint:
        return
    # The endpoint was validated as an http(s) URL.
    request = urllib.request.Request(f"{s.endpoint}/", method="HEAD")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=seconds):  # noqa: S310
            return
    except urllib.error.HTTPError:
        return  # it answered: any status will do
    except (urllib.error.URLError, OSError) as failure:
        reason = getattr(failure, "reason", failure)
        if isinstance(reason, socket.timeout) or "timed out" in str(reason):
            raise MountError(
                f"the endpoint {s.endpoint} did not answer within {seconds:.0f} s"
            ) from None
        if isinstance(reason, ConnectionRefusedError):
            raise MountError(f"the endpoint {s.endpoint} refused the connection") from None
        if isinstance(reason, socket.gaierror):
            raise MountError(f"the endpoint host in {s.endpoint} does not resolve") from None
        raise MountError(f"the endpoint {s.endpoint} is unreachable ({reason})") from None


def start_client(s: Settings, status: StatusFile, deadline: float) -> subprocess.Popen[bytes]:
    """Starts s3fs in a session of its own (it outlives this program) and waits for the mount."""
    fd = os.open(status.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    offset = os.fstat(fd).st_size
    with os.fdopen(fd, "ab") as client_log:
        client = subprocess.Popen(
            s3fs_command(s, status.log_path, s3fs_version()),
            env=client_environment(s),
            stdin=subprocess.DEVNULL,
            stdout=client_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def failure(fallback: str) -> MountError:
        errors = error_lines(status.log_text(offset))
        return MountError(explain(errors, s.bucket, s.endpoint, fallback))

    while time.monotonic() < deadline:
        entry = mount_entry(s.mount_dir)
        if entry is not None and entry[0].startswith("fuse"):
            problem = probe(s.mount_dir, max(deadline - time.monotonic(), 1))
            if problem is None:
                return client
            stop_process(client.pid)
            unmount(s.mount_dir)
            raise failure(problem)
        if client.poll() is not None:
            raise failure(f"s3fs exited ({client.returncode}) without mounting")
        time.sleep(0.05)
    stop_process(client.pid)
    raise failure(f"not mounted within {s.timeout} s")


def healthy(s: Settings, status: StatusFile, seconds: float) -> bool:
    """Mounted by this bucket's client and answering the probe: nothing to redo."""
    current = status.read()
    return (
        mount_entry(s.mount_dir) is not None
        and current.get("ok") is True
        and current.get("bucket") == s.bucket
        and current.get("endpoint") == (s.endpoint or "default")
        and client_pid(current, s.mount_dir) is not None
        and probe(s.mount_dir, seconds) is None
    )


def mount(s: Settings, status: StatusFile) -> subprocess.Popen[bytes] | None:
    """Makes sure the bucket is mounted and checked. Returns the client when this call started
    it, None when a healthy mount was already there. Raises MountError with the reason."""
    started = time.monotonic()
    deadline = started + s.timeout
    if healthy(s, status, min(s.timeout, 10)):
        log(f"{s.mount_dir} is already mounted and healthy")
        return None
    if mount_entry(s.mount_dir) is not None or client_pid(status.read(), s.mount_dir):
        log(f"replacing the stale or broken mount at {s.mount_dir}")
        if not take_down(status, s.mount_dir):
            raise MountError(f"could not unmount the broken mount at {s.mount_dir}")
    if not Path("/dev/fuse").exists():
        raise MountError("FUSE is unavailable: /dev/fuse is missing")
    prepare_mount_point(s)
    check_endpoint(s, min(5.0, s.timeout))
    client = start_client(s, status, deadline)
    seconds = time.monotonic() - started
    status.report(s, None, seconds, client.pid)
    log(f"mounted {s.bucket} at {s.mount_dir} with {CLIENT} in {seconds:.2f} s")
    return client


def mount_reporting(s: Settings, status: StatusFile) -> subprocess.Popen[bytes] | None:
    """mount(); on failure a status that says why, and nothing left mounted or running."""
    started = time.monotonic()
    try:
        return mount(s, status)
    except (MountError, OSError) as failure:
        reason = (
            str(failure)
            if isinstance(failure, MountError)
            else f"{failure.filename or s.mount_dir}: {failure.strerror or failure}"
        )
        with contextlib.suppress(OSError):
            take_down(status, s.mount_dir)
        status.report(s, reason, time.monotonic() - started, None)
        raise MountError(reason) from None


# --- supervision ----------------------------------------------------------------------------


def notify_systemd(message: str) -> None:
    """sd_notify without libsystemd: a datagram to $NOTIFY_SOCKET, when systemd set one."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(message.encode(), address)


def supervise(status: StatusFile, client: subprocess.Popen[bytes] | None) -> int:
    """Stays with the client while it runs: each error it logs goes into the status file as
    `lastError` (close() failed with it), its end makes the status say why. SIGTERM unmounts
    cleanly (exit 0); the client dying is a failure a supervisor such as systemd restarts (1).
    Another supervisor taking over (its pid in `watcher`) ends this one quietly."""
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: stopping.append(number))
    current = status.read()
    mount_dir = str(current.get("mountDir", ""))
    pid = client.pid if client is not None else client_pid(current, mount_dir)
    me = os.getpid()
    status.update(watcher=me)
    notify_systemd(f"READY=1\nMAINPID={me}\nSTATUS=mounted at {mount_dir}")
    logged = current.get("logOffset")
    offset = logged if isinstance(logged, int) else len(status.log_text().encode())
    while not stopping:
        if pid is None or (client.poll() is not None if client else not alive(pid)):
            with exclusive(status):
                current = status.read()
                if current.get("watcher") != me:
                    return 0  # dismissed: whoever ended the client has mounted or unmounted
                unmount(mount_dir)
                errors = error_lines(status.log_text(offset))
                reason = explain(
                    errors,
                    str(current.get("bucket")),
                    str(current.get("endpoint", "")),
                    f"{CLIENT} exited while mounted",
                )
                status.update(ok=False, tool=None, error=reason, pid=None, watcher=None)
            log(f"the mount at {mount_dir} ended: {reason}")
            return 1
        text = status.log_text(offset)
        offset += len(text.encode())
        errors = error_lines(text)
        current = status.read()
        if current.get("watcher") != me:
            return 0
        if errors:
            endpoint = str(current.get("endpoint", ""))
            reason = explain(errors, str(current.get("bucket")), endpoint, "an operation failed")
            status.update(lastError=reason, lastErrorAt=time.strftime("%Y-%m-%dT%H:%M:%SZ"))
        time.sleep(0.5)
    notify_systemd("STOPPING=1")
    with exclusive(status):
        stop_on_request(status, mount_dir)
    log(f"unmounted {mount_dir}")
    return 0


def start_watcher(status: StatusFile) -> None:
    """A detached supervisor for a mount that outlives this program (the sandbox's)."""
    subprocess.Popen(
        [
            sys.executable,
            "-I",
            str(Path(__file__).resolve()),
            "watch",
            "--status",
            str(status.path),
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


# --- commands -------------------------------------------------------------------------------


def env_line(name: str, value: str) -> str:
    """KEY="value" as components/contract.py writes it: compose, systemd and parse_env_file
    all read back exactly `value`."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'{name}="{escaped}"\n'


def write_key_file(secret_json: str, output: Path) -> None:
    """The Secrets Manager value (the key pair under its variable names) as an env file, 0600,
    written atomically; anything else in the JSON is refused, never written."""
    try:
        pair = json.loads(secret_json)
    except ValueError:
        raise SettingsError("stdin is not JSON: pipe in the secret's SecretString") from None
    wanted = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if (
        not isinstance(pair, dict)
        or sorted(pair) != sorted(wanted)
        or not all(isinstance(value, str) for value in pair.values())
    ):
        raise SettingsError(f"the secret must hold exactly {' and '.join(wanted)}, as text")
    load_settings({**pair, "S3_BUCKET_NAME": "any-bucket"})  # the same checks as for a mount
    text = "# The backend's S3 key pair, from Secrets Manager. Keep it 0600; never commit it.\n"
    write_atomically(output, text + "".join(env_line(n, str(pair[n])) for n in wanted), 0o600)


def run_command(command: str, s: Settings) -> int:
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
        prog="s3mount.py", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "command", choices=("mount", "run", "check", "unmount", "settings", "key-file", "watch")
    )
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
        except SettingsError as problem:
            log(f"no key file written: {problem}")
            return 2
        return 0
    if args.command == "watch":
        if args.status is None:
            log("watch needs --status FILE")
            return 2
        return supervise(StatusFile(args.status), None)
    try:
        settings = load_settings(gather(args.env_file, os.environ))
    except SettingsError as problem:
        log(f"bad settings: {problem}")
        return 2
    try:
        return run_command(args.command, settings)
    except OSError as failure:
        log(f"{failure.filename or ''}: {failure.strerror or failure}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
