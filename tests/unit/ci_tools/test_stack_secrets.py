"""Which secrets a stack holds or is given (ci_tools/stack_secrets.py): every one, once, under a
label that never holds it; the plain text beside a secret in its structure is no secret."""

from __future__ import annotations

from ci_tools.stack_secrets import KnownSecret, known_secrets
from tests.support import sample_outputs as sample
from tests.support.sample_outputs import SECRET, secret_value

SOURCES = (sample.STACK_OUTPUTS, sample.STACK_STATE, sample.STACK_CONFIG)


def _by_label() -> dict[str, KnownSecret]:
    return {s.label: s for s in known_secrets(*SOURCES)}


def test_every_secret_of_the_sample_stack_once_under_its_first_label() -> None:
    secrets = known_secrets(*SOURCES)
    atomic = {s.value: s.label for s in secrets if not s.structured}
    assert atomic == {
        SECRET: "stack output secretAccessKey",
        sample.E2B_API_KEY: "secret config e2b-sandbox:e2bApiKey",
        sample.GREEN_SECRET: "resource sandbox-green (aws:iam/accessKey:AccessKey), outputs.secret",
        sample.REGISTRY_TOKEN: "resource sandbox-template (pulumi-python:dynamic:Resource), "
        "inputs.registryPassword",
    }
    assert len({s.value for s in secrets}) == len(secrets)


def test_no_label_holds_a_secret() -> None:
    secrets = known_secrets(*SOURCES)
    labels = " ".join(s.label for s in secrets)
    assert not [s.label for s in secrets for part in (s.value, *s.parts) if part[:8] in labels]


def test_a_structured_secret_keeps_only_what_the_stack_does_not_show_in_plain_text() -> None:
    secrets = _by_label()
    document = secrets[
        "resource sandbox-secret-version (aws:secretsmanager/secretVersion:SecretVersion), "
        "inputs.secretString"
    ]
    assert document.structured
    assert document.parts == (SECRET,)  # not the key's id, a plain output
    build_args = secrets[
        "resource sandbox-image (docker:index/image:Image), inputs.build.args.SANDBOX_CREDENTIALS"
    ]
    assert build_args.parts == (SECRET,)  # its dotenv value, without the quotes
    registry = secrets["resource sandbox-image (docker:index/image:Image), inputs.registry"]
    # The registry's host is in the image's (plain) name; `AWS` is too short to be told apart.
    assert registry.parts == (sample.REGISTRY_TOKEN,)


def test_values_inside_any_structure_are_found() -> None:
    config = {
        "app:db": {
            "value": "x",
            "objectValue": {
                "user": "reporting",
                "password": "hunter2-but-longer",
                "port": 54321234,
            },
            "secret": True,
        },
        "app:lines": {"value": "export TOKEN='tok-0123456789'\nplain-line-value\n", "secret": True},
    }
    secrets = {s.label: s for s in known_secrets({}, None, config)}
    assert secrets["secret config app:db"].parts == ("reporting", "hunter2-but-longer", "54321234")
    assert secrets["secret config app:lines"].parts == ("tok-0123456789", "plain-line-value")


def test_a_secret_nested_in_a_secret_of_the_state_is_read() -> None:
    state = {
        "deployment": {
            "resources": [
                {
                    "urn": "urn:pulumi:dev::p::pkg:m:T::thing",
                    "outputs": {"list": [{"token": secret_value("tok-abcdefghijklmnop")}]},
                }
            ]
        }
    }
    (secret,) = known_secrets({}, {"version": 3, **state})
    assert secret == KnownSecret(
        "resource thing (pkg:m:T), outputs.list[0].token", "tok-abcdefghijklmnop"
    )


def test_the_jobs_credentials_are_secrets_too() -> None:
    environ = {"PULUMI_CONFIG_PASSPHRASE": "correct horse battery", "HOME": "/home/runner"}
    assert known_secrets({}, environ=environ) == [
        KnownSecret("the job's PULUMI_CONFIG_PASSPHRASE", "correct horse battery")
    ]


def test_the_plaintext_is_decoded_from_json_as_pulumi_writes_it() -> None:
    (secret,) = known_secrets({}, {"version": 3, "deployment": {"x": secret_value("a b c d e")}})
    assert secret == KnownSecret("the deployment, x", "a b c d e")  # not '"a b c d e"'
