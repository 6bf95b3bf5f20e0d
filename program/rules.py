"""The rules every value must keep, one function each, applied where a value is set (the stack's
settings, by config key) and where it is used (each component's Args, by field). Here: how a rule
reports, and the rules of the AWS resources; program/sandbox_rules.py has those of the image,
the sandbox, the backend and E2B.

A rule returns the problems it finds: the value to show and the form it must take ("must be ...").
An empty list means the value is good. Pure, standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from program.policies import federated_users_arn, packed, sandbox_access_policy
from s3mount import contract


class Problem(NamedTuple):
    value: object
    """What the message shows as the value (never a secret)."""
    allowed: str
    """The form the value must take: "must be ..."."""


Problems = list[Problem]


class InvalidArgsError(ValueError):
    """A component's Args that break their own rules: every problem, named by field."""

    def __init__(self, args: object, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{type(args).__name__}: " + "; ".join(problems))


def check_args(args: object, **found: Problems) -> None:
    """Raises InvalidArgsError with every problem of `args`, by field, if there is any."""
    lines = [f"{field} = {p.value!r}: {p.allowed}" for field, ps in found.items() for p in ps]
    if lines:
        raise InvalidArgsError(args, lines)


def one(ok: bool, value: object, allowed: str) -> Problems:
    return [] if ok else [Problem(value, allowed)]


# S3 allows 63 characters; the provider appends 26 to a bucket prefix (a timestamp and a counter).
BUCKET_NAME_MAX = 63
BUCKET_PREFIX_SUFFIX = 26
BUCKET_PREFIX_MAX = BUCKET_NAME_MAX - BUCKET_PREFIX_SUFFIX
NONCURRENT_DAYS_MAX = 36500
ECR_KEEP_MAX = 1000
KEY_SLOTS = ("blue", "green")
# A group's inline policies may hold 5,120 characters (whitespace not counted): beyond that the
# policy fails only at `pulumi up`, after other resources were made.
GROUP_POLICY_MAX = 5120
KEY_PREFIXES_MAX = 20

# Every pattern is matched whole (fullmatch) and ASCII-only: `$` would let a trailing newline
# through, and `\d` any Unicode digit.
_BUCKET_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.ASCII)
_BUCKET_NAME_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]*", re.ASCII)
# S3 reserves bucket names that start with these.
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_REGION = re.compile(r"(?P<area>[a-z]{2}(?:-[a-z]+)*)-[a-z]+-[0-9]{1,2}", re.ASCII)
_KMS_KEY_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):kms:(?P<region>[a-z0-9-]+):[0-9]{12}:key/"
    r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})",
    re.ASCII,
)
_POLICY_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?:[0-9]{12}|aws):policy/[A-Za-z0-9+=,.@/_-]{1,512}",
    re.ASCII,
)
_IAM_PATH = re.compile(r"/(?:[A-Za-z0-9+=,.@_-]+/)*", re.ASCII)


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to: ARNs in other partitions cannot be used there."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- the bucket -------------------------------------------------------------------------------


def bucket_prefix(prefix: str, environment: str) -> Problems:
    """The user's start of the bucket name; the bucket is <prefix>-<environment>-<26 chars>."""
    if (
        not _BUCKET_PREFIX.fullmatch(prefix)
        or "--" in prefix
        or prefix.startswith(_RESERVED_BUCKET_PREFIXES)
    ):
        return [
            Problem(
                prefix,
                "must be lowercase letters, digits and single hyphens, starting and ending with "
                "a letter or digit (S3 bucket naming rules; no dots, no 'xn--', 'sthree-' or "
                "'amzn-s3-demo-' start)",
            )
        ]
    full = f"{prefix}-{environment}-"
    room = BUCKET_PREFIX_MAX - len(full) + len(prefix)
    return one(
        len(full) <= BUCKET_PREFIX_MAX,
        prefix,
        f"gives the bucket name prefix '{full}' of {len(full)} characters; at most "
        f"{BUCKET_PREFIX_MAX} fit (S3 allows {BUCKET_NAME_MAX}, the provider appends "
        f"{BUCKET_PREFIX_SUFFIX}): use at most {room} characters",
    )


def bucket_name_prefix(full: str) -> Problems:
    """What the provider is given: S3's characters, room for its 26-character suffix."""
    return one(
        bool(_BUCKET_NAME_PREFIX.fullmatch(full))
        and len(full) <= BUCKET_PREFIX_MAX
        and not full.startswith(_RESERVED_BUCKET_PREFIXES),
        full,
        f"must be at most {BUCKET_PREFIX_MAX} lowercase letters, digits and hyphens, starting "
        "with a letter or digit",
    )


def noncurrent_version_days(days: int) -> Problems:
    return one(
        1 <= days <= NONCURRENT_DAYS_MAX,
        days,
        f"must be a whole number of days from 1 to {NONCURRENT_DAYS_MAX}",
    )


# --- AWS: regions, keys, IAM ------------------------------------------------------------------


def region(name: str | None) -> Problems:
    return one(
        bool(name) and _REGION.fullmatch(name or "") is not None,
        name,
        "must be an AWS region such as us-east-1 or eu-central-1",
    )


def kms_key_arn(arn: str | None, stack_region: str | None) -> Problems:
    """A customer key's ARN; with the stack's region, also in its partition and region."""
    if arn is None:
        return []
    match = _KMS_KEY_ARN.fullmatch(arn)
    if match is None:
        return [
            Problem(
                arn,
                "must be a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/<uuid>, "
                "or empty for SSE-S3",
            )
        ]
    if stack_region is None:
        return []
    partition = partition_of(stack_region)
    if match["partition"] != partition:
        return [
            Problem(
                arn,
                f"must be a key in partition {partition}, the stack region {stack_region}'s "
                f"(not {match['partition']})",
            )
        ]
    return one(
        match["region"] == stack_region,
        arn,
        f"must be a key in the stack's region {stack_region} (S3 cannot use a key from "
        f"{match['region']})",
    )


def permissions_boundary_arn(arn: str | None, stack_region: str) -> Problems:
    if arn is None:
        return []
    match = _POLICY_ARN.fullmatch(arn)
    return one(
        match is not None and match["partition"] == partition_of(stack_region),
        arn,
        "must be an IAM policy ARN such as arn:aws:iam::123456789012:policy/boundary, or empty "
        "for none",
    )


def iam_path(path: str) -> Problems:
    return one(
        bool(_IAM_PATH.fullmatch(path)) and len(path) <= 512,
        path,
        "must be an IAM path such as /e2b-sandbox/dev/: starting and ending with '/'",
    )


def key_prefixes(
    prefixes: Sequence[str],
    kms_key: str | None,
    stack_region: str,
    issues_sessions: bool = False,
) -> Problems:
    """Key prefixes the identity may use: valid, distinct, and a policy that fits IAM's limit."""
    if len(prefixes) > KEY_PREFIXES_MAX:
        return [
            Problem(
                f"{len(prefixes)} prefixes",
                f"must list at most {KEY_PREFIXES_MAX} prefixes (the policy must fit IAM's "
                f"{GROUP_POLICY_MAX:,} characters); use a common parent prefix",
            )
        ]
    problems = [
        Problem(prefix, f"each prefix must be {problem}")
        for prefix in prefixes
        if (problem := contract.key_prefix_problem(prefix))
    ]
    if len(set(prefixes)) != len(prefixes):
        problems.append(Problem(list(prefixes), "must not list a prefix twice"))
    # The policy as IAM counts it (no whitespace), for the longest bucket name S3 allows.
    longest = f"arn:aws:s3:::{'x' * BUCKET_NAME_MAX}"
    sessions = (
        federated_users_arn("0" * 12, partition_of(stack_region)) if issues_sessions else None
    )
    document = sandbox_access_policy(longest, prefixes, kms_key, stack_region, sessions)
    size = len(packed(document))
    if size > GROUP_POLICY_MAX:
        problems.append(
            Problem(
                f"{len(prefixes)} prefixes",
                f"make a policy of {size:,} characters; a group's inline policies hold "
                f"{GROUP_POLICY_MAX:,}: use fewer or shorter prefixes",
            )
        )
    return problems


def key_slots(slots: Sequence[str]) -> Problems:
    return one(
        bool(slots) and all(slot in KEY_SLOTS for slot in slots) and len(set(slots)) == len(slots),
        list(slots),
        f'must list one or both of {", ".join(KEY_SLOTS)}, each once, e.g. ["blue"]',
    )


def active_key_slot(active: str, slots: Sequence[str]) -> Problems:
    return one(
        active in slots,
        active,
        f"must be one of the existing keySlots {list(slots)}: add the slot to keySlots and run "
        "`pulumi up` first, then switch (README.md, 'Rotating the key')",
    )


def recovery_window_days(days: int) -> Problems:
    return one(
        days == 0 or 7 <= days <= 30,
        days,
        "must be 0 (delete at once) or from 7 to 30 days (Secrets Manager's window)",
    )


def ecr_keep_images(count: int) -> Problems:
    return one(
        1 <= count <= ECR_KEEP_MAX, count, f"must be a whole number from 1 to {ECR_KEEP_MAX}"
    )
