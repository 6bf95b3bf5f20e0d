"""What the pack knows about the stack it checks, from the engine rather than from the program.

The engine runs the pack with the stack's project, name and configuration (PULUMI_PROJECT,
PULUMI_STACK, PULUMI_CONFIG, decrypted); pulumi-policy loads them into the Pulumi runtime before
each check. The environment comes from the stack's own `environment` key, the value the program
itself is driven by, so the pack needs no second copy of it (a policy-config file per stack would
be one more thing to keep in step). Prod rules apply when either the environment or the stack's
name says prod: the stricter of the two, so a stack mislabelled away from prod keeps its guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

PROD = "prod"
# The pack lives in the project's policy/ folder; paths in resources (a Dockerfile) are relative to
# the project, where the engine runs the program.
PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackContext:
    project: str
    stack: str
    environment: str | None
    """The stack's `<project>:environment`; None when unset (policies that need it refuse)."""
    e2b_api_key: str | None = None
    """The stack's `<project>:e2bApiKey`, so that no plain-text copy of it goes unnoticed."""
    project_dir: Path = PROJECT_DIR

    @property
    def iam_path(self) -> str | None:
        """The IAM path the project's users live under: /<project>/<environment>/."""
        return f"/{self.project}/{self.environment}/" if self.environment else None

    @property
    def is_prod(self) -> bool:
        return PROD in (self.environment, self.stack.rsplit("/", 1)[-1])

    @property
    def environment_key(self) -> str:
        return f"{self.project}:environment"


def current() -> StackContext:
    """The stack being checked, read from the Pulumi runtime the SDK configured."""
    project = pulumi.get_project()
    # The runtime's raw reader: Config.get would warn about reading a secret in plain text.
    return StackContext(
        project=project,
        stack=pulumi.get_stack(),
        environment=pulumi.runtime.get_config(f"{project}:environment"),
        e2b_api_key=pulumi.runtime.get_config(f"{project}:e2bApiKey"),
    )
