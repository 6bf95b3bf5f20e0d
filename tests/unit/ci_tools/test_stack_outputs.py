"""CI's view of the stack's outputs: masks before anything prints, step outputs, JSON; bad input
names the problem and writes nothing (ci_tools/stack_outputs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ci_tools.stack_outputs import main
from ci_tools.stack_secrets import JOB_CREDENTIALS, SECRET_SIGNATURE
from program.outputs import OUTPUT_NAMES
from tests.support import tool_runs
from tests.support.fake_pulumi import FakePulumi
from tests.support.sample_outputs import (
    GREEN_SECRET,
    HELD_SECRETS,
    SECRET,
    STACK_CONFIG,
    STACK_OUTPUTS,
    STACK_STATE,
)
from tests.support.tool_runs import scratch_dir

OUTPUTS = STACK_OUTPUTS
__all__ = ["scratch_dir"]  # autouse: every test in a scratch directory


def _run(*args: str, outputs: object = OUTPUTS) -> int:
    return tool_runs.run(main, *args, outputs=outputs)


_saved, _files, _mode = tool_runs.saved, tool_runs.files_written, tool_runs.mode


def test_the_sample_holds_every_output_the_program_declares() -> None:
    assert sorted(OUTPUTS) == sorted(OUTPUT_NAMES)


def test_json_holds_every_output_with_mode_0600() -> None:
    assert _run("--format", "json") == 0
    assert _mode("build/dev/stack-outputs.json") == 0o600
    assert json.loads(Path("build/dev/stack-outputs.json").read_text()) == OUTPUTS


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
    """`--format mask`: every secret the stack holds or the job is given, from all sources."""

    @pytest.fixture(autouse=True)
    def _no_job_credentials(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in JOB_CREDENTIALS:
            monkeypatch.delenv(name, raising=False)

    @staticmethod
    def _masks(
        capsys: pytest.CaptureFixture[str],
        outputs: object = OUTPUTS,
        state: object = STACK_STATE,
        config: object = STACK_CONFIG,
    ) -> list[str]:
        sources = ["--state", _saved(state, "state.json"), "--config", _saved(config, "c.json")]
        assert _run("--format", "mask", *sources, outputs=outputs) == 0
        lines = capsys.readouterr().out.splitlines()
        assert all(line.startswith("::add-mask::") for line in lines)
        return [line.removeprefix("::add-mask::") for line in lines]

    def test_masks_every_secret_of_the_state_the_config_and_the_job(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN")
        masks = self._masks(capsys)
        for secret in HELD_SECRETS:
            assert secret in masks
        assert "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN" in masks
        # What the stack also holds in plain text is no secret: the key's id, the region.
        assert not {"AKIAIOSFODNN7EXAMPLE", "eu-west-1", "AWS"} & set(masks)
        assert _files() == ["c.json", "state.json"]

    def test_prints_one_mask_per_secret_line_escaping_workflow_command_characters(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        outputs = {**OUTPUTS, "secretAccessKey": "a%b-first-line\nc-second-line"}
        masks = self._masks(capsys, outputs, {"version": 3}, {})
        assert masks == ["a%25b-first-line", "c-second-line"]

    def test_a_stack_without_secrets_yet_needs_no_mask(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self._masks(capsys, {}, {"version": 3, "deployment": None}, {}) == []

    def test_a_value_too_short_to_be_told_from_other_text_is_not_masked(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = {"e2b-sandbox:pin": {"value": "1234567", "secret": True}}
        assert self._masks(capsys, {}, {"version": 3}, config) == []

    @pytest.mark.parametrize(
        ("state", "config", "problem"),
        [
            (
                {
                    "version": 3,
                    "deployment": {
                        "resources": [
                            {
                                "urn": "urn:pulumi:dev::p::t::n",
                                "outputs": {
                                    "secret": {
                                        SECRET_SIGNATURE[0]: SECRET_SIGNATURE[1],
                                        "ciphertext": "v1:x",
                                    }
                                },
                            }
                        ]
                    },
                },
                {},
                "holds a secret still encrypted (resource n (t), outputs.secret): export it "
                "with `pulumi stack export --show-secrets`",
            ),
            (
                STACK_OUTPUTS,
                {},
                "the stack state given is no deployment: pass the output of "
                "`pulumi stack export --show-secrets`",
            ),
            (
                {"version": 3},
                STACK_OUTPUTS,
                "config accessKeyId is not an object with a value",
            ),
            (
                {"version": 3},
                {"e2b-sandbox:e2bApiKey": {"secret": True}},
                "secret config e2b-sandbox:e2bApiKey has no value: it was read without "
                "--show-secrets",
            ),
        ],
    )
    def test_sources_read_wrongly_are_refused(
        self, state: object, config: object, problem: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        sources = ["--state", _saved(state, "state.json"), "--config", _saved(config, "c.json")]
        assert _run("--format", "mask", *sources) == 1
        captured = capsys.readouterr()
        assert problem in captured.err
        assert captured.out == ""

    def test_only_one_source_can_be_stdin(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert _run("--format", "mask", "--state", "-", "--config", "-") == 1
        assert "--state and --config cannot both read stdin" in capsys.readouterr().err

    def test_reads_every_source_from_the_pulumi_cli_without_printing_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        fake = FakePulumi(tmp_path / "fake")
        monkeypatch.setenv("PATH", fake.path)
        assert main(["--stack", "dev", "--format", "mask"]) == 0
        assert fake.calls() == [
            "stack output --stack dev --json --show-secrets",
            "stack export --stack dev --show-secrets",
            "config --stack dev --show-secrets --json",
        ]
        out = capsys.readouterr().out
        assert f"::add-mask::{GREEN_SECRET}\n" in out
        assert "::add-mask::AKIAIOSFODNN7EXAMPLE\n" not in out


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

    def test_a_non_text_output_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert _run("--format", "json", outputs={**OUTPUTS, "region": 42}) == 1
        assert "stack output region of stack dev is not a string" in capsys.readouterr().err
        assert _files() == []

    def test_an_unwritable_output_is_refused_with_the_fix(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        Path("afile").write_text("a file, not a directory\n")
        assert _run("--format", "json", "--output", "afile/out.json") == 1
        error = capsys.readouterr().err
        assert "cannot write afile/out.json" in error
        assert "Traceback" not in error
