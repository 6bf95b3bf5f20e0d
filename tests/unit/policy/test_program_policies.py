"""The program's own resources, for all four stacks as recorded under the mocks, pass every
mandatory policy; the same program with regressions planted in a copy of it does not. And every
resource type the program declares is evaluated by the pack."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policy.guard import pack
from program.settings import PROJECT
from tests.support.program import STACKS, run_program
from tests.support.pulumi_mocks import RecordingMocks
from tests.unit.policy.engine_view import check_program, resource, violations


@pytest.mark.parametrize("storage", ["shared", "per-sandbox"])
@pytest.mark.parametrize("stack", STACKS)
def test_the_programs_resources_pass_every_mandatory_policy(
    pulumi_mocks: RecordingMocks, stack: str, storage: str
) -> None:
    found = check_program(pulumi_mocks, stack, {"e2b-sandbox:sandboxStorage": storage})
    assert [v.message for v in found if v.level == "mandatory"] == []
    # Only prod's advice remains: SSE-S3 unless the stack sets a customer KMS key.
    expected = ["prod-kms-encryption"] if stack == "prod" else []
    assert [v.policy for v in found] == expected


def test_every_type_the_program_declares_is_evaluated(pulumi_mocks: RecordingMocks) -> None:
    declared = {r.type for stack in STACKS for r in run_program(pulumi_mocks, stack).resources}
    evaluated = pack.evaluated_types()
    unexamined = {t for t in declared - evaluated if not pack.needs_no_policy(t, PROJECT)}
    assert unexamined == set()
    assert set(pack.NO_POLICY_NEEDED) & evaluated == set()
    # No stale entry: each type listed as needing no policy is one the program declares.
    assert set(pack.NO_POLICY_NEEDED) <= declared
    assert len(declared & evaluated) >= 15


def test_a_type_the_pack_does_not_know_is_refused() -> None:
    acl = "aws:s3/bucketAclV2:BucketAclV2"
    (found,) = violations("known-resource-types", resource(acl, {"acl": "public-read"}, "acl"))
    assert found.level == "mandatory"
    assert (
        f'{acl} "acl": its type is one the e2b-sandbox policy pack does not know' in found.message
    )
    for known in (
        "aws:iam/group:Group",
        f"{PROJECT}:storage:SandboxBucket",
        "pulumi:providers:aws",
    ):
        assert violations("known-resource-types", resource(known, {})) == []


# Regressions a teammate's "quick fix" could bring, planted in a copy of the program.
PLANTED = {
    "components/storage.py": [
        ("block_public_acls=True", "block_public_acls=False"),
        ("protect=args.protected, retain_on_delete", "protect=False, retain_on_delete"),
    ],
    "program/policies.py": [
        ('    "s3:DeleteObject",\n', '    "s3:DeleteObject",\n    "s3:DeleteObjectVersion",\n')
    ],
}
COPIED = [
    "__main__.py",
    "Pulumi.yaml",
    "components",
    "program",
    "s3mount",
    "backend_host",
    "harness",
    "stacks",
    "docker",
    "tests",
    "policy",
    ".dockerignore",
    "requirements.txt",
]


def test_regressions_planted_in_a_copy_of_the_program_are_caught(
    repo_root: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "program-copy"
    for name in COPIED:
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy2(source, copy / name)
    for path, replacements in PLANTED.items():
        text = (copy / path).read_text()
        for before, after in replacements:
            assert before in text, f"{path} no longer says {before!r}: re-plant the regression"
            text = text.replace(before, after)
        (copy / path).write_text(text)

    completed = subprocess.run(
        [sys.executable, "-m", "tests.unit.policy.engine_view", "--stack", "prod"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    found = json.loads(completed.stdout)
    mandatory = sorted({v["policy"] for v in found if v["level"] == "mandatory"})
    assert mandatory == ["iam-sandbox-grants", "prod-bucket-protected", "s3-public-access-block"]
    messages = "\n".join(v["message"] for v in found)
    assert '"e2b-sandbox-prod-files-public-access-block": blockPublicAcls is False' in messages
    assert '"e2b-sandbox-prod-files-bucket": protect is off in prod' in messages
    assert "grants s3:DeleteObjectVersion" in messages
