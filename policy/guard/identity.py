"""IAM: permissions through groups only, no wildcards, nothing that purges versions, changes a
bucket or touches IAM, and access keys only for the project's own users."""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import PolicyResource, ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError

from . import documents
from .context import StackContext
from .findings import Finding, finding
from .props import get, items
from .storage import BUCKET_POLICY

USER = "aws:iam/user:User"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
# Ways to give a user a policy of its own rather than through a group (the CIS control).
USER_POLICY_TYPES = (
    USER_POLICY,
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/userPoliciesExclusive:UserPoliciesExclusive",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive",
)
# Identity policies: what an identity of this stack (the sandbox's group, the backend's read
# policy) may do. Which group the sandbox user joins is a computed name, so every identity policy
# of the stack is held to the sandbox's limits; none of them needs more.
IDENTITY_POLICY_TYPES = (GROUP_POLICY, MANAGED_POLICY, ROLE_POLICY, USER_POLICY)
DOCUMENT_TYPES = (*IDENTITY_POLICY_TYPES, BUCKET_POLICY)


def no_user_policies(r: ResourceValidationArgs) -> list[Finding]:
    if r.resource_type in USER_POLICY_TYPES:
        return [
            finding(
                r,
                "the resource",
                "gives a user a policy of its own",
                "attach the policy to the user's group (aws.iam.GroupPolicy) instead",
            )
        ]
    if r.resource_type == POLICY_ATTACHMENT and items(get(r.props, "users")):
        return [
            finding(
                r,
                "users",
                "attaches a policy to users directly",
                "attach it to their group (groups=[...]) instead",
            )
        ]
    return []


def _document(r: ResourceValidationArgs) -> tuple[list[documents.Statement], list[Finding]]:
    document = documents.parse(get(r.props, "policy"))
    if document is None:
        problem = finding(r, "policy", "is not a JSON policy document", "pass json.dumps(doc)")
        return [], [problem]
    return list(documents.statements(document)), []


def no_wildcards(r: ResourceValidationArgs) -> list[Finding]:
    statements, found = _document(r)
    for s in (s for s in statements if s.allows):
        where = f"policy.Statement[{s.index}]"
        if s.not_actions:
            found.append(
                finding(r, f"{where}.NotAction", "allows every other action", "list Action")
            )
        for action in s.actions:
            if documents.service_wide(action):
                found.append(
                    finding(r, f"{where}.Action", f"allows {action!r}", "name each action it needs")
                )
        if any(documents.touches_service(a, "s3") for a in s.actions):
            if s.not_resources:
                found.append(
                    finding(
                        r,
                        f"{where}.NotResource",
                        "allows S3 on every other resource",
                        "list the bucket's ARNs in Resource",
                    )
                )
            for arn in s.resources:
                if documents.every_resource(arn):
                    found.append(
                        finding(
                            r,
                            f"{where}.Resource",
                            f"is {arn!r} for an S3 action",
                            "name the one bucket's ARN (and arn/* for its objects)",
                        )
                    )
    return found


def sandbox_grants(r: ResourceValidationArgs) -> list[Finding]:
    statements, found = _document(r)
    for s in (s for s in statements if s.allows):
        actions = ("*",) if s.not_actions else s.actions  # NotAction allows all but a few
        granted = sorted({g for a in actions for g in documents.forbidden_grants(a)})
        if granted:
            found.append(
                finding(
                    r,
                    f"policy.Statement[{s.index}].Action",
                    f"grants {', '.join(granted)}",
                    "remove them: the sandbox identity must not purge versions, change the "
                    "bucket or use IAM",
                )
            )
    return found


def _owner(key: PolicyResource, users: Sequence[PolicyResource]) -> PolicyResource | None:
    depended = {d.urn for d in key.property_dependencies.get("user", [])}
    for user in users:
        if user.urn in depended:
            return user
    try:
        name = get(key.props, "user")
        return next((u for u in users if name is not None and get(u.props, "name") == name), None)
    except UnknownValueError:
        return None


def keys_under_path(resources: Sequence[PolicyResource], context: StackContext) -> list[Finding]:
    users = [r for r in resources if r.resource_type == USER]
    found = []
    for key in (r for r in resources if r.resource_type == ACCESS_KEY):
        if context.iam_path is None:
            found.append(
                finding(
                    key,
                    "user",
                    "cannot be checked: the stack sets no environment",
                    f"set {context.environment_key}",
                )
            )
            continue
        owner = _owner(key, users)
        if owner is None:
            found.append(
                finding(
                    key,
                    "user",
                    "is not a user of this stack",
                    f"make keys only for this stack's users under {context.iam_path}",
                )
            )
        elif get(owner.props, "path") != context.iam_path:
            found.append(
                finding(
                    key,
                    "user",
                    f"belongs to {owner.name!r} at path {get(owner.props, 'path')!r}",
                    f"make keys only for users under {context.iam_path} (set the user's path)",
                )
            )
    return found
