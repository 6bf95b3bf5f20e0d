"""The stack outputs tool: the backend's dotenv, JSON, GitHub step outputs, masks, preview guard.

Compose reading the dotenv back is checked with the real compose binary in
tests/integration/test_compose_override.py.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

import s3mount
from components.backend_files import MOUNT_PROGRAM, render_compose_override
from components.contract import Channel, Consumer, values
from tests.support.sample_outputs import SECRET, SHARED_OUTPUTS
from tools.stack_outputs import OUTPUT_NAMES, SECRET_OUTPUTS, main

OUTPUTS: dict[str, object] = {
    **SHARED_OUTPUTS,
    "bucketArn": "arn:aws:s3:::e2b-sandbox-dev-20261127093000123400000001",
    "iamUserName": "e2b-sandbox-dev-s3",
    "iamUserArn": "arn:aws:iam::123456789012:user/e2b-sandbox/e2b-sandbox-dev-s3",
    "credentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
    "backendReadPolicyArn": "arn:aws:iam::123456789012:policy/e2b-sandbox/dev/read-x",
    "imageName": "e2b-sandbox-dev",
    "imageRef": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/e2b-sandbox-dev@sha256:" + "a" * 64,
    "ecrRepositoryUrl": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/e2b-sandbox-dev",
    "e2bBuildId": "build-0123456789ab",
    "composeOverride": "services:\n  backend:\n    env_file: []\n",
    "hostMountUnit": "[Unit]\nDescription=x\n",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)


def _saved(outputs: object, name: str = "outputs.json") -> str:
    Path(name).write_text(json.dumps(outputs))
    return name


def _run(*args: str, outputs: object = OUTPUTS) -> int:
    return main(["--stack", "dev", "--input", _saved(outputs), *args])


def _files() -> list[str]:
    return sorted(str(p) for p in Path().rglob("*") if p.is_file() and p.name != "outputs.json")


def _mode(path: str) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def test_the_secret_outputs_constant_names_only_the_secret_access_key() -> None:
    assert frozenset({"secretAccessKey"}) == SECRET_OUTPUTS
    assert set(SECRET_OUTPUTS) <= set(OUTPUT_NAMES)


def test_file_names_match_what_the_override_and_the_unit_reference() -> None:
    override = yaml.safe_load(
        render_compose_override(
            stack="dev",
            service_name="backend",
            settings=values(Consumer.BACKEND, Channel.SETTINGS, OUTPUTS),
            mount_dir="/opt/sentient",
            check_image="busybox:1.37",
        )
    )
    (env_file,) = override["services"]["backend"]["env_file"]
    # The override names the dotenv the tool writes, beside the override it writes.
    assert main(["--stack", "dev", "--input", _saved(OUTPUTS), "--format", "backend"]) == 0
    assert Path("build/dev", env_file["path"]).is_file()


class TestEnv:
    def test_writes_the_backend_dotenv_with_mode_0600_beside_the_override(self) -> None:
        assert _run("--format", "env") == 0
        assert _files() == ["build/dev/e2b-s3.env"]
        assert _mode("build/dev/e2b-s3.env") == 0o600
        # The key pair only: the bucket's settings travel in the override (components/contract).
        assert s3mount.parse_env_file(Path("build/dev/e2b-s3.env").read_text(), "env") == {
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": SECRET,
        }

    def test_writes_to_the_given_path(self) -> None:
        assert _run("--format", "env", "--output", "deploy/backend.env") == 0
        assert _files() == ["deploy/backend.env"]
        assert _mode("deploy/backend.env") == 0o600

    def test_a_control_character_is_refused_without_showing_the_value(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert _run("--format", "env", outputs={**OUTPUTS, "secretAccessKey": "ab\ncd"}) == 1
        error = capsys.readouterr().err
        assert "AWS_SECRET_ACCESS_KEY contains a control character" in error
        assert "ab\ncd" not in error
        assert _files() == []

    def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary_file(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert _run("--format", "env") == 0
        before = Path("build/dev/e2b-s3.env").read_text()

        def broken_fdopen(*_args: object, **_kwargs: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "fdopen", broken_fdopen)
        assert _run("--format", "env", outputs={**OUTPUTS, "region": "us-east-1"}) == 1
        error = capsys.readouterr().err
        assert "cannot write build/dev/e2b-s3.env: No space left on device" in error
        assert Path("build/dev/e2b-s3.env").read_text() == before
        assert _files() == ["build/dev/e2b-s3.env"]


class TestBadInput:
    @pytest.mark.parametrize("target", ["a-directory", "missing-directory/github-output"])
    def test_github_outputs_to_a_path_it_cannot_append_to_is_a_message(
        self, target: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("a-directory").mkdir()
        assert _run("--format", "github", "--output", target) == 1
        assert f"cannot append to {target}:" in capsys.readouterr().err

    def test_an_input_that_is_not_utf8_is_a_message(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("outputs.bin").write_bytes(b"\xff\xfe{}")
        assert main(["--stack", "dev", "--input", "outputs.bin", "--format", "json"]) == 1
        assert "cannot read outputs.bin: not UTF-8 text" in capsys.readouterr().err

    def test_a_missing_output_is_named_with_the_fix_and_nothing_is_written(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        outputs = {k: v for k, v in OUTPUTS.items() if k not in {"accessKeyId", "secretAccessKey"}}
        assert _run("--format", "env", outputs=outputs) == 1
        error = capsys.readouterr().err
        assert "missing stack output(s) accessKeyId, secretAccessKey" in error
        assert "pulumi up --stack dev" in error
        assert _files() == []

    def test_a_non_text_output_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert _run("--format", "json", outputs={**OUTPUTS, "region": 42}) == 1
        assert "stack output region of stack dev is not a string" in capsys.readouterr().err
        assert _files() == []

    def test_unreadable_json_is_reported_with_its_position(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("outputs.json").write_text('{"bucketName": ')
        assert main(["--stack", "dev", "--input", "outputs.json", "--format", "env"]) == 1
        error = capsys.readouterr().err
        assert "outputs.json is not JSON" in error
        assert "line 1" in error
        assert _files() == []

    def test_json_that_is_not_an_object_is_refused(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert _run("--format", "env", outputs=["bucketName"]) == 1
        assert "holds a JSON list, not an object of stack outputs" in capsys.readouterr().err

    def test_a_missing_input_file_is_reported(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--stack", "dev", "--input", "nope.json", "--format", "env"]) == 1
        assert "cannot read nope.json" in capsys.readouterr().err
        assert _files() == []

    def test_an_unknown_format_is_refused_by_name(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exit_info:
            _run("--format", "yaml")
        assert exit_info.value.code != 0
        assert "invalid choice: 'yaml'" in capsys.readouterr().err
        assert _files() == []


class TestPulumiCli:
    def test_reads_the_stack_outputs_with_secrets_from_the_cli_without_printing_them(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "pulumi"
        fake.write_text(
            f'#!/bin/sh\necho "$@" > {tmp_path}/pulumi-args\ncat {tmp_path}/saved.json\n'
        )
        fake.chmod(0o755)
        (tmp_path / "saved.json").write_text(json.dumps(OUTPUTS))
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        assert main(["--stack", "dev", "--format", "env"]) == 0
        arguments = (tmp_path / "pulumi-args").read_text().split()
        assert arguments == ["stack", "output", "--stack", "dev", "--json", "--show-secrets"]
        assert SECRET not in capsys.readouterr().out

    def test_a_missing_cli_is_reported_with_the_alternative(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        assert main(["--stack", "dev", "--format", "env"]) == 1
        assert "pulumi CLI is not on PATH" in capsys.readouterr().err


def test_json_holds_every_output_with_mode_0600() -> None:
    assert _run("--format", "json") == 0
    assert _mode("build/dev/stack-outputs.json") == 0o600
    assert json.loads(Path("build/dev/stack-outputs.json").read_text()) == OUTPUTS


def test_backend_writes_the_files_a_backend_host_needs_with_their_modes() -> None:
    assert _run("--format", "backend") == 0
    assert _files() == [
        "build/dev/docker-compose.s3.yml",
        "build/dev/e2b-s3-mount.service",
        "build/dev/e2b-s3.env",
        "build/dev/s3mount.py",
    ]
    assert Path("build/dev/docker-compose.s3.yml").read_text() == OUTPUTS["composeOverride"]
    assert Path("build/dev/e2b-s3-mount.service").read_text() == OUTPUTS["hostMountUnit"]
    assert Path("build/dev/s3mount.py").read_bytes() == MOUNT_PROGRAM.read_bytes()
    modes = [_mode(path) for path in _files()]
    assert modes == [0o644, 0o644, 0o600, 0o755]


def test_backend_without_the_key_leaves_the_env_file_out() -> None:
    assert _run("--format", "backend", "--output", "artifact", "--without-key") == 0
    assert [Path(p).name for p in _files()] == [
        "docker-compose.s3.yml",
        "e2b-s3-mount.service",
        "e2b-s3.secret-id",
        "s3mount.py",
    ]
    assert SECRET not in "".join(Path(p).read_text() for p in _files())
    # What the backend host reads the key from, with its own role (README, "Run the backend").
    secret_id = Path("artifact/e2b-s3.secret-id").read_text()
    assert secret_id == f"{OUTPUTS['credentialsSecretArn']}\n"


class TestGithub:
    @staticmethod
    def _read_step_outputs(text: str) -> dict[str, str]:
        values, lines = {}, iter(text.splitlines())
        for line in lines:
            name, delimiter = line.split("<<", 1)
            body = []
            for value_line in lines:
                if value_line == delimiter:
                    break
                body.append(value_line)
            values[name] = "\n".join(body)
        return values

    def test_masks_every_secret_before_writing_every_output(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("github-output").write_text("earlier=1\n")
        monkeypatch.setenv("GITHUB_OUTPUT", "github-output")
        assert _run("--format", "github") == 0
        assert capsys.readouterr().out == f"::add-mask::{SECRET}\n"
        text = Path("github-output").read_text()
        assert text.startswith("earlier=1\n")
        outputs = self._read_step_outputs(text.removeprefix("earlier=1\n"))
        assert outputs == {name: str(value) for name, value in OUTPUTS.items()}

    def test_bad_input_prints_no_mask_and_leaves_the_step_outputs_alone(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("github-output").write_text("earlier=1\n")
        monkeypatch.setenv("GITHUB_OUTPUT", "github-output")
        outputs = {k: v for k, v in OUTPUTS.items() if k != "imageRef"}
        assert _run("--format", "github", outputs=outputs) == 1
        assert capsys.readouterr().out == ""
        assert Path("github-output").read_text() == "earlier=1\n"

    def test_outside_github_actions_it_asks_for_an_output_file(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert _run("--format", "github") == 1
        captured = capsys.readouterr()
        assert "GITHUB_OUTPUT is not set" in captured.err
        assert captured.out == ""


class TestMask:
    def test_prints_one_mask_per_secret_line_escaping_workflow_command_characters(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert _run("--format", "mask", outputs={**OUTPUTS, "secretAccessKey": "a%b\nc"}) == 0
        assert capsys.readouterr().out == "::add-mask::a%25b\n::add-mask::c\n"
        assert _files() == []

    def test_a_stack_without_secret_outputs_yet_needs_no_mask(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert _run("--format", "mask", outputs={}) == 0
        assert capsys.readouterr().out == ""


class TestCheckPreview:
    @staticmethod
    def _check(preview: str) -> int:
        Path("preview.txt").write_text(preview)
        return _run("--check-preview", "preview.txt")

    def test_a_preview_with_secrets_shown_as_secret_passes(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        preview = (
            "  ~ aws:secretsmanager/secretVersion:SecretVersion: (update)\n"
            "      ~ secretString: [secret] => [secret]\n"
            "      + secret      : [secret]\n"
            '      ~ tags        : "a" => "b"\n'
        )
        assert self._check(preview) == 0
        assert "shows no secret" in capsys.readouterr().out

    def test_a_current_secret_value_anywhere_fails_without_repeating_it(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self._check(f'ok\n      ~ secretString: "{{\\"k\\": \\"{SECRET}\\"}}"\n') == 1
        error = capsys.readouterr().err
        assert "line 2: the value of stack output secretAccessKey" in error
        assert SECRET not in error

    @pytest.mark.parametrize(
        "line",
        [
            '          MY_TOKEN    : "{00000000-0000-0000-0000-000000000000}" => "[secret]"',
            "      ~ password: hunter2 => [secret]",
        ],
    )
    def test_an_old_value_shown_next_to_a_new_secret_fails(
        self, line: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self._check(f"header\n{line}\n") == 1
        assert "line 2: the old value of a property that is now secret" in capsys.readouterr().err

    def test_an_unreadable_preview_is_reported(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert _run("--check-preview", "missing.txt") == 1
        assert "cannot read the preview missing.txt" in capsys.readouterr().err


class TestHostileInput:
    """Inputs from a hostile review (issue 11): each ended in a traceback or wrote where it
    should not."""

    def test_an_output_that_is_a_directory_is_refused_with_the_fix(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("somedir").mkdir()
        assert _run("--format", "env", "--output", "somedir") == 1
        assert "somedir is a directory" in capsys.readouterr().err
        assert list(Path("somedir").iterdir()) == []

    def test_an_unwritable_output_is_refused_with_the_fix(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("afile").write_text("a file, not a directory\n")
        assert _run("--format", "json", "--output", "afile/out.json") == 1
        error = capsys.readouterr().err
        assert "cannot write afile/out.json" in error
        assert "Traceback" not in error

    def test_a_preview_that_is_not_utf8_is_refused(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("preview.bin").write_bytes(b"\xff\xfe\x00binary")
        assert _run("--check-preview", "preview.bin") == 1
        assert "not UTF-8 text" in capsys.readouterr().err

    @pytest.mark.parametrize("stack", ["../../../tmp/x", "dev/../../x", "a b", "dev\n"])
    def test_a_stack_name_that_is_a_path_is_refused(
        self, stack: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["--stack", stack, "--input", _saved(OUTPUTS), "--format", "env"]) == 1
        assert "--stack" in capsys.readouterr().err
        assert _files() == []

    def test_an_organization_qualified_stack_writes_under_its_name(self) -> None:
        assert (
            main(["--stack", "acme/e2b-sandbox/dev", "--input", _saved(OUTPUTS), "--format", "env"])
            == 0
        )
        assert _files() == ["build/dev/e2b-s3.env"]

    def test_under_umask_000_the_key_file_is_in_a_private_directory(self) -> None:
        previous = os.umask(0)
        try:
            assert _run("--format", "env") == 0
        finally:
            os.umask(previous)
        assert _mode("build/dev/e2b-s3.env") == 0o600
        assert _mode("build/dev") == 0o700
        assert _mode("build") == 0o700
