"""The sandbox identity's access keys, and the active one kept in Secrets Manager.

Rotation without downtime uses two key slots, blue and green. Normally one slot exists. To rotate,
the second slot is added (both keys now exist), consumers are switched by making it the active slot
(the secret, the image and the backend follow), and the old slot is removed, which deletes its key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from program import rules
from program.policies import secret_read_policy
from program.shared import credentials_json


@dataclass(frozen=True)
class SandboxCredentialsArgs:
    user_name: pulumi.Input[str]
    """The sandbox identity's user, whose keys these are."""
    key_slots: Sequence[str]
    """The slots whose keys exist: one normally, both during a rotation."""
    active_key_slot: str
    """The slot whose key every consumer uses; must be one of key_slots."""
    recovery_window_days: int
    """Days a deleted secret can be restored; 0 deletes at once (local and dev)."""
    iam_path: str = "/"
    """IAM path of the backend's read policy, as for the identity."""
    region: str | None = None
    """Needed with a customer KMS key: the backend may decrypt only through Secrets Manager."""
    kms_key_arn: str | None = None
    """Encrypts the secret with a customer key instead of the account's aws/secretsmanager key."""

    def __post_init__(self) -> None:
        slots = rules.key_slots(self.key_slots)
        rules.check_args(
            self,
            key_slots=slots,
            active_key_slot=[]
            if slots
            else rules.active_key_slot(self.active_key_slot, self.key_slots),
            recovery_window_days=rules.recovery_window_days(self.recovery_window_days),
            iam_path=rules.iam_path(self.iam_path),
            region=rules.region(self.region) if self.kms_key_arn else [],
            kms_key_arn=rules.kms_key_arn(self.kms_key_arn, self.region),
        )


class SandboxCredentials(pulumi.ComponentResource):
    """Access keys per slot, and a Secrets Manager secret holding the active one."""

    access_keys: dict[str, aws.iam.AccessKey]
    secret: aws.secretsmanager.Secret
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    backend_read_policy: aws.iam.Policy

    def __init__(
        self, name: str, args: SandboxCredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:credentials:SandboxCredentials", name, None, opts)
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
            opts=child,
        )
        # The key pair under the names every consumer reads; a secret because the key is one.
        document: pulumi.Output[str] = pulumi.Output.all(
            self.access_key_id, self.secret_access_key
        ).apply(lambda pair: credentials_json(*pair))
        aws.secretsmanager.SecretVersion(
            f"{name}-secret-version",
            secret_id=self.secret.id,
            secret_string=document,
            opts=child,
        )

        self.secret_arn = self.secret.arn
        # Attach to the backend host's role: it reads the key at deploy time, from here only.
        self.backend_read_policy = aws.iam.Policy(
            f"{name}-backend-read",
            path=args.iam_path,
            description="Read the E2B sandbox's S3 key pair from its secret (for the backend)",
            policy=self.secret_arn.apply(
                lambda arn: json.dumps(secret_read_policy(arn, args.kms_key_arn, args.region))
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "accessKeyId": self.access_key_id,
                "secretAccessKey": self.secret_access_key,
                "secretArn": self.secret_arn,
                "backendReadPolicyArn": self.backend_read_policy.arn,
            }
        )
