"""How the pack receives properties from the engine: with their secret markers kept.

The engine sends every property with its secret marker (the analyzer plugin marshals with
KeepSecrets). pulumi-policy 1.21's Analyze and AnalyzeStack then drop the markers before a policy
sees the value (pulumi/pulumi-policy#241: a policy cannot tell a secret from plain text). Every
"is it marked secret" policy depends on those markers, so the pack swaps the SDK's one
deserializer for one that keeps them as `pulumi_policy.Secret`. This touches the SDK's module
namespace; pulumi-policy is pinned, and tests/unit/policy/test_engine_path.py runs the real SDK
servicer so an SDK that deserializes elsewhere fails there, not silently in CI.
"""

from __future__ import annotations

from typing import Any

import pulumi_policy.policy as sdk_policy
from pulumi_policy import Secret
from pulumi_policy.deserialize import (
    SPECIAL_SECRET_SIG,
    SPECIAL_SIG_KEY,
    deserialize_properties,
)


def with_secret_markers(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
    """The engine's properties as plain values, with each secret wrapped in `Secret`.

    Signature-compatible with the SDK's `deserialize_properties`; assets and archives are left to
    it, and internal keys (`__provider`, ...) are already gone: the engine skips them.
    """
    del proxy_secrets  # the SDK's proxy unwraps secrets on access, which is what must not happen
    return {key: _kept(value) for key, value in props.items()}


def _kept(value: Any) -> Any:
    if isinstance(value, list):
        return [_kept(item) for item in value]
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return Secret(_kept(value.get("value")))
        if SPECIAL_SIG_KEY in value:
            return deserialize_properties({"asset": value})["asset"]
        return {key: _kept(item) for key, item in value.items()}
    return value


def keep_secret_markers() -> None:
    """Make the SDK's analyzer hand policies `Secret`-wrapped values (idempotent)."""
    sdk_policy.deserialize_properties = with_secret_markers  # type: ignore[attr-defined]
