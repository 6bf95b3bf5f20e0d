"""The E2B template resource: its provider against a fake of E2B's API (create, diff, update,
delete, read, a failed and an overlong build), its secrets, and its wiring in every stack."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.template import (
    READY_COMMAND,
    SECRET_INPUTS,
    START_COMMAND,
    E2BTemplateProvider,
    TemplateBuildError,
)
from tests.support.fake_e2b import API_KEY, FakeE2B, fake_e2b
from tests.support.program import STACKS, TEST_E2B_API_KEY, run_program
from tests.support.pulumi_mocks import RecordingMocks

DIGEST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/e2b-sandbox-dev@sha256:" + "a" * 64
TEMPLATE = "pulumi-python:dynamic/template:E2BTemplate"
REGISTRY_TOKEN = "ecr-token-valid-for-12-hours"


@pytest.fixture
def e2b(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeE2B]:
    """The fake API, found by the SDK through E2B_API_URL as a real user's would be."""
    with fake_e2b() as fake:
        monkeypatch.setenv("E2B_API_URL", fake.url)
        monkeypatch.setenv("E2B_HTTP_VERSION", "1.1")
        yield fake


def props(**changes: Any) -> dict[str, Any]:
    return {
        "name": "e2b-sandbox-dev",
        "imageRef": DIGEST,
        "registryUsername": "AWS",
        "registryPassword": REGISTRY_TOKEN,
        "apiKey": API_KEY,
        "apiUrl": "",
        "startCmd": START_COMMAND,
        "readyCmd": READY_COMMAND,
        "cpuCount": 2,
        "memoryMb": 2048,
        "timeoutSeconds": 10,
        "pollSeconds": 0.05,
        **changes,
    }


PROVIDER = E2BTemplateProvider()


def test_create_builds_from_the_digest_with_the_token_commands_and_size(e2b: FakeE2B) -> None:
    created = PROVIDER.create(props())
    assert created.id == "tpl0001"
    assert created.outs is not None and created.outs["buildId"] == "build-1"
    (request,) = e2b.made("POST", "/v3/templates")
    assert request.body == {"name": "e2b-sandbox-dev", "cpuCount": 2, "memoryMB": 2048}
    (build,) = e2b.made("POST", "/v2/templates/tpl0001/builds/build-1")
    assert build.body["fromImage"] == DIGEST
    assert build.body["fromImageRegistry"] == {
        "type": "registry",
        "username": "AWS",
        "password": REGISTRY_TOKEN,
    }
    assert build.body["startCmd"] == "sudo /root/.jupyter/start-up.sh"
    assert "localhost:49999/health" in build.body["readyCmd"]
    assert build.body["steps"] == []
    assert {r.api_key for r in e2b.requests} == {API_KEY}


def test_a_new_digest_or_size_rebuilds_the_same_template_and_a_new_name_replaces_it() -> None:
    olds = props(buildId="build-1")
    assert PROVIDER.diff("tpl0001", olds, props()).changes is False
    for change in ({"imageRef": DIGEST.replace("a" * 64, "b" * 64)}, {"cpuCount": 4},
                   {"memoryMb": 4096}, {"startCmd": "sudo /other.sh"}):  # fmt: skip
        diff = PROVIDER.diff("tpl0001", olds, props(**change))
        assert (diff.changes, diff.replaces) == (True, []), change
    renamed = PROVIDER.diff("tpl0001", olds, props(name="e2b-sandbox-dev-2"))
    assert (renamed.changes, renamed.replaces) == (True, ["name"])


def test_a_fresh_registry_token_changes_nothing_and_another_e2b_replaces() -> None:
    olds = props(buildId="build-1")
    assert PROVIDER.diff("tpl0001", olds, props(registryPassword="a-fresh-token")).changes is False
    moved = PROVIDER.diff("tpl0001", olds, props(apiUrl="https://e2b.example.com"))
    assert (moved.changes, moved.replaces) == (True, ["apiUrl"])


def test_a_rotated_e2b_key_is_stored_without_a_rebuild(e2b: FakeE2B) -> None:
    created = PROVIDER.create(props())
    olds = created.outs or {}
    e2b.requests.clear()
    diff = PROVIDER.diff(created.id, olds, props(apiKey="e2b_rotated_key"))
    assert (diff.changes, diff.replaces) == (True, [])
    updated = PROVIDER.update(created.id, olds, props(apiKey="e2b_rotated_key"))
    assert e2b.requests == []
    assert updated.outs is not None
    assert (updated.outs["apiKey"], updated.outs["buildId"]) == ("e2b_rotated_key", "build-1")


def test_update_starts_a_new_build_of_the_same_template(e2b: FakeE2B) -> None:
    created = PROVIDER.create(props())
    rebuilt = PROVIDER.update(created.id, created.outs or {}, props(imageRef=DIGEST + "0"))
    assert rebuilt.outs is not None and rebuilt.outs["buildId"] == "build-2"
    assert len(e2b.made("POST", r"/v2/templates/tpl0001/builds/.*")) == 2


def test_destroy_deletes_it_and_refresh_notices_it_gone(e2b: FakeE2B) -> None:
    created = PROVIDER.create(props())
    outs = created.outs or {}
    assert PROVIDER.read(created.id, outs).id == created.id
    del e2b.templates[created.id]  # deleted outside the stack
    assert PROVIDER.read(created.id, outs).id == ""
    e2b.templates[created.id] = "e2b-sandbox-dev"
    PROVIDER.delete(created.id, outs)
    assert created.id not in e2b.templates
    PROVIDER.delete(created.id, outs)  # already gone: nothing to do


def test_a_failed_build_is_a_clear_error_with_the_end_of_its_log(e2b: FakeE2B) -> None:
    e2b.outcome = "error"
    with pytest.raises(TemplateBuildError) as raised:
        PROVIDER.create(props())
    message = str(raised.value)
    assert "E2B could not build template e2b-sandbox-dev" in message
    assert "the start command failed" in message
    assert "step 29" in message and "step 9" not in message.replace("step 29", "")
    assert API_KEY not in message and REGISTRY_TOKEN not in message


def test_a_build_that_never_finishes_fails_within_its_bound(e2b: FakeE2B) -> None:
    e2b.outcome = "building"
    with pytest.raises(TemplateBuildError, match=r"not ready after 1 s \(still building\)"):
        PROVIDER.create(props(timeoutSeconds=1))


def test_a_rejected_key_is_an_error(e2b: FakeE2B) -> None:
    with pytest.raises(Exception, match=r"401|invalid API key"):
        PROVIDER.create(props(apiKey="e2b_wrong"))


def test_the_serialized_provider_works_where_the_project_cannot_be_imported() -> None:
    serialized = serialize_provider(E2BTemplateProvider())
    assert API_KEY not in serialized
    script = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.argv[1]))\n"
        "olds = {'name': 'a', 'imageRef': 'x'}\n"
        "print(provider.diff('id', olds, {**olds, 'imageRef': 'y'}).changes)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, serialized],
        cwd="/", capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "True"


# --- wiring -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_deployed_stack_builds_its_template_from_the_pushed_digest(
    pulumi_mocks: RecordingMocks, stack: str
) -> None:
    result = run_program(pulumi_mocks, stack)
    templates = result.of_type(TEMPLATE)
    if stack == "local":
        assert templates == []
        assert (result.outputs["e2bTemplateId"], result.outputs["e2bBuildId"]) == ("", "")
        return
    (template,) = templates
    inputs = template.inputs
    assert inputs["name"] == result.outputs["e2bTemplateName"] == f"e2b-sandbox-{stack}"
    assert inputs["imageRef"] == result.outputs["imageRef"]
    assert "@sha256:" in inputs["imageRef"]
    assert (inputs["cpuCount"], inputs["memoryMb"]) == (2, 2048)
    assert inputs["startCmd"] == START_COMMAND
    # Secret inputs: encrypted in state, [secret] in every preview.
    for name, plain in (("apiKey", TEST_E2B_API_KEY), ("registryPassword", "mock-ecr-password")):
        assert is_rpc_secret(inputs[name]), name
        assert unwrap_rpc_secret(inputs[name]) == plain
    assert result.outputs["e2bTemplateId"] == template.id
    assert result.outputs["e2bBuildId"].startswith("build-")
    override = result.outputs["composeOverride"]
    assert f"E2B_TEMPLATE_ID: {template.id}" in override


def test_the_template_is_a_child_of_its_component(pulumi_mocks: RecordingMocks) -> None:
    (template,) = run_program(pulumi_mocks, "dev").of_type(TEMPLATE)
    assert template.parent_type == "e2b-sandbox:template:SandboxTemplate"
    assert template.name == "e2b-sandbox-dev-template-template"


def test_cpu_and_memory_come_from_the_stack(pulumi_mocks: RecordingMocks) -> None:
    result = run_program(
        pulumi_mocks, "prod", {"e2b-sandbox:e2bCpuCount": "4", "e2b-sandbox:e2bMemoryMb": "8192"}
    )
    inputs = result.one(TEMPLATE).inputs
    assert (inputs["cpuCount"], inputs["memoryMb"]) == (4, 8192)


def test_a_changed_key_is_secret_and_in_no_plain_input(pulumi_mocks: RecordingMocks) -> None:
    # The engine prints a secret input as [secret] on both sides of a preview diff; the program's
    # part is to hand it over as a secret, and nowhere in plain.
    result = run_program(pulumi_mocks, "dev", {"e2b-sandbox:e2bApiKey": "e2b_new_key_1111"})
    inputs = result.one(TEMPLATE).inputs
    assert is_rpc_secret(inputs["apiKey"])
    assert unwrap_rpc_secret(inputs["apiKey"]) == "e2b_new_key_1111"
    plain = {k: v for k, v in inputs.items() if k not in SECRET_INPUTS}
    assert "e2b_new_key_1111" not in json.dumps(plain)
    assert "e2b_new_key_1111" not in json.dumps(result.outputs, default=str)
