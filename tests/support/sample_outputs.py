"""The stack outputs the sandbox and the backend receive (program/shared.py), with sample
values: one set for every test of the contract's writers and readers."""

from __future__ import annotations

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
