"""The mount program's settings: gathered from env files and the environment, validated at once.

The stack sends the bucket's settings and the key pair (s3mount/contract.py names them); the
program's own knobs (who owns the files, the time bound, where the status goes) have their
defaults here, their one home.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from s3mount import contract

# The program's own settings, with their defaults and what they mean (shown by --help).
OWN_SETTINGS: Mapping[str, tuple[str, str]] = {
    "S3_MOUNT_UID": ("1000", "who owns the files in the mount"),
    "S3_MOUNT_GID": ("1000", "their group"),
    "S3_MOUNT_UMASK": ("0022", "their permissions, as a umask"),
    "S3_MOUNT_TIMEOUT": ("30", "seconds for the whole mount, check included (at most 30)"),
    "S3_MOUNT_RUN_DIR": ("/run/e2b-s3-mount", "where the status file and the client's log go"),
}
# What the stack sends, and what each is (shown by --help).
STACK_SETTINGS: Mapping[str, str] = {
    contract.BUCKET_NAME: "the bucket",
    contract.REGION: "its region, such as us-east-1",
    contract.MOUNT_DIR: "where it appears, such as /opt/sentient",
    contract.ENDPOINT_URL: "an S3-compatible endpoint (path-style); empty: AWS",
    contract.FRESHNESS_SECONDS: (
        f"how stale a view may be, 0 to {contract.MAX_FRESHNESS_SECONDS} s; larger saves requests"
    ),
}
# What attaching a sandbox adds (per-sandbox storage): only set by the backend's attach.
SESSION_SETTINGS: Mapping[str, str] = {
    contract.KEY_PREFIX: "mount only this prefix of the bucket, such as sandboxes/ID/",
    contract.CREDENTIALS_EXPIRE_AT: "when the session's credentials expire (ISO 8601)",
    contract.READ_ONLY: "true for a read-only session: mounted read-only, probed by listing",
}
CREDENTIALS: Mapping[str, str] = {
    contract.ACCESS_KEY_ID: "the access key id",
    contract.SECRET_ACCESS_KEY: "its secret (never printed, never in argv)",
    contract.SESSION_TOKEN: "a session's token, with temporary credentials (never printed)",
}
# Every name this program reads; the stack must not send it others.
SETTING_NAMES = frozenset({*OWN_SETTINGS, *STACK_SETTINGS, *SESSION_SETTINGS, *CREDENTIALS})
MAX_TIMEOUT = 30

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
_ACCESS_KEY_ID = re.compile(r"^[A-Za-z0-9]{1,128}$")


class MountSettingsError(Exception):
    """A bad setting: the message names it and the allowed form, never a secret value."""


class Needs(Enum):
    """What a command needs to know: check and unmount only the mount point; settings all but
    the secret; mount and run everything."""

    MOUNT_POINT = "mount point"
    ALL_BUT_CREDENTIALS = "all but the key pair"
    EVERYTHING = "everything"


@dataclass(frozen=True)
class MountSettings:
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
    key_prefix: str = ""
    """Only this prefix is mounted (an attached sandbox's); empty: the whole bucket."""
    session_token: str = ""
    expires_at: str = ""
    """When the session's credentials expire, as given (ISO 8601); empty: a long-lived key."""
    read_only: bool = False

    @property
    def remote(self) -> str:
        """What s3fs mounts: the bucket, or bucket:/prefix."""
        prefix = self.key_prefix.rstrip("/")
        return f"{self.bucket}:/{prefix}" if prefix else self.bucket

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
            "accessKeyId": self.access_key_id or None,
            "keyPrefix": self.key_prefix or None,
            "credentialsExpireAt": self.expires_at or None,
            "readOnly": self.read_only,
        }


def gather(env_files: Sequence[Path], environ: Mapping[str, str]) -> dict[str, str]:
    """The raw settings: the files in order, then the environment's non-empty values."""
    raw: dict[str, str] = {}
    for path in env_files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise MountSettingsError(f"cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise MountSettingsError(f"{path} is not UTF-8 text") from None
        try:
            parsed = contract.parse_env_file(text, str(path))
        except contract.ContractError as problem:
            raise MountSettingsError(str(problem)) from None
        raw.update({k: v for k, v in parsed.items() if k in SETTING_NAMES})
    raw.update({k: v for k, v in environ.items() if k in SETTING_NAMES and v})
    return raw


def key_pair_problems(values: Mapping[str, str]) -> list[str]:
    """What is wrong with the key pair, one line a variable, never showing the secret."""
    problems = []
    if not _ACCESS_KEY_ID.match(values.get(contract.ACCESS_KEY_ID, "")):
        shown = values.get(contract.ACCESS_KEY_ID, "")
        problems.append(
            f"{contract.ACCESS_KEY_ID} = {shown!r}: required: the access key id (letters and "
            "digits)"
        )
    secret = values.get(contract.SECRET_ACCESS_KEY, "")
    if not secret or contract.CONTROL_CHARACTERS.search(secret) or len(secret) > 256:
        problems.append(f"{contract.SECRET_ACCESS_KEY}: required: the secret access key (one line)")
    token = values.get(contract.SESSION_TOKEN, "")
    if contract.CONTROL_CHARACTERS.search(token) or len(token) > 8192:
        problems.append(f"{contract.SESSION_TOKEN}: a session token (one line, at most 8192)")
    return problems


def load_mount_settings(raw: Mapping[str, str], needs: Needs = Needs.EVERYTHING) -> MountSettings:
    """Validated settings; every problem at once, each naming the variable and the allowed form.
    What `needs` leaves out is not required (and stays empty when absent); a value that is set is
    always checked."""
    values = {name: default for name, (default, _) in OWN_SETTINGS.items()} | dict(raw)
    problems: list[str] = []
    if needs is Needs.EVERYTHING or any(values.get(name) for name in CREDENTIALS):
        problems += key_pair_problems(values)

    def check(name: str, ok: bool, allowed: str, required: bool = True) -> None:
        if not ok and (required or values.get(name)):
            problems.append(f"{name} = {values.get(name, '')!r}: {allowed}")

    bucket_required = needs is not Needs.MOUNT_POINT
    check(
        contract.BUCKET_NAME,
        bool(_BUCKET.match(values.get(contract.BUCKET_NAME, ""))),
        "required: an S3 bucket name (3-63 lowercase letters, digits, '.', '-')",
        bucket_required,
    )
    check(
        contract.REGION,
        bool(_REGION.match(values.get(contract.REGION, ""))),
        "required: an AWS region like us-east-1",
        bucket_required,
    )
    mount_dir = values.get(contract.MOUNT_DIR, "")
    mount_dir_problem = contract.mount_dir_problem(mount_dir)
    check(contract.MOUNT_DIR, mount_dir_problem is None, f"required: {mount_dir_problem}")
    endpoint = values.get(contract.ENDPOINT_URL, "")
    endpoint_problem = contract.endpoint_url_problem(endpoint)
    check(contract.ENDPOINT_URL, endpoint_problem is None, endpoint_problem or "")
    key_prefix = values.get(contract.KEY_PREFIX, "")
    prefix_problem = contract.key_prefix_problem(key_prefix) if key_prefix else None
    check(contract.KEY_PREFIX, prefix_problem is None, prefix_problem or "", required=False)
    read_only = values.get(contract.READ_ONLY, "false").lower()
    check(contract.READ_ONLY, read_only in ("true", "false"), "true or false", required=False)
    expires_at = values.get(contract.CREDENTIALS_EXPIRE_AT, "")
    check(
        contract.CREDENTIALS_EXPIRE_AT,
        parse_moment(expires_at) is not None,
        "a time in ISO 8601 with its zone, such as 2026-12-01T18:00:00Z",
        required=False,
    )
    freshness = _number(values.get(contract.FRESHNESS_SECONDS, ""))
    check(
        contract.FRESHNESS_SECONDS,
        freshness is not None and 0 <= freshness <= contract.MAX_FRESHNESS_SECONDS,
        f"required: seconds from 0 to {contract.MAX_FRESHNESS_SECONDS}",
        bucket_required,
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
    check("S3_MOUNT_RUN_DIR", run_dir.startswith("/") and not contract.CONTROL_CHARACTERS.search(
        run_dir), "an absolute path")  # fmt: skip
    if problems:
        raise MountSettingsError("; ".join(problems))
    return MountSettings(
        access_key_id=values.get(contract.ACCESS_KEY_ID, ""),
        secret_access_key=values.get(contract.SECRET_ACCESS_KEY, ""),
        bucket=values.get(contract.BUCKET_NAME, ""),
        region=values.get(contract.REGION, ""),
        mount_dir=mount_dir,
        endpoint=endpoint.rstrip("/"),
        freshness=float(freshness or 0),
        uid=int(ids["S3_MOUNT_UID"] or 0),
        gid=int(ids["S3_MOUNT_GID"] or 0),
        umask=values["S3_MOUNT_UMASK"].rjust(4, "0"),
        timeout=int(timeout or 0),
        run_dir=Path(run_dir),
        key_prefix=key_prefix,
        session_token=values.get(contract.SESSION_TOKEN, ""),
        expires_at=expires_at,
        read_only=read_only == "true",
    )


def parse_moment(text: str) -> datetime.datetime | None:
    """An ISO 8601 time with a zone, or None."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number else None  # NaN is no number
