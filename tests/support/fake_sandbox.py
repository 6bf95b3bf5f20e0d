"""Stand-ins for an e2b Sandbox (files.write, commands.run, as e2b's SDK 2.x takes them) and for
STS, for the unit tests of sandbox_storage."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from s3mount import contract

EXPIRES = datetime.datetime(2026, 12, 2, 18, 0, tzinfo=datetime.UTC)
SESSION_SECRET = "session-secret-0123456789"


@dataclass
class Result:
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""


class CommandExitError(Exception):
    """e2b raises on a non-zero exit, with the result's fields on the exception."""

    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        super().__init__(stderr)
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr


@dataclass
class FakeSandbox:
    sandbox_id: str = "i3hbjn5u5jmfc3hy9x6e6"
    status: dict[str, Any] = field(default_factory=lambda: {"ok": True, "keyPrefix": "x"})
    fail_with: CommandExitError | None = None
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    written: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def files(self) -> FakeSandbox:
        return self

    @property
    def commands(self) -> FakeSandbox:
        return self

    def write(self, path: str, data: str, user: str = "user") -> None:
        self.calls.append(("write", path, user))
        self.written[path] = (data, user)

    def run(self, cmd: str, user: str = "user", timeout: float = 60) -> Result:
        assert timeout > 0
        self.calls.append(("run", cmd, user))
        if contract.START_SCRIPT in cmd and self.fail_with is not None:
            raise self.fail_with
        return Result(stdout=f"log line\n{json.dumps(self.status)}\n")


@dataclass
class FakeSts:
    asked: list[dict[str, Any]] = field(default_factory=list)

    def get_federation_token(self, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(kwargs)
        return {
            "Credentials": {
                "AccessKeyId": "ASIAFAKE0000000001",
                "SecretAccessKey": SESSION_SECRET,
                "SessionToken": "token-0123",
                "Expiration": EXPIRES,
            }
        }
