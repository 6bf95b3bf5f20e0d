"""The backend's files: the compose override and the host mount's unit, rendered from stack
values, and the component that exports them.

Compose's own view of the override (merged over a backend's compose file) is checked in
tests/integration/test_compose_override.py and a real `docker compose up` in
tests/integration/test_backend_end_to_end.py; systemd's view of the unit here, with
`systemd-analyze verify`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest
import yaml

from components.backend import BackendFiles, BackendFilesArgs
from components.backend_files import (
    CHECK_SERVICE,
    render_compose_override,
    render_host_mount_unit,
)
from components.contract import Channel, Consumer, ContractError, values
from tests.support.pulumi_mocks import RecordingMocks

# pulumi.runtime.test has no type hints; the cast keeps the decorated tests type-checked.
pulumi_test = cast("Callable[[Callable[..., Any]], Callable[..., Any]]", pulumi.runtime.test)

OUTPUTS = {
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLE==",
    "region": "eu-west-1",
    "bucketName": "e2b-sandbox-dev-20261127093000123400000001",
    "s3MountDir": "/opt/sentient",
    "s3EndpointUrl": "",
    "s3MountFreshnessSeconds": "2",
    "e2bTemplateName": "e2b-sandbox-dev",
    "e2bTemplateId": "tpl0123456789ab",
}
BACKEND_SETTINGS = values(Consumer.BACKEND, Channel.SETTINGS, OUTPUTS)
HOST_SETTINGS = values(Consumer.HOST_MOUNT, Channel.SETTINGS, OUTPUTS)


def override(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "stack": "dev",
        "service_name": "backend",
        "settings": BACKEND_SETTINGS,
        "mount_dir": "/opt/sentient",
        "check_image": "busybox:1.37",
        **changes,
    }
    return render_compose_override(**arguments)


def services(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert list(document) == ["services"], "only `services`: no obsolete `version:` key"
    found: dict[str, Any] = document["services"]
    return found


def unit(**changes: Any) -> str:
    arguments: dict[str, Any] = {
        "stack": "dev",
        "settings": HOST_SETTINGS,
        "backend_dir": "/srv/backend",
        "mount_dir": "/opt/sentient",
        **changes,
    }
    return render_host_mount_unit(**arguments)


class TestOverride:
    def test_binds_the_hosts_mount_at_the_same_path_and_never_creates_it(self) -> None:
        assert services(override())["backend"]["volumes"] == [
            {
                "type": "bind",
                "source": "/opt/sentient",
                "target": "/opt/sentient",
                "bind": {"propagation": "rprivate", "create_host_path": False},
            }
        ]

    def test_the_backend_gets_no_fuse_privileges_by_default(self) -> None:
        backend = services(override())["backend"]
        assert not {"devices", "cap_add", "security_opt", "privileged"} & set(backend)

    def test_the_backend_waits_for_a_check_of_the_hosts_mount(self) -> None:
        found = services(override())
        assert found["backend"]["depends_on"] == {
            CHECK_SERVICE: {"condition": "service_completed_successfully"}
        }
        check = found[CHECK_SERVICE]
        assert check["image"] == "busybox:1.37"
        assert check["command"][:3] == ["awk", "-v", "dir=/opt/sentient"]
        assert check["volumes"][0]["read_only"] is True
        assert check["volumes"][0]["bind"] == {"create_host_path": False}
        assert (check["network_mode"], check["read_only"], check["cap_drop"]) == (
            "none",
            True,
            ["ALL"],
        )
        assert check["security_opt"] == ["no-new-privileges:true"]

    def test_a_backend_that_mounts_in_its_container_gets_fuse_and_no_bind_or_check(self) -> None:
        found = services(override(mount_in_container=True))
        assert list(found) == ["backend"]
        backend = found["backend"]
        assert backend["devices"] == ["/dev/fuse:/dev/fuse"]
        assert backend["cap_add"] == ["SYS_ADMIN"]
        assert "volumes" not in backend and "depends_on" not in backend

    def test_settings_travel_in_the_environment_and_the_key_only_in_the_env_file(self) -> None:
        text = override()
        backend = services(text)["backend"]
        assert backend["environment"] == BACKEND_SETTINGS
        assert backend["env_file"] == [{"path": "./e2b-s3.env", "required": True}]
        for credential in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            OUTPUTS["secretAccessKey"],
        ):
            assert credential not in text

    def test_the_service_name_header_and_bytes_are_stable(self) -> None:
        assert list(services(override(service_name="api"))) == ["api", CHECK_SERVICE]
        assert override() == override()
        assert override().startswith("# Generated by the e2b-sandbox Pulumi project")

    def test_dollar_signs_survive_compose_interpolation(self) -> None:
        found = services(override(mount_dir="/opt/$HOME"))
        assert found["backend"]["volumes"][0]["source"] == "/opt/$$HOME"
        assert "$$5 == dir" in found[CHECK_SERVICE]["command"][3]

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"service_name": ""}, "service name is empty"),
            ({"settings": {**BACKEND_SETTINGS, "AWS_REGION": "eu\nwest"}}, "control character"),
            ({"settings": {**BACKEND_SETTINGS, "S3_BUCKET_NAME": ""}}, "S3_BUCKET_NAME is empty"),
        ],
    )
    def test_bad_values_are_refused_by_name(self, change: dict[str, Any], message: str) -> None:
        with pytest.raises(ContractError, match=message):
            override(**change)


class TestUnit:
    def test_mounts_before_docker_restarts_on_failure_and_unmounts_on_stop(self) -> None:
        text = unit()
        for line in (
            "Before=docker.service",
            "After=network-online.target",
            "Type=notify",
            "Restart=on-failure",
            "KillMode=mixed",
            "WantedBy=multi-user.target docker.service",
            "ExecStart=/usr/bin/python3 /srv/backend/s3mount.py run "
            "--env-file /srv/backend/e2b-s3.env",
        ):
            assert line in text.splitlines(), line

    def test_the_bucket_settings_are_its_environment_and_the_key_is_not(self) -> None:
        lines = [line for line in unit().splitlines() if line.startswith("Environment=")]
        assert lines == [f'Environment="{name}={value}"' for name, value in HOST_SETTINGS.items()]
        assert OUTPUTS["secretAccessKey"] not in unit()

    def test_specifiers_and_quotes_cannot_change_a_value(self) -> None:
        text = unit(settings={**HOST_SETTINGS, "S3_ENDPOINT_URL": 'http://h:9/%n"x\\'})
        assert 'Environment="S3_ENDPOINT_URL=http://h:9/%%n\\"x\\\\"' in text.splitlines()

    @pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd here")
    def test_systemd_accepts_it(self, tmp_path: Path) -> None:
        path = tmp_path / "e2b-s3-mount.service"
        path.write_text(unit(backend_dir=str(tmp_path)))
        (tmp_path / "s3mount.py").write_text("")
        result = subprocess.run(
            ["systemd-analyze", "verify", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        problems = [line for line in result.stderr.splitlines() if path.name in line]
        assert problems == [], result.stderr


class TestComponent:
    @pulumi_test
    def test_exports_both_files_rendered_from_the_outputs(
        self, pulumi_mocks: RecordingMocks
    ) -> Any:
        component = BackendFiles(
            "e2b-sandbox-dev-backend",
            BackendFilesArgs(
                stack="dev",
                outputs=OUTPUTS,
                mount_dir="/opt/sentient",
                service_name="backend",
                backend_dir="/srv/backend",
                check_image="busybox:1.37",
            ),
        )

        def check(texts: list[str]) -> None:
            assert texts == [override(), unit()]
            # Nothing in the cloud, nothing on disk: the component is all there is.
            children = [r for r in pulumi_mocks.resources if r.name != "e2b-sandbox-dev-backend"]
            assert children == []

        return pulumi.Output.all(component.compose_override, component.host_mount_unit).apply(check)
