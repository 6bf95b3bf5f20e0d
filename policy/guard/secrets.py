"""No credential in plain text: an access key's secret, the E2B API key and a registry password
travel only marked secret, in resource inputs, resource outputs and stack outputs alike.

A resource check sees one resource's inputs before it is created: it knows the E2B key (stack
config), the credentials the resource itself holds, and recognises the access key's secret in the
text the program renders (`AWS_SECRET_ACCESS_KEY=...`). The stack check sees every resource's
outputs and the stack's outputs (the root `pulumi:pulumi:Stack` resource's), after the access keys
exist, so it looks for the keys' actual secrets everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pulumi_policy import PolicyResource, ResourceValidationArgs

from .context import StackContext
from .findings import Finding, Resource, finding
from .identity import ACCESS_KEY
from .image import DOCKER_IMAGE
from .props import Leaf, leaves

STACK = "pulumi:pulumi:Stack"
E2B_TEMPLATE = "pulumi-python:dynamic/template:E2BTemplate"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
E2B_KEY = "the E2B API key"
REGISTRY_PASSWORD = "a registry password"
KEY_SECRET = "an access key's secret"
# Where each type holds a credential, in the engine's camelCase.
CREDENTIAL_INPUTS: dict[str, dict[str, str]] = {
    DOCKER_IMAGE: {"registry.password": REGISTRY_PASSWORD},
    E2B_TEMPLATE: {"apiKey": E2B_KEY, "registryPassword": REGISTRY_PASSWORD},
    SECRET_VERSION: {"secretString": KEY_SECRET},
}
CREDENTIAL_OUTPUTS: dict[str, dict[str, str]] = {
    **CREDENTIAL_INPUTS,
    ACCESS_KEY: {"secret": KEY_SECRET, "sesSmtpPasswordV4": KEY_SECRET},
}
# A dynamic provider's outputs are kept in plain text unless the resource names them secret.
DYNAMIC_SECRET_OUTPUTS = {E2B_TEMPLATE: ("apiKey", "registryPassword")}
# The access key's secret as the program renders it for the image and the Secrets Manager value.
KEY_ASSIGNMENT = re.compile(r"AWS_SECRET_ACCESS_KEY[\"']?\s*[=:]\s*[\"']?[^\s\"']")
# Shorter values are not credentials (and would match by accident).
MIN_CREDENTIAL_LENGTH = 8


def _credentials(
    resource: Resource, fields: dict[str, dict[str, str]], found: list[Leaf]
) -> dict[str, str]:
    """The credential values a resource holds, by value: what each one is."""
    where = fields.get(resource.resource_type, {})
    return {
        leaf.text: where[leaf.path]
        for leaf in found
        if leaf.path in where and len(leaf.text) >= MIN_CREDENTIAL_LENGTH
    }


def _unmarked(
    resource: Resource, found: Iterable[Leaf], known: dict[str, str], recognise: bool
) -> list[Finding]:
    stack = resource.resource_type == STACK
    results = []
    for leaf in (leaf for leaf in found if not leaf.secret):
        what = next((w for value, w in known.items() if value in leaf.text), None)
        if what is None and recognise and KEY_ASSIGNMENT.search(leaf.text):
            what = KEY_SECRET
        if what is not None:
            results.append(
                finding(
                    resource,
                    f"stack output {leaf.path}" if stack else leaf.path,
                    f"carries {what} in plain text",
                    "export pulumi.Output.secret(...)"
                    if stack
                    else "pass it as pulumi.Output.secret(...)",
                )
            )
    return results


def _config_credentials(context: StackContext) -> dict[str, str]:
    """The stack config's credentials (the E2B key), long enough to be recognised."""
    key = context.e2b_api_key
    return {key: E2B_KEY} if key and len(key) >= MIN_CREDENTIAL_LENGTH else {}


def secret_inputs(r: ResourceValidationArgs, context: StackContext) -> list[Finding]:
    found = list(leaves(r.props))
    known = _credentials(r, CREDENTIAL_INPUTS, found) | _config_credentials(context)
    results = _unmarked(r, found, known, recognise=True)
    missing = [
        name
        for name in DYNAMIC_SECRET_OUTPUTS.get(r.resource_type, ())
        if name not in r.opts.additional_secret_outputs
    ]
    if missing:
        results.append(
            finding(
                r,
                "additionalSecretOutputs",
                f"lacks {', '.join(missing)}",
                f"pass ResourceOptions(additional_secret_outputs={list(missing)}): a dynamic "
                "provider's outputs are stored in plain text otherwise",
            )
        )
    return results


def secrets_everywhere(resources: Sequence[PolicyResource], context: StackContext) -> list[Finding]:
    found = {r.urn: list(leaves(r.props)) for r in resources}
    known: dict[str, str] = {}
    for r in resources:
        known.update(_credentials(r, CREDENTIAL_OUTPUTS, found[r.urn]))
    known |= _config_credentials(context)
    return [f for r in resources for f in _unmarked(r, found[r.urn], known, recognise=False)]
