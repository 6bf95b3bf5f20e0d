"""Stack settings: the configuration's values, typed as Pulumi.yaml declares them, checked against
every rule at once, and what they mean for the resources.

Pure (no Pulumi engine, no cloud); program/config.py reads the values through the SDK. A bad value
stops the run with one message that names every offending key, its value and the allowed form,
before any resource is declared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from program import rules, sandbox_rules
from program.environments import ENVIRONMENT_RULES, ENVIRONMENTS, EnvironmentRules
from program.rules import Problems
from program.schema import config_keys, field_name, project_name
from s3mount import contract

PROJECT = project_name()
REGION_KEY = "aws:region"
# A secret: read with get_secret, and not declared in Pulumi.yaml (Pulumi would then require it in
# every stack, local included, before the program runs).
E2B_API_KEY = "e2bApiKey"
# A secret's recovery window where somebody may need it back.
RECOVERY_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Settings:
    """Every setting the components need, validated; one field per key of Pulumi.yaml."""

    stack: str
    region: str
    has_e2b_api_key: bool
    """The secret itself is read by program/config.py and never held here."""
    environment: str
    bucket_prefix: str
    mount_dir: str
    noncurrent_version_days: int
    kms_key_arn: str | None
    allowed_key_prefixes: tuple[str, ...]
    force_destroy: bool
    key_slots: tuple[str, ...]
    active_key_slot: str
    permissions_boundary_arn: str | None
    base_image: str | None
    ecr_keep_images: int
    sandbox_s3_endpoint_url: str | None
    mount_freshness_seconds: int
    sandbox_storage: str
    sandbox_prefix_root: str
    sandbox_code_user: str
    e2b_template_name: str
    e2b_template: bool
    e2b_cpu_count: int
    e2b_memory_mb: int
    e2b_api_url: str | None
    compose_service_name: str
    backend_dir: str
    backend_mount_check_image: str
    backend_mounts_in_container: bool

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
        return 0 if self.rules.disposable else RECOVERY_WINDOW_DAYS

    @property
    def push_image(self) -> bool:
        return self.rules.pushes_image

    @property
    def iam_path(self) -> str:
        return f"/{PROJECT}/{self.environment}/"

    @property
    def per_sandbox(self) -> bool:
        return self.sandbox_storage == contract.PER_SANDBOX_STORAGE


def qualified(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


class SettingsError(Exception):
    """Every configuration problem at once, each naming the key, its value and the allowed form."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"The stack configuration has {len(self.problems)} problem(s); nothing was deployed."
            f"\n{lines}\nSet a value with `pulumi config set {PROJECT}:<key> <value>` "
            f"(see README.md, 'Configuration')."
        )


class _Found:
    """Collects problems by config key, so the user sees all of them in one run."""

    def __init__(self, already: Sequence[str]) -> None:
        self.items = list(already)

    def add(self, key: str, problems: Problems) -> None:
        self.items += [f"{qualified(key)} = {p.value!r}: {p.allowed}" for p in problems]


def _typed_values(raw: Mapping[str, object]) -> dict[str, Any]:
    """{Settings field: value} for every declared key: unset keys take Pulumi.yaml's default,
    text is stripped, and an empty text whose default is empty means "none"."""
    values: dict[str, Any] = {}
    for key, spec in config_keys().items():
        value = raw.get(key)
        if value is None:
            value = spec.default
        if isinstance(value, str):
            value = value.strip()
            if not value and spec.default == "":
                value = None
        elif isinstance(value, list):
            value = tuple(value)
        values[field_name(key)] = value
    return values


def load_settings(
    raw: Mapping[str, object],
    stack: str,
    has_e2b_api_key: bool = False,
    read_problems: Sequence[str] = (),
) -> Settings:
    """Validated settings from the stack's values, typed as Pulumi.yaml declares them (project
    keys without namespace, plus `aws:region`). Raises SettingsError with every problem,
    `read_problems` (values the reader could not type) among them."""
    found = _Found(read_problems)
    values = _typed_values(raw)
    environment = values["environment"]
    if environment not in ENVIRONMENTS:
        found.add(
            "environment", [rules.Problem(environment, f"must be one of {', '.join(ENVIRONMENTS)}")]
        )
    stack_region = raw.get(REGION_KEY)
    stack_region = stack_region.strip() if isinstance(stack_region, str) else None
    found.add(REGION_KEY, rules.region(stack_region))
    if stack in ENVIRONMENTS and environment in ENVIRONMENTS and stack != environment:
        found.add(
            "environment",
            [
                rules.Problem(
                    environment,
                    f"must be {stack} in the stack named {stack}: a stack named like an "
                    "environment gets that environment's protection (or rename the stack)",
                )
            ],
        )
    if found.items or stack_region is None:
        raise SettingsError(found.items)
    values["e2b_template_name"] = values["e2b_template_name"] or f"{PROJECT}-{environment}"
    settings = Settings(stack=stack, region=stack_region, has_e2b_api_key=has_e2b_api_key, **values)
    _validate(settings, found)
    if found.items:
        raise SettingsError(found.items)
    return settings


def _validate(s: Settings, found: _Found) -> None:
    found.add("bucketPrefix", rules.bucket_prefix(s.bucket_prefix, s.environment))
    found.add("mountDir", sandbox_rules.mount_dir(s.mount_dir))
    found.add("noncurrentVersionDays", rules.noncurrent_version_days(s.noncurrent_version_days))
    found.add("kmsKeyArn", rules.kms_key_arn(s.kms_key_arn, s.region))
    found.add(
        "allowedKeyPrefixes",
        rules.key_prefixes(s.allowed_key_prefixes, s.kms_key_arn, s.region, s.per_sandbox),
    )
    if s.force_destroy and s.rules.durable:
        found.add(
            "forceDestroy",
            [
                rules.Problem(
                    True,
                    f"must be false in {s.environment}: destroying the stack must never delete "
                    "its data (set it to false)",
                )
            ],
        )
    slots = rules.key_slots(s.key_slots)
    found.add("keySlots", slots)
    if not slots:
        found.add("activeKeySlot", rules.active_key_slot(s.active_key_slot, s.key_slots))
    found.add(
        "permissionsBoundaryArn",
        rules.permissions_boundary_arn(s.permissions_boundary_arn, s.region),
    )
    found.add("baseImage", sandbox_rules.base_image(s.base_image))
    found.add("ecrKeepImages", rules.ecr_keep_images(s.ecr_keep_images))
    found.add("sandboxS3EndpointUrl", sandbox_rules.endpoint_url(s.sandbox_s3_endpoint_url))
    found.add("mountFreshnessSeconds", sandbox_rules.freshness_seconds(s.mount_freshness_seconds))
    found.add("sandboxStorage", sandbox_rules.storage(s.sandbox_storage))
    found.add(
        "sandboxPrefixRoot",
        sandbox_rules.prefix_root(s.sandbox_prefix_root, s.allowed_key_prefixes),
    )
    found.add("sandboxCodeUser", sandbox_rules.code_user(s.sandbox_code_user))
    found.add("e2bTemplateName", sandbox_rules.template_name(s.e2b_template_name))
    found.add("composeServiceName", sandbox_rules.service_name(s.compose_service_name))
    _validate_template(s, found)
    found.add("backendDir", sandbox_rules.mount_dir(s.backend_dir))
    found.add("backendMountCheckImage", sandbox_rules.check_image(s.backend_mount_check_image))


def _validate_template(s: Settings, found: _Found) -> None:
    if s.e2b_template and not s.push_image:
        found.add(
            "e2bTemplate",
            [
                rules.Problem(
                    True,
                    f"must be false in {s.environment}: its image is never pushed, so E2B "
                    "cannot pull it",
                )
            ],
        )
    if s.e2b_template and not s.has_e2b_api_key:
        found.add(
            E2B_API_KEY,
            [
                rules.Problem(
                    None,
                    "must be set while e2bTemplate is true: `pulumi config set --secret "
                    f"{PROJECT}:{E2B_API_KEY} <key>` (E2B dashboard, Team settings), or set "
                    "e2bTemplate false",
                )
            ],
        )
    found.add("e2bCpuCount", sandbox_rules.cpu_count(s.e2b_cpu_count))
    found.add("e2bMemoryMb", sandbox_rules.memory_mb(s.e2b_memory_mb))
    found.add("e2bApiUrl", sandbox_rules.e2b_api_url(s.e2b_api_url))
