"""The stack files and Pulumi.yaml: every key known to its reader, each stack its environment
with its tags, the local stack on the emulator only."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import yaml

from program.config import required_tags
from tests.support.program import STACKS, stack_config


def known_aws_config_keys() -> set[str]:
    """The keys pulumi_aws's own config module reads."""
    spec = importlib.util.find_spec("pulumi_aws.config.vars")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    return set(re.findall(r"__config__\.get\w*\('(\w+)'\)", source))


def test_every_aws_key_in_every_stack_file_is_known_to_the_provider(repo_root: Path) -> None:
    known = known_aws_config_keys()
    assert {"region", "endpoints", "s3UsePathStyle"} <= known
    for stack in STACKS:
        for key in stack_config(stack):
            if key.startswith("aws:"):
                assert key.removeprefix("aws:") in known, f"{stack}: {key}"


def test_every_project_key_in_every_stack_file_is_declared(repo_root: Path) -> None:
    declared = set(yaml.safe_load((repo_root / "Pulumi.yaml").read_text())["config"])
    for stack in STACKS:
        for key in stack_config(stack):
            if key.startswith("e2b-sandbox:"):
                assert key.removeprefix("e2b-sandbox:") in declared, f"{stack}: {key}"
        assert stack_config(stack)["e2b-sandbox:environment"] == stack


def test_local_stack_targets_the_emulator_only() -> None:
    config = stack_config("local")
    (endpoints,) = json.loads(config["aws:endpoints"])
    assert set(endpoints) >= {"s3", "iam", "sts", "secretsmanager"}
    assert all(url.startswith("http://127.0.0.1:") for url in endpoints.values())
    for flag in ("skipCredentialsValidation", "skipRequestingAccountId", "s3UsePathStyle"):
        assert config[f"aws:{flag}"] == "true", flag
    for stack in ("dev", "staging", "prod"):
        assert "aws:endpoints" not in stack_config(stack)


def test_pulumi_yaml_runtime(repo_root: Path) -> None:
    project = yaml.safe_load((repo_root / "Pulumi.yaml").read_text())
    assert project["name"] == "e2b-sandbox"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
    assert project["stackConfigDir"] == "stacks"


def test_every_stack_tags_every_resource_through_the_provider() -> None:
    for stack in STACKS:
        tags = json.loads(stack_config(stack)["aws:defaultTags"])
        assert tags == {"tags": required_tags(stack)}, stack


def test_the_deployed_stacks_build_an_e2b_template_and_local_does_not() -> None:
    building = [s for s in STACKS if stack_config(s).get("e2b-sandbox:e2bTemplate") == "true"]
    assert building == ["dev", "staging", "prod"]
