"""Settings: the schema's one home is Pulumi.yaml, derived values per environment, and every bad
input stops with a message that names the key, the value and the allowed form."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from program.config import ConfigurationError, read_stack_config, required_tags
from program.environments import ENVIRONMENT_RULES
from program.rules import BUCKET_PREFIX_MAX
from program.schema import config_keys, field_name
from program.settings import (
    E2B_API_KEY,
    PROJECT,
    REGION_KEY,
    Settings,
    SettingsError,
    load_settings,
)

VALID: dict[str, str | None] = {"environment": "dev", REGION_KEY: "eu-central-1"}
KMS_KEY = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def load(
    stack: str = "test-stack", api_key: str | None = "e2b_test_key", /, **overrides: str | None
) -> Settings:
    """Settings from config strings as `pulumi config set` stores them, read the way the program
    reads them (read_stack_config: the SDK's typed getters, then the rules)."""
    values = {**VALID, **overrides}
    environment = values.get("environment") or "dev"
    config = {
        (key if ":" in key else f"{PROJECT}:{key}"): value
        for key, value in values.items()
        if value is not None
    }
    config["aws:defaultTags"] = json.dumps({"tags": required_tags(environment)})
    if api_key is not None:
        config[f"{PROJECT}:{E2B_API_KEY}"] = api_key
    pulumi.runtime.set_all_config(config, secret_keys=[f"{PROJECT}:{E2B_API_KEY}"])
    return read_stack_config(stack).settings


def project_config(repo_root: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((repo_root / "Pulumi.yaml").read_text())["config"])


def test_every_key_pulumi_yaml_declares_fills_one_settings_field(repo_root: Path) -> None:
    declared = project_config(repo_root)
    derived = {"stack", "region", "has_e2b_api_key"}
    assert {field_name(key) for key in declared} == {
        f.name for f in dataclasses.fields(Settings)
    } - derived
    # Pulumi requires every declared key without a default in every stack, before the program
    # runs: e2bApiKey (secret, no default) would stop `local`, which never needs it. So it stays
    # undeclared, and the program asks for it, with its fix, only where e2bTemplate is true.
    assert E2B_API_KEY not in declared
    assert [key for key, spec in declared.items() if "default" not in spec] == ["environment"]
    for key, spec in declared.items():
        assert len(spec["description"]) > 20, key


def test_an_unset_key_takes_the_default_pulumi_yaml_declares(repo_root: Path) -> None:
    settings = load()
    for key, spec in project_config(repo_root).items():
        if spec.get("default") in (None, "", []):
            continue
        value = getattr(settings, field_name(key))
        default = spec["default"]
        assert value == (tuple(default) if isinstance(default, list) else default), key


def test_a_type_pulumi_yaml_does_not_know_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from program import schema

    project = tmp_path / "Pulumi.yaml"
    project.write_text(
        "name: x\nruntime: python\nconfig:\n  a:\n    type: float\n    description: d\n"
    )
    monkeypatch.setattr(schema, "PROJECT_FILE", project)
    schema.project.cache_clear()
    schema.config_keys.cache_clear()
    try:
        with pytest.raises(ValueError, match="a has type 'float'"):
            schema.config_keys()
    finally:
        schema.project.cache_clear()
        schema.config_keys.cache_clear()


def test_defaults_and_derived_values() -> None:
    settings = load()
    assert settings.mount_dir == "/opt/sentient"
    assert settings.bucket_name_prefix == "e2b-sandbox-dev-"
    assert settings.key_slots == ("blue",)
    assert settings.active_key_slot == "blue"
    assert settings.kms_key_arn is None
    assert settings.iam_path == "/e2b-sandbox/dev/"
    assert settings.e2b_template_name == "e2b-sandbox-dev"
    assert settings.backend_dir == "/srv/backend"
    assert settings.mount_freshness_seconds == 2
    assert settings.sandbox_code_user == "user"


@pytest.mark.parametrize(
    ("environment", "protected", "recovery_days", "push"),
    [
        ("local", False, 0, False),
        ("dev", False, 0, True),
        ("staging", False, 30, True),
        ("prod", True, 30, True),
    ],
)
def test_environment_drives_protection_recovery_and_push(
    environment: str, protected: bool, recovery_days: int, push: bool
) -> None:
    settings = load(environment=environment)
    assert settings.protected is protected
    assert settings.secret_recovery_window_days == recovery_days
    assert settings.push_image is push


def test_structured_values_parse() -> None:
    settings = load(
        allowedKeyPrefixes=json.dumps(["sandboxes/", "shared/reports/"]),
        keySlots=json.dumps(["blue", "green"]),
        activeKeySlot="green",
        noncurrentVersionDays="90",
        forceDestroy="true",
        kmsKeyArn=KMS_KEY,
    )
    assert settings.allowed_key_prefixes == ("sandboxes/", "shared/reports/")
    assert settings.key_slots == ("blue", "green")
    assert settings.active_key_slot == "green"
    assert settings.noncurrent_version_days == 90
    assert settings.force_destroy is True
    assert settings.kms_key_arn == KMS_KEY


def test_longest_allowed_bucket_prefix_fits_exactly() -> None:
    room = BUCKET_PREFIX_MAX - len("-staging-")
    settings = load(environment="staging", bucketPrefix="a" * room)
    assert len(settings.bucket_name_prefix) == BUCKET_PREFIX_MAX


# Each bad input: the overrides, then fragments the message must contain (key, value, allowed form).
BAD_INPUTS: list[tuple[dict[str, str | None], list[str]]] = [
    ({"environment": None}, ["e2b-sandbox:environment", "None", "local, dev, staging, prod"]),
    ({"environment": "qa"}, ["e2b-sandbox:environment", "'qa'", "must be one of"]),
    ({REGION_KEY: None}, ["aws:region", "us-east-1"]),
    ({REGION_KEY: "Europe"}, ["aws:region", "'Europe'", "AWS region"]),
    ({"bucketPrefix": "My_Bucket"}, ["bucketPrefix", "'My_Bucket'", "lowercase letters"]),
    ({"bucketPrefix": "files-"}, ["bucketPrefix", "'files-'", "ending with a letter or digit"]),
    ({"bucketPrefix": "xn--files"}, ["bucketPrefix", "'xn--files'", "'xn--'"]),
    ({"bucketPrefix": "a" * 40}, ["bucketPrefix", "at most 37 fit", "use at most 32 characters"]),
    ({"mountDir": "opt/sentient"}, ["mountDir", "'opt/sentient'", "absolute path"]),
    ({"mountDir": "/opt/sentient/"}, ["mountDir", "'/opt/sentient/'", "no trailing slash"]),
    ({"mountDir": "/opt/../etc"}, ["mountDir", "'/opt/../etc'", "no '.' or '..'"]),
    ({"mountDir": "/etc"}, ["mountDir", "'/etc'", "system directory"]),
    ({"mountDir": "/proc/sentient"}, ["mountDir", "'/proc/sentient'", "system directory"]),
    ({"noncurrentVersionDays": "0"}, ["noncurrentVersionDays", "0", "from 1 to 36500"]),
    ({"noncurrentVersionDays": "thirty"}, ["noncurrentVersionDays", "'thirty'", "whole number"]),
    ({"kmsKeyArn": "alias/my-key"}, ["kmsKeyArn", "'alias/my-key'", "KMS key ARN"]),
    (
        {"kmsKeyArn": KMS_KEY.replace("eu-central-1", "us-west-2")},
        ["kmsKeyArn", "us-west-2", "region eu-central-1"],
    ),
    (
        {"allowedKeyPrefixes": "sandboxes/"},
        ["allowedKeyPrefixes", "'sandboxes/'", "list of strings"],
    ),
    (
        {"allowedKeyPrefixes": json.dumps(["/abs/"])},
        ["allowedKeyPrefixes", "'/abs/'", "no leading '/'"],
    ),
    (
        {"allowedKeyPrefixes": json.dumps(["logs"])},
        ["allowedKeyPrefixes", "'logs'", "ending in '/'"],
    ),
    ({"allowedKeyPrefixes": json.dumps(["a*/"])}, ["allowedKeyPrefixes", "'a*/'", "no '*'"]),
    (
        {"allowedKeyPrefixes": json.dumps(["a/", "a/"])},
        ["allowedKeyPrefixes", "['a/', 'a/']", "twice"],
    ),
    ({"forceDestroy": "yes"}, ["forceDestroy", "'yes'", "true or false"]),
    (
        {"environment": "prod", "forceDestroy": "true"},
        ["forceDestroy", "True", "must be false in prod"],
    ),
    (
        {"environment": "staging", "forceDestroy": "true"},
        ["forceDestroy", "must be false in staging"],
    ),
    ({"keySlots": json.dumps(["red"])}, ["keySlots", "['red']", "blue, green"]),
    ({"keySlots": json.dumps([])}, ["keySlots", "[]", "one or both"]),
    ({"keySlots": json.dumps(["blue", "blue"])}, ["keySlots", "each once"]),
    ({"activeKeySlot": "green"}, ["activeKeySlot", "'green'", "existing keySlots ['blue']"]),
    (
        {"permissionsBoundaryArn": "arn:aws:iam::123:role/x"},
        ["permissionsBoundaryArn", "'arn:aws:iam::123:role/x'", "IAM policy ARN"],
    ),
    ({"baseImage": "e2bdev/code-interpreter:latest"}, ["baseImage", "latest", "pinned"]),
    ({"baseImage": "e2bdev/code-interpreter"}, ["baseImage", "'e2bdev/code-interpreter'", "tag"]),
    ({"ecrKeepImages": "0"}, ["ecrKeepImages", "0", "from 1 to 1000"]),
    (
        {"sandboxS3EndpointUrl": "ftp://files"},
        ["sandboxS3EndpointUrl", "'ftp://files'", "http(s) URL"],
    ),
    (
        {"sandboxS3EndpointUrl": "http://key:secret@host"},
        ["sandboxS3EndpointUrl", "no user, password"],
    ),
    ({"e2bTemplateName": "My Template"}, ["e2bTemplateName", "'My Template'", "lowercase"]),
    ({"composeServiceName": "-backend"}, ["composeServiceName", "'-backend'", "service name"]),
    ({"backendDir": "/etc/backend"}, ["backendDir", "'/etc/backend'", "system directory"]),
    ({"backendDir": "srv/backend"}, ["backendDir", "absolute path"]),
    ({"backendMountCheckImage": "busybox"}, ["backendMountCheckImage", "pinned"]),
    ({"backendMountCheckImage": "busybox:latest"}, ["backendMountCheckImage", "not 'latest'"]),
    ({"backendMountsInContainer": "yes"}, ["backendMountsInContainer", "true or false"]),
    ({"mountFreshnessSeconds": "3601"}, ["mountFreshnessSeconds", "from 0 to 3600"]),
    ({"mountFreshnessSeconds": "two"}, ["mountFreshnessSeconds", "whole number"]),
    ({"sandboxCodeUser": "admin"}, ["sandboxCodeUser", "'admin'", "user", "root"]),
    ({"e2bCpuCount": "0"}, ["e2bCpuCount", "at least 1"]),
    ({"e2bCpuCount": "1.5"}, ["e2bCpuCount", "whole number"]),
    ({"e2bMemoryMb": "511"}, ["e2bMemoryMb", "even", "at least 512"]),
    ({"e2bMemoryMb": "1025"}, ["e2bMemoryMb", "even"]),
    ({"e2bApiUrl": "http://api.e2b.local"}, ["e2bApiUrl", "https URL"]),
    ({"e2bApiUrl": "https://ho\nst"}, ["e2bApiUrl", "https URL"]),
    ({"e2bApiUrl": "https://h x"}, ["e2bApiUrl", "https URL"]),
    ({"e2bApiUrl": "https://h:abc"}, ["e2bApiUrl", "https URL"]),
    ({"e2bApiUrl": "https://h,x"}, ["e2bApiUrl", "https URL"]),
    ({"environment": "local", "e2bTemplate": "true"}, ["e2bTemplate", "never pushed"]),
    # Found by a hostile review (issue 11): each passed before.
    (
        {"sandboxS3EndpointUrl": "http://host/,nonempty,allow_root"},
        ["sandboxS3EndpointUrl", "comma"],
    ),
    ({"sandboxS3EndpointUrl": "http://:secret@host"}, ["sandboxS3EndpointUrl", "password"]),
    ({"sandboxS3EndpointUrl": "http://host\n:9000"}, ["sandboxS3EndpointUrl", "http(s) URL"]),
    ({"sandboxS3EndpointUrl": "http://host:99999"}, ["sandboxS3EndpointUrl", "http(s) URL"]),
    ({"sandboxS3EndpointUrl": "http://host:abc"}, ["sandboxS3EndpointUrl", "http(s) URL"]),
    ({"sandboxS3EndpointUrl": "http://my host:9000"}, ["sandboxS3EndpointUrl", "http(s) URL"]),
    ({"mountDir": "/usr/bin"}, ["mountDir", "'/usr/bin'", "of its own"]),
    ({"mountDir": "/usr/local/bin"}, ["mountDir", "of its own"]),
    ({"mountDir": "/lib/x86_64-linux-gnu"}, ["mountDir", "of its own"]),
    ({"mountDir": "/root/.ssh"}, ["mountDir", "of its own"]),
    ({"mountDir": "/root/.server"}, ["mountDir", "of its own"]),
    ({"mountDir": "/root/.jupyter"}, ["mountDir", "of its own"]),
    ({"mountDir": "/home"}, ["mountDir", "of its own"]),
    ({"mountDir": "/var/lib/docker"}, ["mountDir", "of its own"]),
    ({"mountDir": "/opt/" + "x" * 5000}, ["mountDir", "255 characters"]),
    ({"kmsKeyArn": KMS_KEY.replace("arn:aws:", "arn:aws-cn:")}, ["kmsKeyArn", "partition aws"]),
    (
        {"allowedKeyPrefixes": json.dumps(["sandboxes/\n"])},
        ["allowedKeyPrefixes", "relative key prefix"],
    ),
    (
        {"allowedKeyPrefixes": json.dumps([f"p{n}/" for n in range(1000)])},
        ["allowedKeyPrefixes", "5,120"],
    ),
    ({REGION_KEY: "eu-central-\u0661"}, [REGION_KEY, "AWS region"]),
    ({"bucketPrefix": "amzn-s3-demo-data"}, ["bucketPrefix", "amzn-s3-demo-"]),
    ({"baseImage": "e2bdev/code-interpreter:LATEST"}, ["baseImage", "not 'latest'"]),
    (
        {"allowedKeyPrefixes": "[" * 100000 + "]" * 100000},
        ["allowedKeyPrefixes", "list of strings"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "fragments"), BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))]
)
def test_bad_input_names_key_value_and_allowed_form(
    overrides: dict[str, str | None], fragments: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load(**overrides)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"
    assert "nothing was deployed" in message
    assert "pulumi config set" in message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load(bucketPrefix="UPPER", mountDir="relative", ecrKeepImages="0", activeKeySlot="green")
    assert len(raised.value.problems) == 4
    assert "4 problem(s)" in str(raised.value)


def test_a_template_without_its_key_stops_with_one_message_naming_the_key() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load("test-stack", None, e2bTemplate="true")
    assert raised.value.problems == [
        "e2b-sandbox:e2bApiKey = None: must be set while e2bTemplate is true: "
        "`pulumi config set --secret e2b-sandbox:e2bApiKey <key>` (E2B dashboard, Team "
        "settings), or set e2bTemplate false"
    ]


@pytest.mark.parametrize("environment", ["dev", "staging", "local"])
def test_a_stack_named_like_an_environment_must_be_that_environment(environment: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load("prod", environment=environment)
    assert any("environment" in p and "prod" in p for p in raised.value.problems)
    assert load("prod", environment="prod")
    assert load("alice-dev", environment="dev")


@pytest.mark.parametrize(
    "good", ["http://minio:9000", "https://s3.example.com", "http://127.0.0.1:5050"]
)
def test_s3_compatible_endpoints_keep_working(good: str) -> None:
    assert load(sandboxS3EndpointUrl=good).sandbox_s3_endpoint_url == good


@pytest.mark.parametrize("good", ["/opt/sentient", "/mnt/shared", "/srv/e2b/files"])
def test_mount_dirs_of_their_own_keep_working(good: str) -> None:
    assert load(mountDir=good).mount_dir == good


def test_the_typed_getters_follow_the_types_pulumi_yaml_declares() -> None:
    typed = {key: spec.type for key, spec in config_keys().items() if spec.type != "string"}
    wrong = {"integer": "ten", "boolean": "yes", "array": "sandboxes/"}
    with pytest.raises(ConfigurationError) as raised:
        load(**{key: wrong[kind] for key, kind in typed.items()})
    assert len(raised.value.problems) == len(typed)
    assert all(any(key in p for p in raised.value.problems) for key in typed)


def test_every_environment_has_its_rules_in_one_table() -> None:
    assert set(ENVIRONMENT_RULES) == {"local", "dev", "staging", "prod"}
    assert [e for e, r in ENVIRONMENT_RULES.items() if r.protected] == ["prod"]
    assert [e for e, r in ENVIRONMENT_RULES.items() if not r.pushes_image] == ["local"]
    assert [e for e, r in ENVIRONMENT_RULES.items() if r.disposable] == ["local", "dev"]
    assert [e for e, r in ENVIRONMENT_RULES.items() if r.deployed] == ["dev", "staging", "prod"]


def test_the_default_tags_must_be_in_the_stack_file() -> None:
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:environment": "dev", REGION_KEY: "us-east-1"}, secret_keys=[]
    )
    with pytest.raises(ConfigurationError, match=r"aws:defaultTags = None: must tag every"):
        read_stack_config("dev")


def test_a_configuration_error_is_a_run_error_the_engine_prints_without_a_traceback() -> None:
    with pytest.raises(pulumi.RunError):
        load(mountDir="relative")


def test_load_settings_is_pure_and_raises_its_own_error() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**VALID, "mountDir": "relative"}, "test-stack")
    assert not isinstance(raised.value, pulumi.RunError)
    assert raised.value.problems == [
        "e2b-sandbox:mountDir = 'relative': must be an absolute path like /opt/sentient: "
        "letters, digits, '.', '_', '-' between single slashes, no trailing slash, no '.' or '..'"
    ]
