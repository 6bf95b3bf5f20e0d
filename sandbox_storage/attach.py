"""Attach a sandbox to its own prefix of the bucket, and detach it.

    from sandbox_storage.attach import attach, detach
    sandbox = Sandbox.create(template=os.environ["E2B_TEMPLATE_ID"])
    attached = attach(sandbox)             # sandboxes/<sandbox_id>/ at the sandbox's mount dir
    ...                                    # the backend reads <mountDir>/sandboxes/<id>/ itself
    detach(sandbox)

`attach` issues credentials limited to `<prefix root><sandbox_id>/` (sts:GetFederationToken with
the stack's identity, whose key the backend holds), writes them into the sandbox as root (0600 in
a directory only root may enter), and runs the image's start command as root to mount only that
prefix. It returns the mount's status and raises AttachError with the status file's reason when
the mount fails. Calling it again (after a resume, before the credentials expire, after the
sandbox's timeout was extended) replaces the credentials: the mount program hands the mount over,
and no file that was closed is lost.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from program.policies import packed, session_policy
from s3mount import contract

# In the sandbox: only root may enter the directory, only root may read the file.
CREDENTIALS_DIR = "/run/e2b-sandbox-attach"
CREDENTIALS_FILE = f"{CREDENTIALS_DIR}/credentials.env"
# What sts:GetFederationToken allows: 15 minutes to 36 hours; a sandbox lives at most 24 hours.
MIN_SECONDS, MAX_SECONDS = 900, 129_600
# Credentials outlive the sandbox's own end by this much (a late write still lands).
LIFETIME_MARGIN_SECONDS = 300
DEFAULT_SECONDS = 3600
COMMAND_TIMEOUT_SECONDS = 60
_NAME_CHARACTERS = re.compile(r"[^\w+=,.@-]", re.ASCII)


class AttachError(Exception):
    """The sandbox could not be attached or detached; the message says why (the mount's own
    reason when it failed), never a credential."""


class _Files(Protocol):
    def write(self, path: str, data: str, user: str = ...) -> Any: ...


class _Commands(Protocol):
    def run(self, cmd: str, user: str = ..., timeout: float = ...) -> Any: ...


class SandboxLike(Protocol):
    """What attach uses of e2b's Sandbox."""

    @property
    def sandbox_id(self) -> str: ...
    @property
    def files(self) -> _Files: ...
    @property
    def commands(self) -> _Commands: ...


# The stack's default (Pulumi.yaml's sandboxPrefixRoot), for an override that does not name one.
DEFAULT_PREFIX_ROOT = "sandboxes/"


@dataclass(frozen=True)
class StorageConfig:
    """What the backend knows of the stack's storage: its compose override's environment."""

    bucket: str
    region: str
    storage: str = contract.SHARED_STORAGE
    prefix_root: str = DEFAULT_PREFIX_ROOT
    sts_endpoint: str = ""
    """Where GetFederationToken goes, if not AWS's STS (boto3's AWS_ENDPOINT_URL_STS)."""
    kms_key_arn: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> StorageConfig:
        missing = [
            name for name in (contract.BUCKET_NAME, contract.REGION) if not environ.get(name)
        ]
        if missing:
            raise AttachError(
                f"{' and '.join(missing)} not set: the backend gets them from the stack's compose "
                "override (docker-compose.s3.yml)"
            )
        return cls(
            bucket=environ[contract.BUCKET_NAME],
            region=environ[contract.REGION],
            storage=environ.get(contract.SANDBOX_STORAGE) or contract.SHARED_STORAGE,
            prefix_root=environ.get(contract.SANDBOX_PREFIX_ROOT) or DEFAULT_PREFIX_ROOT,
            sts_endpoint=environ.get("AWS_ENDPOINT_URL_STS", ""),
            kms_key_arn=environ.get(contract.KMS_KEY_ARN, ""),
        )

    def prefix_of(self, sandbox_id: str) -> str:
        prefix = f"{self.prefix_root}{sandbox_id}/"
        problem = contract.key_prefix_problem(prefix)
        if problem is not None:
            raise AttachError(f"sandbox id {sandbox_id!r} makes no key prefix: {problem}")
        return prefix

    def session_policy(
        self, prefix: str, read_only: bool, read_prefixes: Sequence[str]
    ) -> dict[str, Any]:
        """What a session for `prefix` may do: the document attach asks STS for."""
        return session_policy(
            self.bucket,
            prefix,
            read_only=read_only,
            read_prefixes=read_prefixes,
            kms_key_arn=self.kms_key_arn or None,
            region=self.region,
        )


@dataclass(frozen=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: str
    """ISO 8601, UTC."""


@dataclass(frozen=True)
class Attachment:
    sandbox_id: str
    prefix: str
    read_only: bool
    expires_at: str
    status: dict[str, Any]
    """The sandbox's mount status file (README, "The shared bucket's contract")."""


def federated_name(sandbox_id: str) -> str:
    """The federated user's name (2 to 32 of [\\w+=,.@-]) that CloudTrail shows for a sandbox."""
    name = contract.FEDERATED_NAME_PREFIX + _NAME_CHARACTERS.sub("-", sandbox_id)
    if len(name) <= 32:
        return name
    digest = hashlib.sha256(sandbox_id.encode()).hexdigest()[:8]
    return f"{name[:23]}-{digest}"


def issue_credentials(
    config: StorageConfig, name: str, policy: Mapping[str, Any], seconds: int, sts: Any = None
) -> SessionCredentials:
    """Temporary credentials for `policy`, from the identity whose key the backend holds."""
    if sts is None:
        import boto3

        sts = boto3.client(
            "sts", region_name=config.region, endpoint_url=config.sts_endpoint or None
        )
    try:
        answer = sts.get_federation_token(
            Name=name, Policy=packed(dict(policy)), DurationSeconds=seconds
        )
    except Exception as refused:
        raise AttachError(f"STS refused credentials for {name}: {refused}") from None
    issued = answer["Credentials"]
    expiration = issued["Expiration"]
    if isinstance(expiration, datetime.datetime):
        expires_at = expiration.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        expires_at = str(expiration)
    return SessionCredentials(
        issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"], expires_at
    )


def lifetime_seconds(sandbox: Any, valid_for: int | None) -> int:
    """How long the credentials last: as asked, else the sandbox's remaining life and a margin,
    within what STS allows."""
    if valid_for is None:
        end = _end_of(sandbox)
        if end is None:
            valid_for = DEFAULT_SECONDS
        else:
            remaining = (end - datetime.datetime.now(datetime.UTC)).total_seconds()
            valid_for = int(remaining) + LIFETIME_MARGIN_SECONDS
    return max(MIN_SECONDS, min(MAX_SECONDS, valid_for))


def _end_of(sandbox: Any) -> datetime.datetime | None:
    """When e2b says the sandbox ends (Sandbox.get_info().end_at), if it says."""
    get_info = getattr(sandbox, "get_info", None)
    if get_info is None:
        return None
    try:
        end = getattr(get_info(), "end_at", None)
    except Exception:
        return None
    if not isinstance(end, datetime.datetime):
        return None
    return end if end.tzinfo else end.replace(tzinfo=datetime.UTC)


def credentials_file(credentials: SessionCredentials, prefix: str, read_only: bool = False) -> str:
    """The env file the sandbox's mount program reads with its own settings."""
    return contract.render_env(
        {
            contract.ACCESS_KEY_ID: credentials.access_key_id,
            contract.SECRET_ACCESS_KEY: credentials.secret_access_key,
            contract.SESSION_TOKEN: credentials.session_token,
            contract.KEY_PREFIX: prefix,
            contract.CREDENTIALS_EXPIRE_AT: credentials.expires_at,
            contract.READ_ONLY: "true" if read_only else "false",
        },
        header="This sandbox's own S3 session, written by the backend's attach. Root only.",
    )


def _run(sandbox: SandboxLike, command: str) -> tuple[int, str, str]:
    """A command as root: (exit code, stdout, stderr). e2b raises on a non-zero exit (its
    CommandExitException carries the same three), other shapes return them."""
    try:
        result = sandbox.commands.run(command, user="root", timeout=COMMAND_TIMEOUT_SECONDS)
    except Exception as failed:
        if hasattr(failed, "exit_code"):
            result = failed
        else:
            raise AttachError(
                f"could not run {command.split()[0]} in the sandbox: {failed}"
            ) from None
    return int(result.exit_code), str(result.stdout or ""), str(result.stderr or "")


def _status(stdout: str) -> dict[str, Any]:
    """The status the start command printed last, as JSON."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return {}


def attach(
    sandbox: SandboxLike,
    *,
    read_only: bool = False,
    read_prefixes: Sequence[str] = (),
    valid_for: int | None = None,
    config: StorageConfig | None = None,
    sts: Any = None,
) -> Attachment:
    """Gives `sandbox` its own prefix, mounted at its mount dir; see the module's docstring."""
    config = config or StorageConfig.from_environ()
    if config.storage != contract.PER_SANDBOX_STORAGE:
        raise AttachError(
            f"this stack's sandboxes share the bucket ({contract.SANDBOX_STORAGE}="
            f"{config.storage}): there is nothing to attach; set sandboxStorage: per-sandbox"
        )
    prefix = config.prefix_of(sandbox.sandbox_id)
    policy = config.session_policy(prefix, read_only, read_prefixes)
    seconds = lifetime_seconds(sandbox, valid_for)
    credentials = issue_credentials(
        config, federated_name(sandbox.sandbox_id), policy, seconds, sts
    )
    code, _, stderr = _run(sandbox, f"install -d -m 0700 -o root -g root {CREDENTIALS_DIR}")
    if code != 0:
        raise AttachError(f"could not make {CREDENTIALS_DIR} in the sandbox: {stderr.strip()}")
    session = credentials_file(credentials, prefix, read_only)
    sandbox.files.write(CREDENTIALS_FILE, session, user="root")
    attach_command = shlex.join([contract.START_SCRIPT, "--attach", CREDENTIALS_FILE])
    code, stdout, stderr = _run(sandbox, f"chmod 0600 {CREDENTIALS_FILE} && {attach_command}")
    status = _status(stdout)
    if code != 0 or status.get("ok") is not True:
        reason = status.get("error") or (stderr.strip().splitlines() or [f"exit {code}"])[-1]
        raise AttachError(f"sandbox {sandbox.sandbox_id} is not attached: {reason}")
    return Attachment(sandbox.sandbox_id, prefix, read_only, credentials.expires_at, status)


def detach(sandbox: SandboxLike) -> dict[str, Any]:
    """Unmounts the sandbox's prefix and removes its credentials; the mount point refuses writes
    again. The credentials themselves expire on their own (README: what cannot be revoked)."""
    command = shlex.join([contract.START_SCRIPT, "--detach", CREDENTIALS_FILE])
    code, stdout, stderr = _run(sandbox, command)
    if code != 0:
        raise AttachError(f"sandbox {sandbox.sandbox_id} is not detached: {stderr.strip()}")
    return _status(stdout)
