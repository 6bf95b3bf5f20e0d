"""The bucket: private, owner-enforced, encrypted, versioned, TLS-only; protected in prod.

With pulumi-aws 7 each of those is a resource of its own attached to the bucket by name, so each
one's content is checked where it is declared, and the stack check makes sure none is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs

from . import documents
from .context import StackContext
from .findings import Finding, Resource, finding
from .props import get, items, known

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
# What every bucket needs beside it; their contents are checked by the resource policies.
COMPANIONS = (PUBLIC_ACCESS_BLOCK, OWNERSHIP, ENCRYPTION, VERSIONING, BUCKET_POLICY)

PUBLIC_ACCESS_FLAGS = (
    ("blockPublicAcls", "block_public_acls"),
    ("blockPublicPolicy", "block_public_policy"),
    ("ignorePublicAcls", "ignore_public_acls"),
    ("restrictPublicBuckets", "restrict_public_buckets"),
)
ENFORCED = "BucketOwnerEnforced"
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def short(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def public_access_blocked(r: ResourceValidationArgs) -> list[Finding]:
    return [
        finding(
            r,
            camel,
            f"is {get(r.props, camel)!r}, not true",
            f"set {snake}=True: all four public-access blocks stay on",
        )
        for camel, snake in PUBLIC_ACCESS_FLAGS
        if get(r.props, camel) is not True
    ]


def ownership_enforced(r: ResourceValidationArgs) -> list[Finding]:
    if r.resource_type == BUCKET:
        found = []
        if get(r.props, "acl") not in (None, "", "private"):
            acl = get(r.props, "acl")
            found.append(finding(r, "acl", f"is {acl!r}", "remove it: ACLs stay disabled"))
        if items(get(r.props, "grants")):
            found.append(finding(r, "grants", "grants ACL access", "remove them: use policies"))
        return found
    ownership = get(r.props, "rule", "objectOwnership")
    if ownership == ENFORCED:
        return []
    return [
        finding(
            r,
            "rule.objectOwnership",
            f"is {ownership!r}",
            f'set object_ownership="{ENFORCED}" (ACLs off, the bucket owner owns every object)',
        )
    ]


def _default_algorithms(props: Any) -> list[Any]:
    return [
        get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        for rule in items(get(props, "rules"))
    ]


def _encryption(
    r: ResourceValidationArgs, allowed: tuple[str, ...], where: str, fix: str
) -> list[Finding]:
    algorithms = _default_algorithms(r.props)
    if any(a in allowed for a in algorithms):
        return []
    return [
        finding(
            r,
            "rules[].applyServerSideEncryptionByDefault.sseAlgorithm",
            f"is {algorithms or 'missing'}{where}",
            fix,
        )
    ]


def encrypted_by_default(r: ResourceValidationArgs) -> list[Finding]:
    return _encryption(
        r, SSE_ALGORITHMS, "", 'set sse_algorithm="AES256" (SSE-S3) or "aws:kms" with a key'
    )


def versioning_enabled(r: ResourceValidationArgs) -> list[Finding]:
    status = get(r.props, "versioningConfiguration", "status")
    if status == "Enabled":
        return []
    return [
        finding(
            r,
            "versioningConfiguration.status",
            f"is {status!r}",
            'set status="Enabled": deletes and overwrites stay recoverable',
        )
    ]


def _denies_plain_http(statement: documents.Statement) -> bool:
    everyone = statement.principal in ("*", {"AWS": "*"}) or statement.principal == {"AWS": ["*"]}
    every_action = any(a in ("*", "s3:*") for a in statement.actions)
    condition = statement.condition if isinstance(statement.condition, dict) else {}
    secure = condition.get("Bool", {}).get("aws:SecureTransport")
    values = secure if isinstance(secure, list) else [secure]
    insecure_only = all(str(v).lower() == "false" for v in values)
    arns = set(statement.resources)
    whole_bucket = "*" in arns or any(f"{arn}/*" in arns for arn in arns if "/" not in arn)
    return (
        statement.effect == "Deny" and everyone and every_action and insecure_only and whole_bucket
    )


def tls_only(r: ResourceValidationArgs) -> list[Finding]:
    document = documents.parse(get(r.props, "policy"))
    if document is not None and any(_denies_plain_http(s) for s in documents.statements(document)):
        return []
    return [
        finding(
            r,
            "policy",
            "does not deny requests without TLS",
            'add a statement: Effect "Deny", Principal "*", Action "s3:*", Resource the bucket '
            'and its objects, Condition {"Bool": {"aws:SecureTransport": "false"}}',
        )
    ]


def protected_in_prod(r: ResourceValidationArgs, context: StackContext) -> list[Finding]:
    if not context.is_prod:
        return []
    found = []
    if not r.opts.protect:
        found.append(
            finding(
                r,
                "protect",
                "is off in prod",
                "declare it with ResourceOptions(protect=True, retain_on_delete=True)",
            )
        )
    if get(r.props, "forceDestroy") is True:
        found.append(
            finding(r, "forceDestroy", "is true in prod", "set force_destroy=False in prod")
        )
    return found


def kms_in_prod(r: ResourceValidationArgs, context: StackContext) -> list[Finding]:
    if not context.is_prod:
        return []
    fix = "set the stack's kmsKeyArn: SSE-KMS with a customer key and a bucket key"
    return _encryption(r, KMS_ALGORITHMS, " in prod", fix)


# --- the whole stack ------------------------------------------------------------------------


def attached_buckets(
    companion: PolicyResource, buckets: Sequence[PolicyResource]
) -> list[PolicyResource]:
    """The buckets a companion's `bucket` names: by its dependency (known even in a first
    preview), else by the bucket's name."""
    depended = {d.urn for d in companion.property_dependencies.get("bucket", [])}
    by_dependency = [b for b in buckets if b.urn in depended]
    name = known(companion.props, "bucket")
    if by_dependency or name is None:
        return by_dependency
    return [b for b in buckets if name in (known(b.props, "bucket"), known(b.props, "id"))]


def _attached(resources: Sequence[PolicyResource], type_: str) -> dict[str, list[PolicyResource]]:
    """Bucket URN -> its companions of `type_`."""
    buckets = [r for r in resources if r.resource_type == BUCKET]
    found: dict[str, list[PolicyResource]] = {b.urn: [] for b in buckets}
    for companion in (r for r in resources if r.resource_type == type_):
        for bucket in attached_buckets(companion, buckets):
            found[bucket.urn].append(companion)
    return found


def buckets_guarded(resources: Sequence[PolicyResource]) -> list[Finding]:
    buckets = {r.urn: r for r in resources if r.resource_type == BUCKET}
    found = []
    for type_ in COMPANIONS:
        for urn, companions in _attached(resources, type_).items():
            if not companions:
                found.append(
                    finding(
                        buckets[urn],
                        "bucket",
                        f"has no {short(type_)}",
                        f"declare aws.s3.{short(type_)}(bucket=<this bucket>.id, ...)",
                    )
                )
    return found


def _lifecycle_covers(config: Resource) -> tuple[bool, bool]:
    enabled = [
        rule for rule in items(get(config.props, "rules")) if get(rule, "status") == "Enabled"
    ]
    old_versions = any(
        get(rule, "noncurrentVersionExpiration", "noncurrentDays") for rule in enabled
    )
    uploads = any(
        get(rule, "abortIncompleteMultipartUpload", "daysAfterInitiation") for rule in enabled
    )
    return old_versions, uploads


def lifecycle_rules(resources: Sequence[PolicyResource]) -> list[Finding]:
    buckets = {r.urn: r for r in resources if r.resource_type == BUCKET}
    found = []
    for urn, configs in _attached(resources, LIFECYCLE).items():
        covered = [_lifecycle_covers(c) for c in configs]
        missing = [
            what
            for what, has in (
                ("expire noncurrent versions", any(c[0] for c in covered)),
                ("abort incomplete multipart uploads", any(c[1] for c in covered)),
            )
            if not has
        ]
        if missing:
            found.append(
                finding(
                    buckets[urn],
                    "lifecycle rules",
                    f"do not {' or '.join(missing)}",
                    "declare aws.s3.BucketLifecycleConfiguration with enabled rules that "
                    + " and ".join(missing),
                )
            )
    return found
