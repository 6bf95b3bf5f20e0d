"""The whole program under Pulumi's mocks, for every stack: the resources it declares, how they hang
together, and the outputs CI reads."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from program.config import ConfigurationError
from program.outputs import OUTPUT_NAMES, SECRET_OUTPUTS
from program.policies import sandbox_access_policy
from tests.support.program import STACKS, ProgramRun, run_program
from tests.support.pulumi_mocks import RecordingMocks

BUCKET = "aws:s3/bucket:Bucket"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(mocks: RecordingMocks, stack: str, **overrides: str | None) -> ProgramRun:
    return run_program(mocks, stack, {f"e2b-sandbox:{k}": v for k, v in overrides.items()})


# --- the program as a whole -------------------------------------------------------------------


def test_every_stack_exports_exactly_the_outputs_ci_reads(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    assert sorted(result.outputs) == sorted(OUTPUT_NAMES)
    assert result.secret_outputs == set(SECRET_OUTPUTS)
    bucket = result.one(BUCKET).outputs["bucket"]
    assert result.outputs["bucketName"] == bucket
    assert result.outputs["bucketArn"] == f"arn:aws:s3:::{bucket}"
    assert result.outputs["region"] == "us-east-1"
    assert result.outputs["s3MountDir"] == "/opt/sentient"
    assert result.outputs["accessKeyId"].startswith("AKIA")
    assert result.outputs["credentialsSecretArn"].startswith("arn:aws:secretsmanager:")
    assert result.outputs["iamUserArn"].endswith(f"/{result.outputs['iamUserName']}")


def test_only_the_secret_key_is_secret_and_it_leaks_into_no_other_output(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    assert "secretAccessKey" in result.secret_outputs
    secret = result.outputs["secretAccessKey"]
    assert secret.startswith("mock-secret-")
    for name, value in result.outputs.items():
        if name not in result.secret_outputs:
            assert secret not in json.dumps(value), f"{name} carries the secret in plain text"


def test_bad_config_registers_nothing(pulumi_mocks: RecordingMocks) -> None:
    with pytest.raises(ConfigurationError, match="e2b-sandbox:mountDir = 'relative'"):
        run(pulumi_mocks, "dev", mountDir="relative")
    assert pulumi_mocks.resources == []


def test_no_deprecated_resource_types(pulumi_mocks: RecordingMocks, stack: str) -> None:
    result = run(pulumi_mocks, stack)
    types = {r.type for r in result.resources}
    assert not [t for t in types if re.search(r"V2$", t)]
    # The inline bucket arguments v7 deprecates (acl, versioning, lifecycle rules, ...) stay unused.
    assert set(result.one(BUCKET).inputs) <= {"bucketPrefix", "forceDestroy", "tags", "tagsAll"}


# --- component conventions --------------------------------------------------------------------


def component_modules(repo_root: Path) -> dict[str, str]:
    """Component class name -> module name, read from the source."""
    found = {}
    for path in sorted((repo_root / "components").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base) == "pulumi.ComponentResource" for base in node.bases
            ):
                found[node.name] = path.stem
    return found


def test_component_type_tokens_name_their_module(
    pulumi_mocks: RecordingMocks, repo_root: Path
) -> None:
    result = run(pulumi_mocks, "dev")
    modules = component_modules(repo_root)
    components = [r for r in result.resources if r.type.startswith("e2b-sandbox:")]
    assert len(components) >= 3
    for component in components:
        _, module, class_name = component.type.split(":")
        assert modules.get(class_name) == module, component.type


def test_every_child_hangs_under_its_component_and_is_named_after_it(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    children = [r for r in result.resources if not r.type.startswith("e2b-sandbox:")]
    assert children
    for child in children:
        assert child.parent_type.startswith("e2b-sandbox:"), f"{child.name} has no component parent"
        assert child.name.startswith(f"{child.parent_name}-"), child.name


def test_every_component_registers_its_outputs(repo_root: Path) -> None:
    """Each ComponentResource class calls self.register_outputs in its own __init__."""
    checked = 0
    for path in sorted((repo_root / "components").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef) or not any(
                ast.unparse(base) == "pulumi.ComponentResource" for base in node.bases
            ):
                continue
            init = next(
                f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"
            )
            calls = [
                ast.unparse(call.func) for call in ast.walk(init) if isinstance(call, ast.Call)
            ]
            assert "self.register_outputs" in calls, f"{path.name}: {node.name}"
            checked += 1
    assert checked >= 7


# --- wiring: what each stack's settings make of the components -------------------------------


def test_only_prod_protects_and_retains_the_bucket_and_only_local_and_dev_force_destroy(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    bucket = run(pulumi_mocks, stack).one(BUCKET)
    assert bucket.options.protect is (stack == "prod")
    assert bucket.options.retain_on_delete is (stack == "prod")
    assert bucket.inputs["forceDestroy"] is (stack in ("local", "dev"))
    assert bucket.inputs["bucketPrefix"] == f"e2b-sandbox-{stack}-"


def test_the_secret_can_be_recovered_only_where_keys_are_not_disposable(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    window = run(pulumi_mocks, stack).one(SECRET).inputs["recoveryWindowInDays"]
    assert window == (0 if stack in ("local", "dev") else 30)


def test_the_identity_can_reach_exactly_the_stacks_bucket(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack, allowedKeyPrefixes=json.dumps(["sandboxes/"]))
    document = json.loads(result.one("aws:iam/groupPolicy:GroupPolicy").inputs["policy"])
    assert document == sandbox_access_policy(result.outputs["bucketArn"], ["sandboxes/"])
    assert result.one("aws:iam/user:User").inputs["path"] == f"/e2b-sandbox/{stack}/"


def test_the_active_slot_is_what_every_consumer_gets(pulumi_mocks: RecordingMocks) -> None:
    result = run(
        pulumi_mocks, "prod", keySlots=json.dumps(["blue", "green"]), activeKeySlot="green"
    )
    green = next(r for r in result.of_type(ACCESS_KEY) if r.name.endswith("-green"))
    assert result.outputs["accessKeyId"] == green.outputs["id"]
    assert result.outputs["secretAccessKey"] == green.outputs["secret"]


def test_the_backends_files_give_it_the_same_bucket_and_path(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    override = yaml.safe_load(result.outputs["composeOverride"])
    environment = override["services"]["backend"]["environment"]
    assert environment["S3_BUCKET_NAME"] == result.outputs["bucketName"]
    assert environment["S3_MOUNT_DIR"] == result.outputs["s3MountDir"]
    assert environment["E2B_TEMPLATE_NAME"] == result.outputs["e2bTemplateName"]
    unit = result.outputs["hostMountUnit"]
    assert f'Environment="S3_BUCKET_NAME={result.outputs["bucketName"]}"' in unit.splitlines()
    assert "ExecStart=/usr/bin/python3 /srv/backend/s3mount.pyz run" in unit
    assert not {"composeOverride", "hostMountUnit"} & result.secret_outputs
