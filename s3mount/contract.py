"""The one home of what the sandbox and the backend receive from the stack: the variables' names,
which of them is secret, the limits and rules their values must keep, and the one file format
(dotenv) they are written in.

Standard library only: the mount program ships it inside its zipapp, and the Pulumi program, the
backend host's tools and CI's tools import it as they are. Who receives which variable, on which
channel, from which stack output, is the stack's business (program/shared.py).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

# The bucket and how to reach it: every mount reads these.
BUCKET_NAME = "S3_BUCKET_NAME"
REGION = "AWS_REGION"
MOUNT_DIR = "S3_MOUNT_DIR"
ENDPOINT_URL = "S3_ENDPOINT_URL"
FRESHNESS_SECONDS = "S3_MOUNT_FRESHNESS_SECONDS"
# The key pair: in a root-only file in the image, in a 0600 env file on the backend's host.
ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 (a variable's name)
# The backend's alone: the E2B template it creates sandboxes from.
TEMPLATE_NAME = "E2B_TEMPLATE_NAME"
TEMPLATE_ID = "E2B_TEMPLATE_ID"
# Per-sandbox storage (README, "Per-sandbox storage"): the backend learns the mode and the root of
# the sandboxes' prefixes; a sandbox is attached with a session (temporary credentials limited to
# its prefix), which its mount program reads with the prefix and the time the session ends.
SANDBOX_STORAGE = "S3_SANDBOX_STORAGE"
SANDBOX_PREFIX_ROOT = "S3_SANDBOX_PREFIX_ROOT"
KMS_KEY_ARN = "S3_KMS_KEY_ARN"  # a session needs the bucket's customer key too
KEY_PREFIX = "S3_KEY_PREFIX"
SESSION_TOKEN = "AWS_SESSION_TOKEN"  # noqa: S105 (a variable's name)
CREDENTIALS_EXPIRE_AT = "S3_CREDENTIALS_EXPIRE_AT"
READ_ONLY = "S3_MOUNT_READ_ONLY"  # "true": a read-only session, mounted read-only

SECRET_NAMES = frozenset({SECRET_ACCESS_KEY, SESSION_TOKEN})
KEY_PAIR = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
SHARED_STORAGE, PER_SANDBOX_STORAGE = "shared", "per-sandbox"
# The name every attached sandbox's federated user starts with: the identity may issue only these.
FEDERATED_NAME_PREFIX = "sbx-"
STORAGE_MODES = (SHARED_STORAGE, PER_SANDBOX_STORAGE)
# Where the image puts E2B's start command (the code-interpreter base's own place for it): the
# template runs it, and a backend attaching a sandbox runs it with --attach.
START_SCRIPT = "/root/.jupyter/start-up.sh"
# How stale a mount's view of the bucket may be, at most (S3_MOUNT_FRESHNESS_SECONDS).
MAX_FRESHNESS_SECONDS = 3600

# A value with one of these would break a YAML scalar, a dotenv or a unit line.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MOUNT_DIR = re.compile(r"^(/[A-Za-z0-9._-]+)+$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
# A relative key prefix: safe characters between single slashes, ending in one.
_KEY_PREFIX = re.compile(r"[A-Za-z0-9!_.'()-]+(?:/[A-Za-z0-9!_.'()-]+)*/", re.ASCII)
# Where a mount would hide what the system needs: these directories themselves, and everything
# under the trees (binaries, libraries, configuration, the kernel's, root's home with the start
# command and the code-interpreter server, runtime state, docker's data).
_RESERVED_DIRS = frozenset({"/", "/home", "/tmp", "/opt", "/mnt", "/srv", "/media"})  # noqa: S108
_RESERVED_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
    "/run", "/sbin", "/sys", "/usr", "/var",
)  # fmt: skip


class ContractError(ValueError):
    """A value that no channel can carry, or a malformed file; the message names it, never a
    secret's value."""


# --- the values' rules --------------------------------------------------------------------------


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


def key_prefix_problem(prefix: str) -> str | None:
    """Why a key prefix is refused, or None: relative, safe characters, ends in '/'."""
    if len(prefix) > 512 or not _KEY_PREFIX.fullmatch(prefix) or ".." in prefix.split("/"):
        return (
            "a relative key prefix ending in '/', such as 'sandboxes/' (letters, digits, "
            "!_.'()- between slashes; no '*', no leading '/', no '..')"
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
    if CONTROL_CHARACTERS.search(url) or re.search(r"[\s,\\]", url):
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


# --- the file format ------------------------------------------------------------------------------


def env_quote(value: str) -> str:
    """A double-quoted value that compose, systemd and parse_env_file all read back as `value`:
    backslash, double quote and dollar escaped (compose would expand `${...}` and cut unquoted
    values at ` #`)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def render_env(values: Mapping[str, str], header: str = "") -> str:
    """KEY="value" lines in the order given, after a `# ` comment header; a value with a control
    character is refused by its variable's name."""
    lines = [f"# {line}" for line in header.splitlines()]
    for name, value in values.items():
        if CONTROL_CHARACTERS.search(value):
            raise ContractError(f"{name} contains a control character: fix its stack value")
        lines.append(f"{name}={env_quote(value)}")
    return "\n".join(lines) + "\n"


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
            raise ContractError(f"{origin} line {number}: expected KEY=value")
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
            raise ContractError(f"{where}: the double quote is never closed")
        _only_comment_after(rest[i + 1 :], where)
        return "".join(out)
    if rest[:1] == "'":
        end = rest.find("'", 1)
        if end < 0:
            raise ContractError(f"{where}: the single quote is never closed")
        _only_comment_after(rest[end + 1 :], where)
        return rest[1:end]
    return re.split(r"\s+#", rest, maxsplit=1)[0].strip()


def _only_comment_after(tail: str, where: str) -> None:
    tail = tail.strip()
    if tail and not tail.startswith("#"):
        raise ContractError(f"{where}: unexpected text after the closing quote")
