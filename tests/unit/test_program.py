"""The whole program under Pulumi's mocks, for every stack: the resources it declares, how they hang
together, and the outputs CI reads."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.settings import SettingsError
from tests.support.program import STACKS, ProgramRun, run_program, stack_config
from tests.support.pulumi_mocks import RecordingMocks
from tools.stack_outputs import OUTPUT_NAMES, SECRET_OUTPUTS

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
    with pytest.raises(SettingsError, match="e2b-sandbox:mountDir = 'relative'"):
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


def test_components_register_their_outputs(repo_root: Path) -> None:
    for path in sorted((repo_root / "components").glob("*.py")):
        source = path.read_text()
        if "pulumi.ComponentResource)" in source:
            assert "self.register_outputs(" in source, path.name


# --- bucket -----------------------------------------------------------------------------------


def test_bucket_is_private_versioned_encrypted_and_tls_only(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    bucket = result.one(BUCKET)
    assert bucket.inputs["bucketPrefix"] == f"e2b-sandbox-{stack}-"
    assert bucket.inputs["tags"] == {
        "environment": stack,
        "project": "e2b-sandbox",
        "managed-by": "pulumi",
    }
    block = result.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block[flag] is True, flag
    ownership = result.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = result.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    encryption = result.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs
    assert encryption["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]


def test_kms_key_switches_the_bucket_to_sse_kms_with_a_bucket_key(
    pulumi_mocks: RecordingMocks,
) -> None:
    result = run(pulumi_mocks, "staging", kmsKeyArn=KMS_KEY)
    encryption = result.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs
    assert encryption["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": KMS_KEY,
            },
            "bucketKeyEnabled": True,
        }
    ]
    assert result.one(SECRET).inputs["kmsKeyId"] == KMS_KEY


def test_bucket_policy_waits_for_the_public_access_block(pulumi_mocks: RecordingMocks) -> None:
    result = run(pulumi_mocks, "dev")
    policy = result.one("aws:s3/bucketPolicy:BucketPolicy")
    block = result.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert block.name in policy.dependency_names
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert result.outputs["bucketArn"] in statement["Resource"]


def test_lifecycle_aborts_uploads_and_expires_noncurrent_versions(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    lifecycle = result.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 7
    }
    configured = int(stack_config(stack).get("e2b-sandbox:noncurrentVersionDays", "30"))
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": configured
    }
    assert all(rule["status"] == "Enabled" for rule in rules.values())
    versioning = result.one("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.name in lifecycle.dependency_names


def test_only_prod_protects_and_retains_the_bucket(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    bucket = run(pulumi_mocks, stack).one(BUCKET)
    assert bucket.options.protect is (stack == "prod")
    assert bucket.options.retain_on_delete is (stack == "prod")
    assert bucket.inputs["forceDestroy"] is (stack in ("local", "dev"))


# --- identity ---------------------------------------------------------------------------------


def test_identity_gets_its_permissions_only_through_its_group(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run(pulumi_mocks, stack)
    user = result.one("aws:iam/user:User")
    group = result.one("aws:iam/group:Group")
    assert user.inputs["path"] == group.inputs["path"] == f"/e2b-sandbox/{stack}/"
    membership = result.one("aws:iam/userGroupMembership:UserGroupMembership").inputs
    assert membership == {"user": user.outputs["name"], "groups": [group.outputs["name"]]}
    group_policy = result.one("aws:iam/groupPolicy:GroupPolicy").inputs
    assert group_policy["group"] == group.outputs["name"]
    document = json.loads(group_policy["policy"])
    resources = {s["Resource"] for s in document["Statement"] if isinstance(s["Resource"], str)}
    assert result.outputs["bucketArn"] in resources
    direct = {"aws:iam/userPolicy:UserPolicy", "aws:iam/userPolicyAttachment:UserPolicyAttachment"}
    assert not [r for r in result.resources if r.type in direct]


def test_permissions_boundary_is_set_when_configured(pulumi_mocks: RecordingMocks) -> None:
    boundary = "arn:aws:iam::123456789012:policy/sandbox-boundary"
    result = run(pulumi_mocks, "prod", permissionsBoundaryArn=boundary)
    assert result.one("aws:iam/user:User").inputs["permissionsBoundary"] == boundary
    assert "permissionsBoundary" not in run(pulumi_mocks, "prod").one("aws:iam/user:User").inputs


def test_key_prefixes_reach_the_group_policy(pulumi_mocks: RecordingMocks) -> None:
    result = run(pulumi_mocks, "dev", allowedKeyPrefixes=json.dumps(["sandboxes/"]))
    document = json.loads(result.one("aws:iam/groupPolicy:GroupPolicy").inputs["policy"])
    objects = next(s for s in document["Statement"] if s["Sid"] == "ReadWriteObjects")
    assert objects["Resource"] == f"{result.outputs['bucketArn']}/sandboxes/*"


# --- credentials ------------------------------------------------------------------------------


def secret_document(result: ProgramRun) -> dict[str, str]:
    raw = result.one(SECRET_VERSION).inputs["secretString"]
    assert is_rpc_secret(raw), "the Secrets Manager value must travel as a secret"
    return dict(json.loads(unwrap_rpc_secret(raw)))


def test_the_secret_holds_the_active_key_pair(pulumi_mocks: RecordingMocks, stack: str) -> None:
    result = run(pulumi_mocks, stack)
    (key,) = result.of_type(ACCESS_KEY)
    assert key.inputs["user"] == result.outputs["iamUserName"]
    # The key pair only: the bucket's settings travel on their own channel (components/contract).
    assert secret_document(result) == {
        "AWS_ACCESS_KEY_ID": key.outputs["id"],
        "AWS_SECRET_ACCESS_KEY": key.outputs["secret"],
    }
    assert result.outputs["secretAccessKey"] == key.outputs["secret"]
    version = result.one(SECRET_VERSION).inputs
    assert version["secretId"] == result.one(SECRET).id


def test_recovery_window_is_zero_only_where_keys_are_disposable(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    window = run(pulumi_mocks, stack).one(SECRET).inputs["recoveryWindowInDays"]
    assert window == (0 if stack in ("local", "dev") else 30)


def test_rotation_keeps_both_keys_while_consumers_switch(pulumi_mocks: RecordingMocks) -> None:
    before = run(pulumi_mocks, "prod")
    both = run(pulumi_mocks, "prod", keySlots=json.dumps(["blue", "green"]))
    switched = run(
        pulumi_mocks, "prod", keySlots=json.dumps(["blue", "green"]), activeKeySlot="green"
    )
    retired = run(pulumi_mocks, "prod", keySlots=json.dumps(["green"]), activeKeySlot="green")

    def key_ids(result: ProgramRun) -> dict[str, str]:
        return {r.name.rsplit("-", 1)[1]: r.outputs["id"] for r in result.of_type(ACCESS_KEY)}

    assert set(key_ids(before)) == {"blue"}
    assert set(key_ids(both)) == {"blue", "green"}
    # Adding the green key changes nothing any consumer sees.
    assert both.outputs["accessKeyId"] == before.outputs["accessKeyId"] == key_ids(both)["blue"]
    assert switched.outputs["accessKeyId"] == key_ids(switched)["green"]
    assert secret_document(switched)["AWS_ACCESS_KEY_ID"] == key_ids(switched)["green"]
    # Retiring blue deletes only its key: green, and what consumers use, stay the same.
    assert set(key_ids(retired)) == {"green"}
    assert retired.outputs["accessKeyId"] == switched.outputs["accessKeyId"]


# --- stack files ------------------------------------------------------------------------------


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
    assert "ExecStart=/usr/bin/python3 /srv/backend/s3mount.py run" in unit
    assert not {"composeOverride", "hostMountUnit"} & result.secret_outputs
