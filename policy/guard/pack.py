"""The pack's policies: which check runs on which resource types, and how hard it stops.

Mandatory policies fail `pulumi preview` and `pulumi up`; advisory ones are printed as warnings.
Resource policies see one resource's inputs before it is created or changed; stack policies see
every resource's outputs (and the stack's outputs) once the whole preview or update is planned.
Every resource type must be evaluated by a policy made for it or listed in NO_POLICY_NEEDED with
the reason; `known-resource-types` refuses any other type, so a new kind of resource cannot slip
past the guard unreviewed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import context, identity, image, secrets, storage
from .context import StackContext
from .findings import Finding, finding

PACK_NAME = "e2b-sandbox-guardrails"
MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

ResourceCheck = Callable[[ResourceValidationArgs, StackContext], list[Finding]]
StackCheck = Callable[[Sequence[PolicyResource], StackContext], list[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: EnforcementLevel
    types: tuple[str, ...]
    """The types it judges (what the pack's coverage counts); for a resource rule, the only ones
    it runs on, empty meaning every resource."""


@dataclass(frozen=True)
class ResourceRule(Rule):
    check: ResourceCheck


@dataclass(frozen=True)
class StackRule(Rule):
    check: StackCheck


# Types that need no policy of their own, and why. Each is still scanned for plain-text secrets.
NO_POLICY_NEEDED = {
    "aws:iam/group:Group": "grants only through its GroupPolicy documents, which are checked",
    "aws:iam/userGroupMembership:UserGroupMembership": "joins a user to a group; what the group "
    "grants is checked on its policies",
    "aws:secretsmanager/secret:Secret": "holds no value itself; its SecretVersion's "
    "secretString must be marked secret",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "expires old images; grants nothing",
}
# Prefixes that need none: provider configuration (region, endpoints).
NO_POLICY_NEEDED_PREFIXES = {"pulumi:providers:": "a provider's configuration"}


def _ignoring_context(
    check: Callable[[ResourceValidationArgs], list[Finding]],
) -> ResourceCheck:
    return lambda args, _: check(args)


RESOURCE_RULES = (
    ResourceRule(
        "s3-public-access-block",
        "Every S3 bucket blocks public access with all four public-access blocks.",
        MANDATORY,
        (storage.PUBLIC_ACCESS_BLOCK,),
        _ignoring_context(storage.public_access_blocked),
    ),
    ResourceRule(
        "s3-object-ownership",
        "Every S3 bucket enforces object ownership: ACLs are disabled.",
        MANDATORY,
        (storage.OWNERSHIP, storage.BUCKET),
        _ignoring_context(storage.ownership_enforced),
    ),
    ResourceRule(
        "s3-default-encryption",
        "Every S3 bucket encrypts objects by default.",
        MANDATORY,
        (storage.ENCRYPTION,),
        _ignoring_context(storage.encrypted_by_default),
    ),
    ResourceRule(
        "s3-versioning",
        "Every S3 bucket is versioned.",
        MANDATORY,
        (storage.VERSIONING,),
        _ignoring_context(storage.versioning_enabled),
    ),
    ResourceRule(
        "s3-tls-only",
        "Every S3 bucket's policy denies requests made without TLS.",
        MANDATORY,
        (storage.BUCKET_POLICY,),
        _ignoring_context(storage.tls_only),
    ),
    ResourceRule(
        "prod-bucket-protected",
        "In prod the bucket is protected (and retained on delete) and never force-destroyed.",
        MANDATORY,
        (storage.BUCKET,),
        storage.protected_in_prod,
    ),
    ResourceRule(
        "iam-no-user-policies",
        "No IAM policy is attached to a user directly: users get permissions from groups.",
        MANDATORY,
        (*identity.USER_POLICY_TYPES, identity.POLICY_ATTACHMENT),
        _ignoring_context(identity.no_user_policies),
    ),
    ResourceRule(
        "iam-no-wildcards",
        "No policy allows a wildcard action (*, s3:*) or every resource for an S3 action.",
        MANDATORY,
        identity.DOCUMENT_TYPES,
        _ignoring_context(identity.no_wildcards),
    ),
    ResourceRule(
        "iam-sandbox-grants",
        "No identity policy grants s3:DeleteObjectVersion, s3:PutBucket* or iam:*.",
        MANDATORY,
        identity.IDENTITY_POLICY_TYPES,
        _ignoring_context(identity.sandbox_grants),
    ),
    ResourceRule(
        "secrets-in-inputs",
        "No resource input carries a credential unless it is marked secret.",
        MANDATORY,
        (),
        secrets.secret_inputs,
    ),
    ResourceRule(
        "image-platform-and-base",
        "The sandbox image is built for linux/amd64 from a base pinned to a tag or digest.",
        MANDATORY,
        (image.DOCKER_IMAGE,),
        image.built_for_e2b,
    ),
    ResourceRule(
        "image-pushed-to-private-ecr",
        "The sandbox image is pushed only to a private ECR registry, under the name it logs in to.",
        MANDATORY,
        (image.DOCKER_IMAGE,),
        _ignoring_context(image.pushed_to_private_ecr),
    ),
    ResourceRule(
        "prod-kms-encryption",
        "In prod the bucket is encrypted with a customer KMS key.",
        ADVISORY,
        (storage.ENCRYPTION,),
        storage.kms_in_prod,
    ),
)

STACK_RULES = (
    StackRule(
        "s3-bucket-guarded",
        "Every S3 bucket has its public-access block, ownership controls, default encryption, "
        "versioning and TLS-only policy.",
        MANDATORY,
        (storage.BUCKET, *storage.COMPANIONS),
        lambda resources, _: storage.buckets_guarded(resources),
    ),
    StackRule(
        "iam-access-keys-under-path",
        "Access keys exist only for users under the project's IAM path.",
        MANDATORY,
        (identity.ACCESS_KEY, identity.USER),
        identity.keys_under_path,
    ),
    StackRule(
        "secrets-everywhere",
        "No resource output and no stack output carries a credential unless it is marked secret.",
        MANDATORY,
        (secrets.STACK, identity.ACCESS_KEY, *secrets.CREDENTIAL_INPUTS),
        secrets.secrets_everywhere,
    ),
    StackRule(
        "image-pushed-to-own-repository",
        "The sandbox image is pushed only to the stack's own private ECR repository.",
        MANDATORY,
        (image.DOCKER_IMAGE, image.ECR_REPOSITORY),
        lambda resources, _: image.pushed_to_own_repository(resources),
    ),
    StackRule(
        "s3-lifecycle-rules",
        "Every S3 bucket expires old versions and aborts stale multipart uploads.",
        ADVISORY,
        (storage.LIFECYCLE,),
        lambda resources, _: storage.lifecycle_rules(resources),
    ),
)


def evaluated_types() -> set[str]:
    """The types some policy was made for."""
    return {t for rule in (*RESOURCE_RULES, *STACK_RULES) for t in rule.types}


def needs_no_policy(type_: str, project: str) -> bool:
    """Listed as needing none; so are the project's own components (`<project>:<module>:<Name>`),
    which hold no cloud properties: their children are checked."""
    return (
        type_ in NO_POLICY_NEEDED
        or type_.startswith(tuple(NO_POLICY_NEEDED_PREFIXES))
        or type_.startswith(f"{project}:")
    )


def known_type(r: ResourceValidationArgs, stack: StackContext) -> list[Finding]:
    if r.resource_type in evaluated_types() or needs_no_policy(r.resource_type, stack.project):
        return []
    return [
        finding(
            r,
            "its type",
            "is one the e2b-sandbox policy pack does not know",
            "add a policy for it in policy/guard/pack.py, or list it in NO_POLICY_NEEDED with "
            "the reason it needs none",
        )
    ]


KNOWN_TYPES_RULE = ResourceRule(
    "known-resource-types",
    "Every resource is of a type the pack evaluates or lists as needing no policy.",
    MANDATORY,
    (),
    known_type,
)


def _report(findings: list[Finding], report: ReportViolation) -> None:
    for found in findings:
        report(found.message, found.urn)


def _policy(rule: ResourceRule | StackRule) -> Policy:
    """The SDK's policy for a rule; the stack's context is read at each check, when the engine
    has configured the runtime."""
    described: dict[str, Any] = {
        "name": rule.name,
        "description": rule.description,
        "enforcement_level": rule.level,
    }
    if isinstance(rule, StackRule):
        on_stack = rule.check

        def validate_stack(args: StackValidationArgs, report: ReportViolation) -> None:
            _report(on_stack(args.resources, context.current()), report)

        return StackValidationPolicy(validate=validate_stack, **described)
    on_resource, types = rule.check, rule.types

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not types or args.resource_type in types:
            _report(on_resource(args, context.current()), report)

    return ResourceValidationPolicy(validate=validate, **described)


def policies() -> list[Policy]:
    return [_policy(rule) for rule in (*RESOURCE_RULES, KNOWN_TYPES_RULE, *STACK_RULES)]
