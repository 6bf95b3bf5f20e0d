"""Stack settings: one typed, validated object built from the stack's configuration.

Everything here is pure (no Pulumi engine, no cloud), so it is tested directly. The program builds
the settings before it declares any resource: a bad value stops the run with one message that names
every offending key, its value and the allowed form, and nothing is registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import pulumi

from components.mount_rules import endpoint_url_problem, mount_dir_problem
from components.policies import sandbox_access_policy

PROJECT = "e2b-sandbox"


@dataclass(frozen=True)
class EnvironmentRules:
    """What being one environment means for the resources."""

    protected: bool
    """The bucket is protected, and kept when the stack is destroyed."""
    durable: bool
    """A destroy must never take the data with it: forceDestroy is refused."""
    disposable: bool
    """Nobody restores a deleted key: its secret goes at once, without a recovery window."""
    pushes_image: bool
    """There is a registry to push to (local's image stays in the laptop's Docker engine)."""


ENVIRONMENT_RULES: Mapping[str, EnvironmentRules] = {
    "local": EnvironmentRules(protected=False, durable=False, disposable=True, pushes_image=False),
    "dev": EnvironmentRules(protected=False, durable=False, disposable=True, pushes_image=True),
    "staging": EnvironmentRules(protected=False, durable=True, disposable=False, pushes_image=True),
    "prod": EnvironmentRules(protected=True, durable=True, disposable=False, pushes_image=True),
}
ENVIRONMENTS = tuple(ENVIRONMENT_RULES)
KEY_SLOTS = ("blue", "green")
# Who runs the agent code in the sandbox; root can read the bucket's key.
CODE_USERS = ("user", "root")
MAX_FRESHNESS_SECONDS = 3600

# S3 allows 63 characters; the provider appends 26 to a bucket prefix (a timestamp and a counter).
BUCKET_NAME_MAX = 63
BUCKET_PREFIX_SUFFIX = 26
BUCKET_PREFIX_MAX = BUCKET_NAME_MAX - BUCKET_PREFIX_SUFFIX

# Every pattern is matched whole (fullmatch) and ASCII-only: `$` would let a trailing newline
# through, and `\d` any Unicode digit.
_BUCKET_PREFIX_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.ASCII)
_REGION_RE = re.compile(r"(?P<area>[a-z]{2}(?:-[a-z]+)*)-[a-z]+-[0-9]{1,2}", re.ASCII)
_KMS_KEY_ARN_RE = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):kms:(?P<region>[a-z0-9-]+):[0-9]{12}:key/"
    r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})",
    re.ASCII,
)
_POLICY_ARN_RE = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?:[0-9]{12}|aws):policy/[A-Za-z0-9+=,.@/_-]{1,512}",
    re.ASCII,
)
# S3 reserves bucket names that start with these.
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
# A group's inline policies may hold 5,120 characters (whitespace not counted): beyond that the
# policy fails only at `pulumi up`, after other resources were made.
GROUP_POLICY_MAX = 5120
KEY_PREFIXES_MAX = 20
_KEY_PREFIX_RE = re.compile(r"[A-Za-z0-9!_.'()-]+(?:/[A-Za-z0-9!_.'()-]+)*/", re.ASCII)
_IMAGE_REF_RE = re.compile(
    r"(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?",
    re.ASCII,
)
_TEMPLATE_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?", re.ASCII)
_SERVICE_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}", re.ASCII)


class SettingsError(pulumi.RunError):
    """Raised with every configuration problem at once; Pulumi prints it without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"The stack configuration has {len(problems)} problem(s); nothing was deployed.\n"
            f"{lines}\nSet a value with `pulumi config set {PROJECT}:<key> <value>` "
            f"(see README.md, 'Configuration')."
        )


@dataclass(frozen=True)
class Settings:
    """Every setting the components need, validated, with the defaults Pulumi.yaml declares."""

    stack: str
    environment: str
    region: str
    bucket_prefix: str = "e2b-sandbox"
    mount_dir: str = "/opt/sentient"
    noncurrent_version_days: int = 30
    kms_key_arn: str | None = None
    allowed_key_prefixes: tuple[str, ...] = ()
    force_destroy: bool = False
    key_slots: tuple[str, ...] = ("blue",)
    active_key_slot: str = "blue"
    permissions_boundary_arn: str | None = None
    base_image: str | None = None
    ecr_keep_images: int = 10
    sandbox_s3_endpoint_url: str | None = None
    mount_freshness_seconds: int = 2
    sandbox_code_user: str = "user"
    e2b_template_name: str = ""
    e2b_template: bool = False
    e2b_cpu_count: int = 2
    e2b_memory_mb: int = 2048
    e2b_api_url: str | None = None
    e2b_api_key: pulumi.Output[str] | None = None
    """Read as a secret (never a plain config value); present whenever e2b_template is."""
    compose_service_name: str = "backend"
    backend_dir: str = "/srv/backend"
    backend_mount_check_image: str = "busybox:1.37"
    backend_mounts_in_container: bool = False

    @property
    def name(self) -> str:
        """The stem of every logical resource name: physical names then say what they are."""
        return f"{PROJECT}-{self.environment}"

    @property
    def bucket_name_prefix(self) -> str:
        return f"{self.bucket_prefix}-{self.environment}-"

    @property
    def rules(self) -> EnvironmentRules:
        return ENVIRONMENT_RULES[self.environment]

    @property
    def protected(self) -> bool:
        return self.rules.protected

    @property
    def secret_recovery_window_days(self) -> int:
        return 0 if self.rules.disposable else 30

    @property
    def push_image(self) -> bool:
        return self.rules.pushes_image

    @property
    def iam_path(self) -> str:
        return f"/{PROJECT}/{self.environment}/"


# Each config key with the Settings field it fills; Pulumi.yaml declares the same keys.
CONFIG_KEYS: Mapping[str, str] = {
    "environment": "environment",
    "bucketPrefix": "bucket_prefix",
    "mountDir": "mount_dir",
    "noncurrentVersionDays": "noncurrent_version_days",
    "kmsKeyArn": "kms_key_arn",
    "allowedKeyPrefixes": "allowed_key_prefixes",
    "forceDestroy": "force_destroy",
    "keySlots": "key_slots",
    "activeKeySlot": "active_key_slot",
    "permissionsBoundaryArn": "permissions_boundary_arn",
    "baseImage": "base_image",
    "ecrKeepImages": "ecr_keep_images",
    "sandboxS3EndpointUrl": "sandbox_s3_endpoint_url",
    "mountFreshnessSeconds": "mount_freshness_seconds",
    "sandboxCodeUser": "sandbox_code_user",
    "e2bTemplateName": "e2b_template_name",
    "e2bTemplate": "e2b_template",
    "e2bCpuCount": "e2b_cpu_count",
    "e2bMemoryMb": "e2b_memory_mb",
    "e2bApiUrl": "e2b_api_url",
    "composeServiceName": "compose_service_name",
    "backendDir": "backend_dir",
    "backendMountCheckImage": "backend_mount_check_image",
    "backendMountsInContainer": "backend_mounts_in_container",
}
REGION_KEY = "aws:region"
# A secret: read with get_secret, never among the plain keys above.
E2B_API_KEY = "e2bApiKey"


class _Problems:
    """Collects problems so the user sees all of them in one run, not one per `pulumi up`."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, value: object, allowed: str) -> None:
        qualified = key if ":" in key else f"{PROJECT}:{key}"
        self.items.append(f"{qualified} = {value!r}: {allowed}")


_LIST_FORM = 'must be a list of strings, e.g. ["a/", "b/"] (pulumi config set --path KEY[0] VALUE)'
# The keys Pulumi.yaml types other than string (a test holds the two together): read with the
# SDK's typed getters, and the form a value of the wrong type is told to take.
CONFIG_TYPES: Mapping[str, str] = {
    "noncurrentVersionDays": "integer",
    "ecrKeepImages": "integer",
    "mountFreshnessSeconds": "integer",
    "e2bCpuCount": "integer",
    "e2bMemoryMb": "integer",
    "forceDestroy": "boolean",
    "backendMountsInContainer": "boolean",
    "e2bTemplate": "boolean",
    "allowedKeyPrefixes": "array",
    "keySlots": "array",
}
_TYPE_FORMS = {
    "integer": "must be a whole number",
    "boolean": "must be true or false",
    "array": _LIST_FORM,
}


def read_config(config: pulumi.Config) -> tuple[dict[str, object], list[str]]:
    """Every project key with the getter its declared type calls for; a value of the wrong type
    is a problem, named like every other."""
    problems = _Problems()
    raw: dict[str, object] = {}
    for key in CONFIG_KEYS:
        kind = CONFIG_TYPES.get(key, "string")
        try:
            if kind == "integer":
                raw[key] = config.get_int(key)
            elif kind == "boolean":
                raw[key] = config.get_bool(key)
            elif kind == "array":
                raw[key] = config.get_object(key)
            else:
                raw[key] = config.get(key)
        except (pulumi.ConfigTypeError, ValueError, RecursionError):
            # A nested list too deep for JSON's parser lands here as RecursionError.
            problems.add(key, config.get(key), _TYPE_FORMS[kind])
    return raw, problems.items


def _typed(key: str, value: object, problems: _Problems) -> object:
    """A value of the type its key takes, or None (with a problem) when it is not one."""
    kind = CONFIG_TYPES.get(key, "string")
    if kind == "array":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
    elif isinstance(value, str):
        return value.strip() or None
    problems.add(key, value, _TYPE_FORMS.get(kind, "must be text"))
    return None


def load_settings(
    raw: Mapping[str, object],
    stack: str,
    e2b_api_key: pulumi.Output[str] | None = None,
    read_problems: Sequence[str] = (),
) -> Settings:
    """Build validated settings from the stack's config values, typed as Pulumi.yaml declares
    them (project keys without namespace, plus `aws:region`), and the E2B API key, read as a
    secret (None when not set). Missing keys take the defaults Pulumi.yaml declares. Raises
    SettingsError with every problem, `read_problems` (values of the wrong type) among them."""
    problems = _Problems()
    problems.items += read_problems
    values: dict[str, Any] = {"e2b_api_key": e2b_api_key}
    for key, field_name in CONFIG_KEYS.items():
        if raw.get(key) is not None:
            typed = _typed(key, raw[key], problems)
            if typed is not None:
                values[field_name] = typed

    environment = values.pop("environment", None)
    if environment not in ENVIRONMENTS:
        problems.add("environment", environment, f"must be one of {', '.join(ENVIRONMENTS)}")
    region = raw.get(REGION_KEY)
    region = region.strip() if isinstance(region, str) else None
    if not region or not _REGION_RE.fullmatch(region):
        problems.add(REGION_KEY, region, "must be an AWS region such as us-east-1 or eu-central-1")
    if stack in ENVIRONMENTS and environment in ENVIRONMENTS and stack != environment:
        problems.add(
            "environment",
            environment,
            f"must be {stack} in the stack named {stack}: a stack named like an environment "
            "gets that environment's protection (or rename the stack)",
        )
    if problems.items or not isinstance(environment, str) or not region:
        raise SettingsError(problems.items)
    settings = Settings(stack=stack, environment=environment, region=region, **values)
    settings = _with_derived_defaults(settings)
    _validate(settings, problems)
    if problems.items:
        raise SettingsError(problems.items)
    return settings


def _with_derived_defaults(settings: Settings) -> Settings:
    """Fill the defaults that depend on other settings (Pulumi.yaml declares them as "")."""
    return replace(
        settings,
        e2b_template_name=settings.e2b_template_name or f"{PROJECT}-{settings.environment}",
    )


def default_tags(environment: str) -> dict[str, str]:
    """The tags every resource carries, through the AWS provider's defaultTags (stack files)."""
    return {"environment": environment, "project": PROJECT, "managed-by": "pulumi"}


def _validate(s: Settings, problems: _Problems) -> None:
    _validate_bucket_prefix(s, problems)
    _validate_mount_dir(s.mount_dir, problems)
    if not 1 <= s.noncurrent_version_days <= 36500:
        problems.add(
            "noncurrentVersionDays",
            s.noncurrent_version_days,
            "must be a whole number of days from 1 to 36500",
        )
    _validate_kms_key(s, problems)
    _validate_key_prefixes(s, problems)
    if s.force_destroy and s.rules.durable:
        problems.add(
            "forceDestroy",
            True,
            f"must be false in {s.environment}: destroying the stack must never delete its "
            "data (set it to false)",
        )
    _validate_key_slots(s, problems)
    boundary = (
        _POLICY_ARN_RE.fullmatch(s.permissions_boundary_arn)
        if s.permissions_boundary_arn is not None
        else None
    )
    if s.permissions_boundary_arn is not None and (
        boundary is None or boundary["partition"] != partition_of(s.region)
    ):
        problems.add(
            "permissionsBoundaryArn",
            s.permissions_boundary_arn,
            "must be an IAM policy ARN such as arn:aws:iam::123456789012:policy/boundary, "
            "or empty for none",
        )
    _validate_base_image(s.base_image, problems)
    if not 1 <= s.ecr_keep_images <= 1000:
        problems.add("ecrKeepImages", s.ecr_keep_images, "must be a whole number from 1 to 1000")
    _validate_endpoint(s.sandbox_s3_endpoint_url, problems)
    if not 0 <= s.mount_freshness_seconds <= MAX_FRESHNESS_SECONDS:
        problems.add(
            "mountFreshnessSeconds",
            s.mount_freshness_seconds,
            f"must be a whole number of seconds from 0 to {MAX_FRESHNESS_SECONDS} (how stale a "
            "mount's view of the bucket may be; README, 'The shared bucket's contract')",
        )
    if s.sandbox_code_user not in CODE_USERS:
        problems.add(
            "sandboxCodeUser",
            s.sandbox_code_user,
            "must be user (the default: agent code cannot read the key) or root (it can)",
        )
    if not _TEMPLATE_NAME_RE.fullmatch(s.e2b_template_name):
        problems.add(
            "e2bTemplateName",
            s.e2b_template_name,
            "must be 1-63 lowercase letters, digits, '-' or '_', starting and ending with a "
            "letter or digit",
        )
    if not _SERVICE_NAME_RE.fullmatch(s.compose_service_name):
        problems.add(
            "composeServiceName",
            s.compose_service_name,
            "must be a compose service name: letters, digits, '_', '.', '-', not starting "
            "with a symbol",
        )
    _validate_template(s, problems)
    _validate_mount_dir(s.backend_dir, problems, key="backendDir")
    if not _pinned_image(s.backend_mount_check_image):
        problems.add(
            "backendMountCheckImage",
            s.backend_mount_check_image,
            "must be an image reference pinned to a version tag or digest, such as busybox:1.37 "
            "(not 'latest'), with awk in it",
        )


def _validate_bucket_prefix(s: Settings, problems: _Problems) -> None:
    prefix = s.bucket_prefix
    if (
        not _BUCKET_PREFIX_RE.fullmatch(prefix)
        or "--" in prefix
        or prefix.startswith(_RESERVED_BUCKET_PREFIXES)
    ):
        problems.add(
            "bucketPrefix",
            prefix,
            "must be lowercase letters, digits and single hyphens, starting and ending with a "
            "letter or digit (S3 bucket naming rules; no dots, no 'xn--', 'sthree-' or "
            "'amzn-s3-demo-' start)",
        )
        return
    full = s.bucket_name_prefix
    if len(full) > BUCKET_PREFIX_MAX:
        room = BUCKET_PREFIX_MAX - len(full) + len(prefix)
        problems.add(
            "bucketPrefix",
            prefix,
            f"gives the bucket name prefix '{full}' of {len(full)} characters; at most "
            f"{BUCKET_PREFIX_MAX} fit (S3 allows {BUCKET_NAME_MAX}, the provider appends "
            f"{BUCKET_PREFIX_SUFFIX}): use at most {room} characters",
        )


def _validate_mount_dir(mount_dir: str, problems: _Problems, key: str = "mountDir") -> None:
    # The mount program's own rule (components/mount_rules.py).
    problem = mount_dir_problem(mount_dir)
    if problem is not None:
        problems.add(key, mount_dir, f"must be {problem}")


def _validate_kms_key(s: Settings, problems: _Problems) -> None:
    if s.kms_key_arn is None:
        return
    match = _KMS_KEY_ARN_RE.fullmatch(s.kms_key_arn)
    if match is None:
        problems.add(
            "kmsKeyArn",
            s.kms_key_arn,
            "must be a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/<uuid>, "
            "or empty for SSE-S3",
        )
    elif match["partition"] != partition_of(s.region):
        problems.add(
            "kmsKeyArn",
            s.kms_key_arn,
            f"must be a key in partition {partition_of(s.region)}, the stack region "
            f"{s.region}'s (not {match['partition']})",
        )
    elif match["region"] != s.region:
        problems.add(
            "kmsKeyArn",
            s.kms_key_arn,
            f"must be a key in the stack's region {s.region} (S3 cannot use a key from "
            f"{match['region']})",
        )


def _validate_key_prefixes(s: Settings, problems: _Problems) -> None:
    prefixes = s.allowed_key_prefixes
    if len(prefixes) > KEY_PREFIXES_MAX:
        problems.add(
            "allowedKeyPrefixes",
            f"{len(prefixes)} prefixes",
            f"must list at most {KEY_PREFIXES_MAX} prefixes (the policy must fit IAM's "
            f"{GROUP_POLICY_MAX:,} characters); use a common parent prefix",
        )
        return
    for prefix in prefixes:
        if len(prefix) > 512 or not _KEY_PREFIX_RE.fullmatch(prefix) or ".." in prefix.split("/"):
            problems.add(
                "allowedKeyPrefixes",
                prefix,
                "each prefix must be a relative key prefix ending in '/', such as "
                "'sandboxes/' (letters, digits, !_.'()- between slashes; no '*', no "
                "leading '/', no '..')",
            )
    if len(set(prefixes)) != len(prefixes):
        problems.add("allowedKeyPrefixes", list(prefixes), "must not list a prefix twice")
    # The policy as IAM counts it (no whitespace), for the longest bucket name S3 allows.
    longest = f"arn:aws:s3:::{'x' * BUCKET_NAME_MAX}"
    document = sandbox_access_policy(longest, prefixes, s.kms_key_arn, s.region)
    size = len(json.dumps(document, separators=(",", ":")))
    if size > GROUP_POLICY_MAX:
        problems.add(
            "allowedKeyPrefixes",
            f"{len(prefixes)} prefixes",
            f"make a policy of {size:,} characters; a group's inline policies hold "
            f"{GROUP_POLICY_MAX:,}: use fewer or shorter prefixes",
        )


def _validate_key_slots(s: Settings, problems: _Problems) -> None:
    slots = s.key_slots
    if not slots or any(slot not in KEY_SLOTS for slot in slots) or len(set(slots)) != len(slots):
        problems.add(
            "keySlots",
            list(slots),
            f'must list one or both of {", ".join(KEY_SLOTS)}, each once, e.g. ["blue"]',
        )
        return
    if s.active_key_slot not in slots:
        problems.add(
            "activeKeySlot",
            s.active_key_slot,
            f"must be one of the existing keySlots {list(slots)}: add the slot to keySlots "
            "and run `pulumi up` first, then switch (README.md, 'Rotating the key')",
        )


def _pinned_image(image: str) -> bool:
    match = _IMAGE_REF_RE.fullmatch(image)
    tag = (match["tag"] or "").lower() if match else ""
    return match is not None and bool(match["tag"] or match["digest"]) and tag != "latest"


def _validate_template(s: Settings, problems: _Problems) -> None:
    if s.e2b_template and not s.push_image:
        problems.add(
            "e2bTemplate",
            True,
            f"must be false in {s.environment}: its image is never pushed, so E2B cannot pull it",
        )
    if s.e2b_template and s.e2b_api_key is None:
        problems.add(
            "e2bApiKey",
            None,
            "must be set while e2bTemplate is true: `pulumi config set --secret "
            f"{PROJECT}:e2bApiKey <key>` (E2B dashboard, Team settings), or set e2bTemplate false",
        )
    if s.e2b_cpu_count < 1:
        problems.add("e2bCpuCount", s.e2b_cpu_count, "must be a whole number of CPUs, at least 1")
    if s.e2b_memory_mb < 512 or s.e2b_memory_mb % 2:
        problems.add(
            "e2bMemoryMb", s.e2b_memory_mb, "must be an even whole number of MiB, at least 512"
        )
    # The endpoint rule (host, port, no user, comma, space or control character), https only.
    url = s.e2b_api_url
    if url is not None and (endpoint_url_problem(url) or urlsplit(url).scheme != "https"):
        problems.add(
            "e2bApiUrl",
            s.e2b_api_url,
            "must be an https URL of E2B's API (a self-hosted E2B), or empty for E2B's own",
        )


def _validate_base_image(image: str | None, problems: _Problems) -> None:
    if image is not None and not _pinned_image(image):
        problems.add(
            "baseImage",
            image,
            "must be an image reference pinned to a version tag or digest, such as "
            "e2bdev/code-interpreter:1.2.3 (not 'latest'), or empty for the Dockerfile's "
            "pinned default",
        )


def _validate_endpoint(url: str | None, problems: _Problems) -> None:
    if url is None:
        return
    problem = endpoint_url_problem(url)
    if problem is not None:
        problems.add("sandboxS3EndpointUrl", url, f"must be {problem}, or empty for AWS")


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to: ARNs in other partitions cannot be used there."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def settings_from_pulumi(stack: str | None = None) -> Settings:
    """Read the current stack's configuration through the Pulumi SDK's typed getters."""
    project = pulumi.Config(PROJECT)
    aws = pulumi.Config("aws")
    raw, problems = read_config(project)
    raw[REGION_KEY] = aws.get("region")
    name = stack or pulumi.get_stack()
    try:
        tags = aws.get_object("defaultTags")
    except (pulumi.ConfigTypeError, ValueError):
        tags = None
    environment = raw.get("environment")
    if isinstance(environment, str) and environment in ENVIRONMENTS:
        expected = default_tags(environment)
        found = tags.get("tags") if isinstance(tags, dict) else None
        if not isinstance(found, dict) or {k: found.get(k) for k in expected} != expected:
            problems.append(
                f"aws:defaultTags = {tags!r}: must tag every resource with {expected} "
                f"(the stack file's aws:defaultTags: tags:), so that audits find them"
            )
    return load_settings(
        raw, name, e2b_api_key=project.get_secret(E2B_API_KEY), read_problems=problems
    )
