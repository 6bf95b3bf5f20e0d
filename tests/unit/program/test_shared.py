"""The shared values: each becomes one variable on one channel for its consumers, the secret only
on the credentials channel, and every output CI reads declared once (program/shared.py,
program/outputs.py)."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from program.outputs import OUTPUT_NAMES, SECRET_OUTPUTS, StackOutputs
from program.shared import (
    SHARED,
    Channel,
    Consumer,
    MountValues,
    StorageValues,
    TemplateValues,
    credentials_json,
    delivered,
    deliveries,
    output_name,
    received,
)
from s3mount import contract
from s3mount.settings import SETTING_NAMES
from tests.support.sample_outputs import SHARED_OUTPUTS

MOUNT = MountValues(
    access_key_id="AKIAIOSFODNN7EXAMPLE",
    secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLE==",
    region="eu-west-1",
    bucket_name="b",
    s3_mount_dir="/opt/sentient",
    s3_endpoint_url="",
    s3_mount_freshness_seconds="2",
)
TEMPLATE = TemplateValues(e2b_template_name="t", e2b_template_id="tpl1")
STORAGE = StorageValues(
    s3_sandbox_storage="per-sandbox", s3_sandbox_prefix_root="sandboxes/", s3_kms_key_arn=""
)
ALL = (MOUNT, TEMPLATE, STORAGE)


def test_the_mount_program_reads_every_name_a_mount_is_sent() -> None:
    for consumer in (Consumer.SANDBOX, Consumer.HOST_MOUNT):
        for channel in Channel:
            names = set(delivered(consumer, channel, *ALL))
            assert names <= SETTING_NAMES, names - SETTING_NAMES


def test_only_the_contracts_secret_is_secret_and_it_travels_as_a_credential() -> None:
    secret = [d for kind in SHARED for _, d in deliveries(kind) if d.secret]
    assert [d.variable for d in secret] == [contract.SECRET_ACCESS_KEY]
    assert all(d.channel is Channel.CREDENTIALS for d in secret)
    assert {"secretAccessKey"} == SECRET_OUTPUTS


def test_no_value_travels_twice_to_one_consumer() -> None:
    for consumer in Consumer:
        settings = set(delivered(consumer, Channel.SETTINGS, *ALL))
        credentials = set(delivered(consumer, Channel.CREDENTIALS, *ALL))
        assert settings and credentials and not settings & credentials


def test_settings_and_credentials_split_by_channel_and_consumer() -> None:
    assert delivered(Consumer.SANDBOX, Channel.CREDENTIALS, MOUNT, TEMPLATE) == {
        "AWS_ACCESS_KEY_ID": MOUNT.access_key_id,
        "AWS_SECRET_ACCESS_KEY": MOUNT.secret_access_key,
    }
    sandbox = delivered(Consumer.SANDBOX, Channel.SETTINGS, MOUNT, TEMPLATE)
    assert list(sandbox) == [
        "AWS_REGION",
        "S3_BUCKET_NAME",
        "S3_MOUNT_DIR",
        "S3_ENDPOINT_URL",
        "S3_MOUNT_FRESHNESS_SECONDS",
    ]
    backend = delivered(Consumer.BACKEND, Channel.SETTINGS, *ALL)
    assert "E2B_TEMPLATE_ID" in backend and "S3_MOUNT_FRESHNESS_SECONDS" not in backend
    assert backend["S3_SANDBOX_STORAGE"] == "per-sandbox"
    sandbox_settings = delivered(Consumer.SANDBOX, Channel.SETTINGS, *ALL)
    assert "S3_SANDBOX_STORAGE" not in sandbox_settings  # the image knows its mode otherwise


def test_a_tool_reads_back_from_the_outputs_what_the_stack_delivered() -> None:
    outputs = {output_name(f.name): getattr(v, f.name) for v in ALL for f in fields(v)}
    for consumer in Consumer:
        for channel in Channel:
            assert received(consumer, channel, outputs) == delivered(consumer, channel, *ALL)


def test_a_control_character_or_a_missing_output_is_refused_by_name() -> None:
    bad = {**SHARED_OUTPUTS, "region": "us-east-1\nX=1"}
    with pytest.raises(contract.ContractError, match="AWS_REGION contains a control character"):
        received(Consumer.SANDBOX, Channel.SETTINGS, bad)
    missing = {k: v for k, v in SHARED_OUTPUTS.items() if k != "bucketName"}
    with pytest.raises(contract.ContractError, match=r"missing stack output.*bucketName"):
        received(Consumer.SANDBOX, Channel.SETTINGS, missing)


def test_the_secret_is_the_key_pair_under_the_names_consumers_read() -> None:
    assert json.loads(credentials_json("AKIAX", "s3cret")) == {
        "AWS_ACCESS_KEY_ID": "AKIAX",
        "AWS_SECRET_ACCESS_KEY": "s3cret",
    }


def test_output_names_are_the_fields_in_camel_case_each_once() -> None:
    assert output_name("s3_mount_freshness_seconds") == "s3MountFreshnessSeconds"
    assert output_name("e2b_template_id") == "e2bTemplateId"
    assert len(OUTPUT_NAMES) == len(set(OUTPUT_NAMES)) == 23
    assert set(SHARED_OUTPUTS) <= set(OUTPUT_NAMES)
    flattened = StackOutputs(MOUNT, TEMPLATE, STORAGE, *(f"v{i}" for i in range(11)))
    assert [name for name, _ in flattened.items()] == list(OUTPUT_NAMES)
