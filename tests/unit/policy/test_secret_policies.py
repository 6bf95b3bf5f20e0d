"""Credentials stay marked secret: in a resource's inputs (before it is created) and in every
output and stack output (once the whole stack is planned). Secret values are given the way the
engine sends them, with their marker (`wrap_rpc_secret`)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime.rpc import wrap_rpc_secret

from policy.guard import identity, secrets
from policy.guard.image import DOCKER_IMAGE
from tests.unit.policy.conftest import OnStack
from tests.unit.policy.engine_view import member, resource, violations

E2B_KEY = "e2b_0123456789abcdef0123"
KEY_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ECR_PASSWORD = "eyJwYXlsb2FkIjoiZXhhbXBsZSJ9"
TEMPLATE_OUTPUTS = list(secrets.DYNAMIC_SECRET_OUTPUTS[secrets.E2B_TEMPLATE])


def _template(api_key: Any, password: Any) -> dict[str, Any]:
    return {"name": "e2b-sandbox-dev", "apiKey": api_key, "registryPassword": password}


def test_the_templates_credentials_must_be_marked_and_kept_secret(on_stack: OnStack) -> None:
    marked = _template(wrap_rpc_secret(E2B_KEY), wrap_rpc_secret(ECR_PASSWORD))
    ok = resource(secrets.E2B_TEMPLATE, marked, secret_outputs=TEMPLATE_OUTPUTS)
    assert violations("secrets-in-inputs", ok) == []
    plain = resource(
        secrets.E2B_TEMPLATE,
        _template(E2B_KEY, ECR_PASSWORD),
        "tpl",
        secret_outputs=TEMPLATE_OUTPUTS,
    )
    found = violations("secrets-in-inputs", plain)
    assert [v.level for v in found] == ["mandatory", "mandatory"]
    assert '"tpl": apiKey carries the E2B API key in plain text' in found[0].message
    assert '"tpl": registryPassword carries a registry password in plain text' in found[1].message
    assert "Fix: pass it as pulumi.Output.secret(...)" in found[0].message
    # A dynamic provider's outputs are plain in the state unless they are named secret.
    (kept_plain,) = violations("secrets-in-inputs", resource(secrets.E2B_TEMPLATE, marked, "tpl"))
    assert '"tpl": additionalSecretOutputs lacks apiKey, registryPassword' in kept_plain.message


def test_the_registry_password_and_the_stored_key_must_be_marked() -> None:
    registry = {"server": "123.dkr.ecr.us-east-1.amazonaws.com", "username": "AWS"}
    image = {"imageName": "x:1", "registry": {**registry, "password": ECR_PASSWORD}}
    (found,) = violations("secrets-in-inputs", resource(DOCKER_IMAGE, image, "img"))
    assert '"img": registry.password carries a registry password in plain text' in found.message
    image["registry"] = wrap_rpc_secret({**registry, "password": ECR_PASSWORD})
    assert violations("secrets-in-inputs", resource(DOCKER_IMAGE, image)) == []
    stored = {"secretString": f'{{"AWS_SECRET_ACCESS_KEY": "{KEY_SECRET}"}}'}
    (found,) = violations("secrets-in-inputs", resource(secrets.SECRET_VERSION, stored, "v"))
    assert '"v": secretString carries an access key\'s secret in plain text' in found.message
    stored = {"secretString": wrap_rpc_secret(stored["secretString"])}
    assert violations("secrets-in-inputs", resource(secrets.SECRET_VERSION, stored)) == []


def test_the_key_rendered_into_build_args_must_be_marked() -> None:
    args = {"SANDBOX_CREDENTIALS": f'AWS_SECRET_ACCESS_KEY="{KEY_SECRET}"\n', "X": "1"}
    image = {"imageName": "x:1", "build": {"platform": "linux/amd64", "args": args}}
    (found,) = violations("secrets-in-inputs", resource(DOCKER_IMAGE, image, "img"))
    assert '"img": build.args.SANDBOX_CREDENTIALS carries an access key\'s secret' in found.message
    args["SANDBOX_CREDENTIALS"] = wrap_rpc_secret(args["SANDBOX_CREDENTIALS"])
    assert violations("secrets-in-inputs", resource(DOCKER_IMAGE, image)) == []
    # Naming the variable without a value is no credential.
    empty = {"build": {"args": {"SANDBOX_CREDENTIALS": 'AWS_SECRET_ACCESS_KEY=""\n'}}}
    assert violations("secrets-in-inputs", resource(DOCKER_IMAGE, empty)) == []


def test_the_e2b_key_from_the_stacks_config_is_found_in_any_input(on_stack: OnStack) -> None:
    on_stack("dev", environment="dev", e2bApiKey=E2B_KEY)
    leaked = {"description": f"key {E2B_KEY}", "name": "s"}
    (found,) = violations(
        "secrets-in-inputs", resource("aws:secretsmanager/secret:Secret", leaked, "s")
    )
    assert '"s": description carries the E2B API key in plain text' in found.message
    on_stack("dev", environment="dev")
    assert (
        violations("secrets-in-inputs", resource("aws:secretsmanager/secret:Secret", leaked)) == []
    )


# --- the stack's outputs --------------------------------------------------------------------


def _stack_resources(exports: dict[str, Any], secret_exports: list[str]) -> list[Any]:
    key = member(
        identity.ACCESS_KEY,
        {"id": "AKIA0", "user": "u", "secret": KEY_SECRET},
        "key-blue",
        secret_outputs=["secret", "sesSmtpPasswordV4"],
    )
    stack = member(secrets.STACK, exports, "e2b-sandbox-dev", secret_outputs=secret_exports)
    return [stack, key]


def test_stack_outputs_carrying_the_key_must_be_secret() -> None:
    exports = {"accessKeyId": "AKIA0", "secretAccessKey": KEY_SECRET}
    assert violations("secrets-everywhere", _stack_resources(exports, ["secretAccessKey"])) == []
    (found,) = violations("secrets-everywhere", _stack_resources(exports, []))
    assert found.level == "mandatory"
    assert '"e2b-sandbox-dev": stack output secretAccessKey carries an access key\'s secret' in (
        found.message
    )
    assert "Fix: export pulumi.Output.secret(...)" in found.message


def test_any_output_embedding_the_key_must_be_secret() -> None:
    exports = {"composeOverride": f"environment:\n  KEY: {KEY_SECRET}\n"}
    (found,) = violations("secrets-everywhere", _stack_resources(exports, []))
    assert "stack output composeOverride carries an access key's secret" in found.message
    # The access key's own output, if its provider forgot to mark it, is caught as well.
    key = member(identity.ACCESS_KEY, {"id": "AKIA0", "secret": KEY_SECRET}, "key-blue")
    (found,) = violations("secrets-everywhere", [key])
    assert '"key-blue": secret carries an access key\'s secret in plain text' in found.message


def test_the_e2b_key_is_looked_for_in_every_output(on_stack: OnStack) -> None:
    on_stack("dev", environment="dev", e2bApiKey=E2B_KEY)
    template = member(secrets.E2B_TEMPLATE, {"apiKey": E2B_KEY, "buildId": "b"}, "tpl")
    (found,) = violations("secrets-everywhere", [template])
    assert '"tpl": apiKey carries the E2B API key in plain text' in found.message
    kept = member(
        secrets.E2B_TEMPLATE, {"apiKey": E2B_KEY, "buildId": "b"}, "tpl", secret_outputs=["apiKey"]
    )
    assert violations("secrets-everywhere", [kept]) == []
