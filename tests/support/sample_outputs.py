"""The stack outputs the sandbox and the backend receive (program/shared.py), with sample
values: one set for every test of the contract's writers and readers."""

from __future__ import annotations

import json

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLE=="
BUCKET = "e2b-sandbox-dev-20261127093000123400000001"
SHARED_OUTPUTS: dict[str, str] = {
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "secretAccessKey": SECRET,
    "region": "eu-west-1",
    "bucketName": BUCKET,
    "s3MountDir": "/opt/sentient",
    "s3EndpointUrl": "",
    "s3MountFreshnessSeconds": "2",
    "e2bTemplateName": "e2b-sandbox-dev",
    "e2bTemplateId": "tpl0123456789ab",
    "s3SandboxStorage": "shared",
    "s3SandboxPrefixRoot": "sandboxes/",
    "s3KmsKeyArn": "",
}

# Every output of a deployed stack, as `pulumi stack output --json --show-secrets` gives them.
STACK_OUTPUTS: dict[str, object] = {
    **SHARED_OUTPUTS,
    "bucketArn": "arn:aws:s3:::e2b-sandbox-dev-20261127093000123400000001",
    "iamUserName": "e2b-sandbox-dev-s3",
    "iamUserArn": "arn:aws:iam::123456789012:user/e2b-sandbox/e2b-sandbox-dev-s3",
    "credentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
    "backendReadPolicyArn": "arn:aws:iam::123456789012:policy/e2b-sandbox/dev/read-x",
    "imageName": "e2b-sandbox-dev",
    "imageRef": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/e2b-sandbox-dev@sha256:" + "a" * 64,
    "ecrRepositoryUrl": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/e2b-sandbox-dev",
    "e2bBuildId": "build-0123456789ab",
    "composeOverride": "services:\n  backend:\n    env_file: []\n",
    "hostMountUnit": "[Unit]\nDescription=x\n",
}

# What the mount program receives: the stack's settings and the key pair, as variables.
MOUNT_SETTINGS: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "S3_BUCKET_NAME": BUCKET,
    "AWS_REGION": "us-east-1",
    "S3_MOUNT_DIR": "/opt/sentient",
    "S3_MOUNT_FRESHNESS_SECONDS": "2",
}

# The secrets a deployed stack holds besides its secret output (issue 21): the other key slot's
# secret during a rotation, the E2B API key (a secret config value the template also keeps) and
# the registry token the image push and the template build used.
GREEN_KEY_ID = "AKIAI44QH8DHBEXAMPLE"
GREEN_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
E2B_API_KEY = "e2b_4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"
REGISTRY_TOKEN = "eyJwYXlsb2FkIjoiWjNKbFpXNGdhWE1nYm05MElHRWdjMlZqY21WMCIsImRhdGFrZXkiOiJ4In0="
# Every secret value the sample stack below holds (besides the structures holding them).
HELD_SECRETS = (SECRET, GREEN_SECRET, E2B_API_KEY, REGISTRY_TOKEN)
_PROJECT_URN = "urn:pulumi:dev::e2b-sandbox::"


def secret_value(value: object) -> dict[str, str]:
    """A secret as `pulumi stack export --show-secrets` writes it (Pulumi's secret signature)."""
    return {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "plaintext": json.dumps(value),
    }


def _resource(parent: str, kind: str, name: str, **sections: object) -> dict[str, object]:
    urn = f"{_PROJECT_URN}{parent}${kind}::{name}" if parent else f"{_PROJECT_URN}{kind}::{name}"
    return {"urn": urn, "custom": True, "type": kind, **sections}


_CREDENTIALS = "e2b-sandbox:credentials:SandboxCredentials"
# The key pair as the image's build arg carries it (dotenv lines).
BUILD_ARGS = f'AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE"\nAWS_SECRET_ACCESS_KEY="{SECRET}"\n'
# `pulumi stack export --show-secrets` of a stack during a rotation (blue active, green added).
STACK_STATE: dict[str, object] = {
    "version": 3,
    "deployment": {
        "manifest": {"time": "2026-12-01T10:00:00Z", "magic": "0" * 64, "version": "v3.272.0"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:Tlxv1zZQP3E=:v1:x:y"}},
        "resources": [
            _resource(
                "",
                "pulumi:pulumi:Stack",
                "e2b-sandbox-dev",
                outputs={
                    **{k: v for k, v in STACK_OUTPUTS.items() if k != "secretAccessKey"},
                    "secretAccessKey": secret_value(SECRET),
                },
            ),
            _resource(
                _CREDENTIALS,
                "aws:iam/accessKey:AccessKey",
                "sandbox-blue",
                id="AKIAIOSFODNN7EXAMPLE",
                inputs={"user": "e2b-sandbox-dev-s3"},
                outputs={"id": "AKIAIOSFODNN7EXAMPLE", "secret": secret_value(SECRET)},
            ),
            _resource(
                _CREDENTIALS,
                "aws:iam/accessKey:AccessKey",
                "sandbox-green",
                id=GREEN_KEY_ID,
                inputs={"user": "e2b-sandbox-dev-s3"},
                outputs={"id": GREEN_KEY_ID, "secret": secret_value(GREEN_SECRET)},
            ),
            _resource(
                _CREDENTIALS,
                "aws:secretsmanager/secretVersion:SecretVersion",
                "sandbox-secret-version",
                inputs={
                    "secretString": secret_value(
                        json.dumps(
                            {
                                "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
                                "AWS_SECRET_ACCESS_KEY": SECRET,
                            }
                        )
                    )
                },
            ),
            _resource(
                "e2b-sandbox:image:SandboxImage",
                "docker:index/image:Image",
                "sandbox-image",
                inputs={
                    "build": {"args": {"SANDBOX_CREDENTIALS": secret_value(BUILD_ARGS)}},
                    "registry": secret_value(
                        {
                            "server": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                            "username": "AWS",
                            "password": REGISTRY_TOKEN,
                        }
                    ),
                },
            ),
            _resource(
                "e2b-sandbox:template:SandboxTemplate",
                "pulumi-python:dynamic:Resource",
                "sandbox-template",
                inputs={
                    "apiKey": secret_value(E2B_API_KEY),
                    "registryUsername": "AWS",
                    "registryPassword": secret_value(REGISTRY_TOKEN),
                },
            ),
        ],
    },
}

# `pulumi config --show-secrets --json` of that stack.
STACK_CONFIG: dict[str, object] = {
    "aws:region": {"value": "eu-west-1", "secret": False},
    "e2b-sandbox:environment": {"value": "dev", "secret": False},
    "e2b-sandbox:e2bApiKey": {"value": E2B_API_KEY, "secret": True},
    "aws:defaultTags": {
        "value": '{"tags":{"environment":"dev"}}',
        "objectValue": {"tags": {"environment": "dev"}},
        "secret": False,
    },
}
