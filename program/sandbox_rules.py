"""The rules of what the image, the sandbox, the backend and E2B are given (program/rules.py has how
a rule reports, and the AWS resources' rules)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from program.rules import Problem, Problems, one
from s3mount import contract

# Who runs the agent code in the sandbox; root can read the bucket's key.
CODE_USERS = ("user", "root")
_IMAGE_REF = re.compile(
    r"(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?",
    re.ASCII,
)
_TEMPLATE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?", re.ASCII)
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}", re.ASCII)


# --- images -------------------------------------------------------------------------------------


def _pinned(image: str) -> bool:
    match = _IMAGE_REF.fullmatch(image)
    tag = (match["tag"] or "").lower() if match else ""
    return match is not None and bool(match["tag"] or match["digest"]) and tag != "latest"


def base_image(image: str | None) -> Problems:
    return one(
        image is None or _pinned(image),
        image,
        "must be an image reference pinned to a version tag or digest, such as "
        "e2bdev/code-interpreter:1.2.3 (not 'latest'), or empty for the Dockerfile's pinned "
        "default",
    )


def check_image(image: str) -> Problems:
    return one(
        _pinned(image),
        image,
        "must be an image reference pinned to a version tag or digest, such as busybox:1.37 "
        "(not 'latest'), with awk in it",
    )


def code_user(user: str) -> Problems:
    return one(
        user in CODE_USERS,
        user,
        "must be user (the default: agent code cannot read the key) or root (it can)",
    )


def storage(mode: str) -> Problems:
    return one(
        mode in contract.STORAGE_MODES,
        mode,
        "must be shared (every sandbox mounts the whole bucket with the image's key) or "
        "per-sandbox (the backend attaches each sandbox to its own prefix)",
    )


def prefix_root(root: str, allowed_prefixes: Sequence[str] = ()) -> Problems:
    """Where the sandboxes' prefixes start: a key prefix the identity may use."""
    problem = contract.key_prefix_problem(root)
    if problem is not None:
        return [Problem(root, f"must be {problem}")]
    return one(
        not allowed_prefixes or any(root.startswith(p) for p in allowed_prefixes),
        root,
        f"must lie under one of allowedKeyPrefixes {list(allowed_prefixes)}: sandboxes can "
        "reach no more than the identity",
    )


# --- what reaches the sandbox and the backend ------------------------------------------------


def mount_dir(path: str) -> Problems:
    """The mount program's own rule, enforced where the value is set too."""
    problem = contract.mount_dir_problem(path)
    return [] if problem is None else [Problem(path, f"must be {problem}")]


def endpoint_url(url: str | None) -> Problems:
    problem = contract.endpoint_url_problem(url or "")
    return [] if problem is None else [Problem(url, f"must be {problem}, or empty for AWS")]


def freshness_seconds(seconds: int) -> Problems:
    return one(
        0 <= seconds <= contract.MAX_FRESHNESS_SECONDS,
        seconds,
        f"must be a whole number of seconds from 0 to {contract.MAX_FRESHNESS_SECONDS} (how "
        "stale a mount's view of the bucket may be; README, 'The shared bucket's contract')",
    )


def service_name(name: str) -> Problems:
    return one(
        bool(_SERVICE_NAME.fullmatch(name)),
        name,
        "must be a compose service name: letters, digits, '_', '.', '-', not starting with a "
        "symbol",
    )


# --- E2B --------------------------------------------------------------------------------------


def template_name(name: str) -> Problems:
    return one(
        bool(_TEMPLATE_NAME.fullmatch(name)),
        name,
        "must be 1-63 lowercase letters, digits, '-' or '_', starting and ending with a letter "
        "or digit",
    )


def cpu_count(count: int) -> Problems:
    return one(count >= 1, count, "must be a whole number of CPUs, at least 1")


def memory_mb(mib: int) -> Problems:
    return one(
        mib >= 512 and mib % 2 == 0, mib, "must be an even whole number of MiB, at least 512"
    )


def e2b_api_url(url: str | None) -> Problems:
    """The endpoint rule (host, port, no user, comma, space or control character), https only."""
    return one(
        url is None
        or (contract.endpoint_url_problem(url) is None and urlsplit(url).scheme == "https"),
        url,
        "must be an https URL of E2B's API (a self-hosted E2B), or empty for E2B's own",
    )
