"""The sandbox identity's access keys, and the active one kept in Secrets Manager.

Rotation without downtime uses two key slots, blue and green. Normally one slot exists. To rotate,
the second slot is added (both keys now exist), consumers are switched by making it the active slot
(the secret, the image and the backend follow), and the old slot is removed, which deletes its key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class SandboxCredentialsArgs:
    user_name: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    region: str
    key_slots: Sequence[str]
    """The slots whose keys exist: one normally, both during a rotation."""
    active_key_slot: str
    """The slot whose key every consumer uses; must be one of key_slots."""
    recovery_window_days: int
    """Days a deleted secret can be restored; 0 deletes at once (local and dev)."""
    kms_key_arn: str | None = None
    """Encrypts the secret with a customer key instead of the account's aws/secretsmanager key."""
    tags: Mapping[str, str] = field(default_factory=dict)


def credentials_document(
    access_key_id: str, secret_access_key: str, region: str, bucket_name: str
) -> str:
    """The JSON every consumer reads: the same names the sandbox and the backend take as env."""
    return json.dumps(
        {
            "AWS_ACCESS_KEY_ID": access_key_id,
            "AWS_SECRET_ACCESS_KEY": secret_access_key,
            "AWS_REGION": region,
            "S3_BUCKET_NAME": bucket_name,
        },
        sort_keys=True,
    )


class SandboxCredentials(pulumi.ComponentResource):
    """Access keys per slot, and a Secrets Manager secret holding the active one."""

    access_keys: dict[str, aws.iam.AccessKey]
    secret: aws.secretsmanager.Secret
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: SandboxCredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:credentials:SandboxCredentials", name, None, opts)
        if args.active_key_slot not in args.key_slots:
            raise ValueError(f"active key slot {args.active_key_slot!r} is not in {args.key_slots}")
        child = pulumi.ResourceOptions(parent=self)

        self.access_keys = {
            slot: aws.iam.AccessKey(f"{name}-{slot}", user=args.user_name, opts=child)
            for slot in args.key_slots
        }
        active = self.access_keys[args.active_key_slot]
        self.access_key_id = active.id
        # The provider marks the secret as secret, but say it here too: nothing downstream (build
        # args, the Secrets Manager value, stack outputs) may ever see it in plain text.
        self.secret_access_key = pulumi.Output.secret(active.secret)

        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            description="Active access key of the E2B sandbox identity, scoped to one bucket",
            recovery_window_in_days=args.recovery_window_days,
            kms_key_id=args.kms_key_arn,
            tags=dict(args.tags),
            opts=child,
        )
        # A secret because it is computed from the secret key (tests hold this).
        document: pulumi.Output[str] = pulumi.Output.all(
            self.access_key_id, self.secret_access_key, args.bucket_name
        ).apply(lambda values: credentials_document(values[0], values[1], args.region, values[2]))
        aws.secretsmanager.SecretVersion(
            f"{name}-secret-version",
            secret_id=self.secret.id,
            secret_string=document,
            opts=child,
        )

        self.secret_arn = self.secret.arn
        self.register_outputs(
            {
                "accessKeyId": self.access_key_id,
                "secretAccessKey": self.secret_access_key,
                "secretArn": self.secret_arn,
            }
        )
