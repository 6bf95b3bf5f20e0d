"""A real moto server process on 127.0.0.1, optionally enforcing IAM policies.

moto enforces IAM only after INITIAL_NO_AUTH_ACTION_COUNT unauthenticated requests; we spend exactly
those on bootstrapping an admin user, then do everything else with that admin's key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from harness.ports import free_port, stop

REGION = "us-east-1"
# CreateUser, PutUserPolicy, CreateAccessKey: the requests moto lets through before enforcing.
_BOOTSTRAP_REQUESTS = 3
_ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@dataclass
class MotoServer:
    """A running moto server and the key that administers it."""

    endpoint: str
    enforce_iam: bool
    process: subprocess.Popen[bytes]
    access_key: str = "testing"
    secret_key: str = "testing"  # moto accepts any key when IAM is not enforced
    region: str = REGION
    log_path: Path | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(
        self,
        service: str,
        access_key: str | None = None,
        secret_key: str | None = None,
        endpoint_url: str | None = None,
        config: Config | None = None,
    ) -> Any:
        """A boto3 client for this server, as the admin unless another key is given; at
        `endpoint_url` when it is reached another way (through the WAN proxy)."""
        return boto3.client(
            service,
            endpoint_url=endpoint_url or self.endpoint,
            region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=config,
        )

    def stop(self) -> None:
        stop(self.process)


def _wait_until_ready(endpoint: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1):  # noqa: S310
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {endpoint} did not answer within {timeout} s")


def start_moto(enforce_iam: bool, log_dir: Path) -> MotoServer:
    """Start moto on a free loopback port; with enforce_iam, bootstrap an admin and use its key."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    if enforce_iam:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_BOOTSTRAP_REQUESTS)
    log_path = log_dir / f"moto-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = MotoServer(
        endpoint=endpoint, enforce_iam=enforce_iam, process=process, log_path=log_path
    )
    try:
        _wait_until_ready(endpoint, process)
        if enforce_iam:
            iam = server.client("iam")
            iam.create_user(UserName="moto-admin")
            iam.put_user_policy(
                UserName="moto-admin", PolicyName="admin", PolicyDocument=json.dumps(_ADMIN_POLICY)
            )
            key = iam.create_access_key(UserName="moto-admin")["AccessKey"]
            server.access_key = key["AccessKeyId"]
            server.secret_key = key["SecretAccessKey"]
    except BaseException:
        server.stop()
        raise
    return server
