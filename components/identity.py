"""The sandbox's AWS identity: an IAM user that can touch nothing but the stack's bucket."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from program import rules
from program.policies import federated_users_arn, sandbox_access_policy
from program.rules import partition_of


@dataclass(frozen=True)
class SandboxIdentityArgs:
    bucket_arn: pulumi.Input[str]
    """The one bucket the identity may use."""
    iam_path: str
    """IAM path of the user and group, e.g. /e2b-sandbox/dev/: lets audits and SCPs find them."""
    region: str
    """The stack's region: a KMS key is usable only through S3 there."""
    key_prefixes: Sequence[str] = ()
    """Key prefixes inside the bucket the identity may use; empty means the whole bucket."""
    kms_key_arn: str | None = None
    """The bucket's customer KMS key, if any: objects cannot be read or written without it."""
    permissions_boundary_arn: str | None = None
    """A permissions boundary that caps the user whatever policy it is later given."""
    issues_sessions: bool = False
    """Per-sandbox storage: the identity issues each attached sandbox's narrowed session."""

    def __post_init__(self) -> None:
        rules.check_args(
            self,
            iam_path=rules.iam_path(self.iam_path),
            region=rules.region(self.region),
            key_prefixes=rules.key_prefixes(
                self.key_prefixes, self.kms_key_arn, self.region, self.issues_sessions
            ),
            kms_key_arn=rules.kms_key_arn(self.kms_key_arn, self.region),
            permissions_boundary_arn=rules.permissions_boundary_arn(
                self.permissions_boundary_arn, self.region
            ),
        )


class SandboxIdentity(pulumi.ComponentResource):
    """An IAM user that gets its permissions only through its group (the CIS control)."""

    user: aws.iam.User
    group: aws.iam.Group
    user_name: pulumi.Output[str]
    user_arn: pulumi.Output[str]
    policy_json: pulumi.Output[str]

    def __init__(
        self, name: str, args: SandboxIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("e2b-sandbox:identity:SandboxIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.user = aws.iam.User(
            f"{name}-user",
            path=args.iam_path,
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        self.group = aws.iam.Group(f"{name}-group", path=args.iam_path, opts=child)

        key_prefixes = list(args.key_prefixes)
        # The sessions' ARN names the account, which only the provider knows.
        sessions_for: pulumi.Output[str | None] = (
            aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).apply(
                lambda caller: federated_users_arn(caller.account_id, partition_of(args.region))
            )
            if args.issues_sessions
            else pulumi.Output.from_input(None)
        )
        self.policy_json = pulumi.Output.all(args.bucket_arn, sessions_for).apply(
            lambda found: json.dumps(
                sandbox_access_policy(
                    found[0], key_prefixes, args.kms_key_arn, args.region, found[1]
                ),
                indent=2,
            )
        )
        aws.iam.GroupPolicy(
            f"{name}-bucket-access", group=self.group.name, policy=self.policy_json, opts=child
        )
        aws.iam.UserGroupMembership(
            f"{name}-membership", user=self.user.name, groups=[self.group.name], opts=child
        )

        self.user_name = self.user.name
        self.user_arn = self.user.arn
        self.register_outputs(
            {"userName": self.user_name, "userArn": self.user_arn, "policy": self.policy_json}
        )
