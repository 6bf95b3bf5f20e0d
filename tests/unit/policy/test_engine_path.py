"""The pack as the engine runs it: gRPC requests encoded the way the engine encodes them (secret
values with their signature, unknowns as sentinels), through the real pulumi-policy analyzer.

In process, the SDK's servicer shows why the pack keeps secret markers (without it, a policy
cannot tell a secret from plain text). In a process of its own, policy/__main__.py is started the
way the CLI's analyzer plugin starts it (`python -u -m pulumi.policy ENGINE .` in the pack's
folder, the stack in PULUMI_* variables) and is asked over gRPC, as the engine asks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pulumi_policy.policy as sdk_policy
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi.runtime.rpc import wrap_rpc_secret
from pulumi_policy import EnforcementLevel
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.guard import pack, secrets, storage, wire
from program.settings import PROJECT
from tests.support.program import E2B_API_KEY, TEST_E2B_API_KEY, run_program
from tests.support.pulumi_mocks import RecordedResource, RecordingMocks, urn_name
from tests.unit.policy.conftest import OnStack
from tests.unit.policy.engine_view import stack_urn, urn

MANDATORY = analyzer_pb2.EnforcementLevel.MANDATORY
ADVISORY = analyzer_pb2.EnforcementLevel.ADVISORY


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update({k: v for k, v in values.items() if not k.startswith("__")})
    return found


def analyze_request(
    type_: str,
    props: Mapping[str, Any],
    name: str = "subject",
    secret_outputs: tuple[str, ...] = (),
    protect: bool = False,
    parent: str = "",
) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=type_,
        properties=_struct(props),
        urn=urn(parent, type_, name),
        name=name,
        options=analyzer_pb2.AnalyzerResourceOptions(
            protect=protect, additionalSecretOutputs=list(secret_outputs), parent=parent
        ),
    )


def recorded_request(r: RecordedResource) -> analyzer_pb2.AnalyzeRequest:
    return analyze_request(
        r.type,
        r.inputs,
        r.name,
        r.options.additional_secret_outputs,
        r.options.protect,
        r.options.parent_urn,
    )


TEMPLATE = {"name": "e2b-sandbox-dev", "registryPassword": wrap_rpc_secret("ecr-token-0123456")}
TEMPLATE_SECRETS = secrets.DYNAMIC_SECRET_OUTPUTS[secrets.E2B_TEMPLATE]


# --- the SDK's own servicer, in this process ------------------------------------------------


@pytest.fixture
def servicer(monkeypatch: pytest.MonkeyPatch, on_stack: OnStack) -> Iterator[Any]:
    on_stack("dev", environment="dev")
    # Restored after the test: the pack's wire replaces the SDK's deserializer.
    monkeypatch.setattr(sdk_policy, "deserialize_properties", deserialize_properties)
    yield sdk_policy._PolicyAnalyzerServicer(  # the one the SDK serves; no public constructor
        pack.PACK_NAME, "0.1.0", pack.policies(), EnforcementLevel.ADVISORY
    )


def _diagnostics(response: Any, policy: str) -> list[Any]:
    return [d for d in response.diagnostics if d.policyName == policy]


def test_without_the_wire_a_policy_cannot_tell_a_secret_from_plain_text(servicer: Any) -> None:
    marked = analyze_request(
        secrets.E2B_TEMPLATE,
        {**TEMPLATE, "apiKey": wrap_rpc_secret(TEST_E2B_API_KEY)},
        secret_outputs=TEMPLATE_SECRETS,
    )
    # The SDK as shipped strips the markers: both marked credentials look like plain text.
    assert len(_diagnostics(servicer.Analyze(marked, None), "secrets-in-inputs")) == 2
    wire.keep_secret_markers()
    assert _diagnostics(servicer.Analyze(marked, None), "secrets-in-inputs") == []
    plain = analyze_request(
        secrets.E2B_TEMPLATE, {**TEMPLATE, "apiKey": TEST_E2B_API_KEY}, "tpl", TEMPLATE_SECRETS
    )
    (found,) = _diagnostics(servicer.Analyze(plain, None), "secrets-in-inputs")
    assert found.enforcementLevel == MANDATORY
    assert found.urn == urn("", secrets.E2B_TEMPLATE, "tpl")
    assert '"tpl": apiKey carries the E2B API key in plain text' in found.message


def test_an_unknown_value_in_a_preview_is_reported_as_not_checkable(servicer: Any) -> None:
    wire.keep_secret_markers()
    blocks = {"blockPublicAcls": UNKNOWN_STRING_VALUE, "blockPublicPolicy": True}
    response = servicer.Analyze(analyze_request(storage.PUBLIC_ACCESS_BLOCK, blocks), None)
    (found,) = _diagnostics(response, "s3-public-access-block")
    assert found.enforcementLevel == ADVISORY
    assert "can't run policy 's3-public-access-block'" in found.message


def test_stack_outputs_reach_a_stack_policy_with_their_markers(servicer: Any) -> None:
    wire.keep_secret_markers()
    key = analyzer_pb2.AnalyzerResource(
        type="aws:iam/accessKey:AccessKey",
        urn=urn("", "aws:iam/accessKey:AccessKey", "key-blue"),
        name="key-blue",
        properties=_struct({"id": "AKIA0", "secret": wrap_rpc_secret("0123456789abcdefghij")}),
    )

    def stack(secret_access_key: Any) -> Any:
        return analyzer_pb2.AnalyzerResource(
            type=secrets.STACK,
            urn=stack_urn(),
            name=urn_name(stack_urn()),
            properties=_struct({"secretAccessKey": secret_access_key}),
        )

    leaked = analyzer_pb2.AnalyzeStackRequest(resources=[stack("0123456789abcdefghij"), key])
    (found,) = _diagnostics(servicer.AnalyzeStack(leaked, None), "secrets-everywhere")
    assert found.enforcementLevel == MANDATORY and found.urn == stack_urn()
    assert "stack output secretAccessKey carries an access key's secret" in found.message
    kept = analyzer_pb2.AnalyzeStackRequest(
        resources=[stack(wrap_rpc_secret("0123456789abcdefghij")), key]
    )
    assert _diagnostics(servicer.AnalyzeStack(kept, None), "secrets-everywhere") == []


# --- policy/__main__.py, started as the CLI starts it ---------------------------------------


@pytest.fixture
def served_pack(repo_root: Path) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    stack_env = {
        "PULUMI_CONFIG": json.dumps(
            {f"{PROJECT}:environment": "dev", E2B_API_KEY: TEST_E2B_API_KEY}
        ),
        "PULUMI_PROJECT": PROJECT,
        "PULUMI_STACK": "dev",
        "PULUMI_DRY_RUN": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=repo_root / "policy",
        env={**os.environ, **stack_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        assert port.isdigit(), (
            f"the pack did not start: {process.stderr.read() if process.stderr else ''}"
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_served_pack_runs_every_policy_on_the_program(
    served_pack: analyzer_pb2_grpc.AnalyzerStub, pulumi_mocks: RecordingMocks
) -> None:
    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    served = {p.name: p.enforcementLevel for p in info.policies}
    expected = {p.name: p.enforcement_level for p in pack.policies()}
    assert info.name == pack.PACK_NAME and served.keys() == expected.keys()
    assert all(
        served[name] == (MANDATORY if level == EnforcementLevel.MANDATORY else ADVISORY)
        for name, level in expected.items()
    )

    run = run_program(pulumi_mocks, "dev")
    for r in run.resources:
        response = served_pack.Analyze(recorded_request(r), timeout=30)
        assert [d.message for d in response.diagnostics] == [], r.name
    planted = analyze_request(
        storage.PUBLIC_ACCESS_BLOCK, {"blockPublicAcls": False, "bucket": "b"}, "files-pab"
    )
    found = served_pack.Analyze(planted, timeout=30).diagnostics
    assert {d.policyName for d in found} == {"s3-public-access-block"}
    assert all(d.enforcementLevel == MANDATORY for d in found)
    # The E2B key comes from the stack's config the engine passed in PULUMI_CONFIG.
    leak = analyze_request("aws:secretsmanager/secret:Secret", {"description": TEST_E2B_API_KEY})
    (found,) = served_pack.Analyze(leak, timeout=30).diagnostics
    assert found.policyName == "secrets-in-inputs" and "the E2B API key" in found.message
