"""The contract of names and channels, held to its reader in the image and its writers."""

from __future__ import annotations

import json

import pytest

import s3mount
from components.contract import (
    VARIABLES,
    Channel,
    Consumer,
    ContractError,
    credentials_json,
    render_env,
    values,
    variables,
)
from tests.support.sample_outputs import SHARED_OUTPUTS
from tools.stack_outputs import OUTPUT_NAMES, SECRET_OUTPUTS


def test_the_mount_program_reads_every_name_a_mount_is_sent() -> None:
    for consumer in (Consumer.SANDBOX, Consumer.HOST_MOUNT):
        for channel in Channel:
            names = {v.name for v in variables(consumer, channel)}
            assert names <= s3mount.SETTING_NAMES, names - s3mount.SETTING_NAMES


def test_secrets_agree_everywhere() -> None:
    assert {v.name for v in VARIABLES if v.secret} == set(s3mount.SECRET_NAMES)
    assert {v.output for v in VARIABLES if v.secret} == set(SECRET_OUTPUTS)
    assert all(v.channel is Channel.CREDENTIALS for v in VARIABLES if v.secret)


def test_every_value_comes_from_a_stack_output_the_tools_know() -> None:
    assert {v.output for v in VARIABLES} <= set(OUTPUT_NAMES)


def test_no_value_travels_twice_to_one_consumer() -> None:
    for consumer in Consumer:
        settings = {v.name for v in variables(consumer, Channel.SETTINGS)}
        credentials = {v.name for v in variables(consumer, Channel.CREDENTIALS)}
        assert not settings & credentials


@pytest.mark.parametrize(
    "value", ["plain", 'quote" and \\ back', "$HOME ${PATH} $$", "x #not a comment", " pad "]
)
def test_the_mount_program_reads_back_exactly_what_the_contract_writes(value: str) -> None:
    text = render_env({"AWS_SECRET_ACCESS_KEY": value, "S3_BUCKET_NAME": "b"})
    assert s3mount.parse_env_file(text, "test") == {
        "AWS_SECRET_ACCESS_KEY": value,
        "S3_BUCKET_NAME": "b",
    }


def test_settings_and_credentials_split_by_channel() -> None:
    assert values(Consumer.SANDBOX, Channel.CREDENTIALS, SHARED_OUTPUTS) == {
        "AWS_ACCESS_KEY_ID": SHARED_OUTPUTS["accessKeyId"],
        "AWS_SECRET_ACCESS_KEY": SHARED_OUTPUTS["secretAccessKey"],
    }
    sandbox = values(Consumer.SANDBOX, Channel.SETTINGS, SHARED_OUTPUTS)
    assert SHARED_OUTPUTS["secretAccessKey"] not in sandbox.values()
    assert "E2B_TEMPLATE_NAME" not in sandbox  # the backend's business only
    assert "S3_MOUNT_FRESHNESS_SECONDS" not in values(
        Consumer.BACKEND, Channel.SETTINGS, SHARED_OUTPUTS
    )


def test_a_control_character_or_a_missing_output_is_refused_by_name() -> None:
    with pytest.raises(ContractError, match="AWS_REGION contains a control character"):
        values(Consumer.SANDBOX, Channel.SETTINGS, {**SHARED_OUTPUTS, "region": "us-east-1\nX=1"})
    missing = {k: v for k, v in SHARED_OUTPUTS.items() if k != "bucketName"}
    with pytest.raises(ContractError, match=r"missing stack output.*bucketName"):
        values(Consumer.SANDBOX, Channel.SETTINGS, missing)
    with pytest.raises(ContractError, match="contains a control character") as raised:
        render_env({"AWS_SECRET_ACCESS_KEY": "se\ncret"})
    assert "se\ncret" not in str(raised.value)


def test_the_secret_is_the_key_pair_under_the_names_consumers_read() -> None:
    assert json.loads(credentials_json(SHARED_OUTPUTS)) == {
        "AWS_ACCESS_KEY_ID": SHARED_OUTPUTS["accessKeyId"],
        "AWS_SECRET_ACCESS_KEY": SHARED_OUTPUTS["secretAccessKey"],
    }
