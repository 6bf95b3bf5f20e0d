"""The backend's files from the stack's outputs: the override, the unit, the mount program's
zipapp and the env file with the key, each with its mode; bad input names the problem and writes
nothing (backend_host/bundle.py).

Compose reading the dotenv back is checked with the real compose binary in
tests/integration/test_compose_override.py.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from backend_host.bundle import main
from backend_host.render import render_compose_override
from harness.paths import mount_program
from program.shared import Channel, Consumer, received
from s3mount.contract import parse_env_file
from tests.support import tool_runs
from tests.support.sample_outputs import SECRET, STACK_OUTPUTS
from tests.support.tool_runs import scratch_dir

OUTPUTS = STACK_OUTPUTS
__all__ = ["scratch_dir"]  # autouse: every test in a scratch directory


def _run(*args: str, outputs: object = OUTPUTS) -> int:
    return tool_runs.run(main, *args, outputs=outputs)


_saved, _files, _mode = tool_runs.saved, tool_runs.files_written, tool_runs.mode


def test_file_names_match_what_the_override_and_the_unit_reference() -> None:
    override = yaml.safe_load(
        render_compose_override(
            stack="dev",
            service_name="backend",
            settings=received(Consumer.BACKEND, Channel.SETTINGS, OUTPUTS),
            mount_dir="/opt/sentient",
            check_image="busybox:1.37",
        )
    )
    (env_file,) = override["services"]["backend"]["env_file"]
    # The override names the dotenv the tool writes, beside the override it writes.
    assert main(["--stack", "dev", "--input", _saved(OUTPUTS)]) == 0
    assert Path("build/dev", env_file["path"]).is_file()


class TestEnv:
    def test_writes_the_backend_dotenv_with_mode_0600_beside_the_override(self) -> None:
        assert _run("--format", "env") == 0
        assert _files() == ["build/dev/e2b-s3.env"]
        assert _mode("build/dev/e2b-s3.env") == 0o600
        # The key pair only: the bucket's settings travel in the override (program/shared.py).
        assert parse_env_file(Path("build/dev/e2b-s3.env").read_text(), "env") == {
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
    def test_a_missing_output_is_named_with_the_fix_and_nothing_is_written(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        outputs = {k: v for k, v in OUTPUTS.items() if k not in {"accessKeyId", "secretAccessKey"}}
        assert _run("--format", "env", outputs=outputs) == 1
        error = capsys.readouterr().err
        assert "missing stack output(s) accessKeyId, secretAccessKey" in error
        assert "pulumi up --stack dev" in error
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


def test_backend_writes_the_files_a_backend_host_needs_with_their_modes() -> None:
    assert _run() == 0
    assert _files() == [
        "build/dev/docker-compose.s3.yml",
        "build/dev/e2b-s3-mount.service",
        "build/dev/e2b-s3.env",
        "build/dev/s3mount.pyz",
        "build/dev/sandbox_storage.pyz",
    ]
    assert Path("build/dev/docker-compose.s3.yml").read_text() == OUTPUTS["composeOverride"]
    assert Path("build/dev/e2b-s3-mount.service").read_text() == OUTPUTS["hostMountUnit"]
    # The mount program as it ships: the zipapp, byte for byte what the image carries.
    assert Path("build/dev/s3mount.pyz").read_bytes() == mount_program().read_bytes()
    with zipfile.ZipFile("build/dev/s3mount.pyz") as archive:
        assert "s3mount/cli.py" in archive.namelist()
    modes = [_mode(path) for path in _files()]
    assert modes == [0o644, 0o644, 0o600, 0o755, 0o644]


def test_the_backends_code_imports_attach_from_the_bundle_with_a_bare_python() -> None:
    """sandbox_storage.pyz carries attach, the policy it asks for and the contract it uses."""
    assert _run() == 0
    probe = (
        "import sys; sys.path.insert(0, 'build/dev/sandbox_storage.pyz'); "
        "from sandbox_storage.attach import attach, StorageConfig; "
        "from program.policies import session_policy; "
        "print(session_policy('b', 'sandboxes/x/')['Statement'][0]['Sid'])"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ListOnlyTheseFolders"


def test_backend_without_the_key_leaves_the_env_file_out() -> None:
    assert _run("--output", "artifact", "--without-key") == 0
    assert [Path(p).name for p in _files()] == [
        "docker-compose.s3.yml",
        "e2b-s3-mount.service",
        "e2b-s3.secret-id",
        "s3mount.pyz",
        "sandbox_storage.pyz",
    ]
    assert SECRET.encode() not in b"".join(Path(p).read_bytes() for p in _files())
    # What the backend host reads the key from, with its own role (README, "Run the backend").
    secret_id = Path("artifact/e2b-s3.secret-id").read_text()
    assert secret_id == f"{OUTPUTS['credentialsSecretArn']}\n"


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
