"""The environments, and what being each one means for the resources: the one table.

Standard library only: CI's tools (which stacks a change affects) read it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentRules:
    protected: bool
    """The bucket is protected, and kept when the stack is destroyed."""
    durable: bool
    """A destroy must never take the data with it: forceDestroy is refused."""
    disposable: bool
    """Nobody restores a deleted key: its secret goes at once, without a recovery window."""
    pushes_image: bool
    """There is a registry to push to (local's image stays in the laptop's Docker engine)."""
    deployed: bool
    """CI deploys it from main (local runs on a laptop, against an emulator)."""


# In deployment order: CI brings a change to dev, then staging, then prod.
ENVIRONMENT_RULES: Mapping[str, EnvironmentRules] = {
    "local": EnvironmentRules(
        protected=False, durable=False, disposable=True, pushes_image=False, deployed=False
    ),
    "dev": EnvironmentRules(
        protected=False, durable=False, disposable=True, pushes_image=True, deployed=True
    ),
    "staging": EnvironmentRules(
        protected=False, durable=True, disposable=False, pushes_image=True, deployed=True
    ),
    "prod": EnvironmentRules(
        protected=True, durable=True, disposable=False, pushes_image=True, deployed=True
    ),
}
ENVIRONMENTS = tuple(ENVIRONMENT_RULES)
DEPLOYED_STACKS = tuple(name for name, rules in ENVIRONMENT_RULES.items() if rules.deployed)
