"""The stack outputs the sandbox and the backend receive (components/contract.py), with sample
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
}
