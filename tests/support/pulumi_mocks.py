"""Pulumi mocks that record every resource and return realistic computed outputs.

Computed outputs matter: a mock that echoes inputs back leaves bucket names, ARNs and user names
unknown, and whatever depends on them (policies, build args, secrets) silently vanishes. Every value
is derived from the resource's name and inputs, so two runs of the program give identical results.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from program.settings import PROJECT

ACCOUNT_ID = "123456789012"
# What the provider appends to bucketPrefix: 26 characters (a timestamp and a counter).
_BUCKET_SUFFIX = "20261127093000123400000001"


def _digest(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


@dataclass
class RecordedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str
    options: ResourceOptionsSeen

    @property
    def parent_name(self) -> str:
        return urn_name(self.options.parent_urn)

    @property
    def parent_type(self) -> str:
        return urn_type(self.options.parent_urn)

    @property
    def dependency_names(self) -> set[str]:
        return {urn_name(urn) for urn in self.options.dependency_urns}


@dataclass(frozen=True)
class ResourceOptionsSeen:
    """What the engine is told about a resource besides its inputs (mocks never see these)."""

    parent_urn: str = ""
    dependency_urns: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False
    additional_secret_outputs: tuple[str, ...] = ()


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[1] if "::" in urn else ""


def urn_type(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1] if urn.count("::") >= 3 else ""


class ResourceLookup:
    """Finding recorded resources by type, for the mocks and for a program run alike."""

    resources: list[RecordedResource]

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RecordedResource:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]


@dataclass
class RecordingMocks(ResourceLookup, pulumi.runtime.Mocks):
    """Records resources and invokes; answers like the AWS and Docker providers would."""

    region: str = "us-east-1"
    resources: list[RecordedResource] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _options: dict[str, ResourceOptionsSeen] = field(default_factory=dict)
    monitor: MockMonitor | None = None

    def reset(self) -> None:
        self.resources.clear()
        self.calls.clear()
        self._options.clear()

    def record_options(self, name: str, options: ResourceOptionsSeen) -> None:
        self._options[name] = options

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        computed = _COMPUTED.get(args.typ)
        if computed is not None:
            resource_id, extra = computed(self, args.name, args.inputs)
            outputs.update(extra)
        self.resources.append(
            RecordedResource(
                args.typ,
                args.name,
                dict(args.inputs),
                outputs,
                resource_id,
                self._options.get(args.name, ResourceOptionsSeen()),
            )
        )
        return resource_id, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        self.calls.append((args.token, dict(args.args)))
        return self._answer(args.token, args.args), []

    def _answer(self, token: str, call_args: dict[str, Any]) -> dict[str, Any]:
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            registry = call_args.get("registryId", ACCOUNT_ID)
            return {
                "userName": "AWS",
                "password": "mock-ecr-password",
                "proxyEndpoint": f"https://{registry}.dkr.ecr.{self.region}.amazonaws.com",
                "authorizationToken": "bW9jaw==",
                "expiresAt": "2030-01-01T00:00:00Z",
                "id": registry,
            }
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:root",
                "userId": "mock",
            }
        return {}


def _bucket(mocks: RecordingMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name + '-')}{_BUCKET_SUFFIX}"
    return bucket, {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{mocks.region}.amazonaws.com",
        "region": mocks.region,
    }


def _iam_user(_: RecordingMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    user = inputs.get("name") or f"{name}-{_digest(name, length=7)}"
    path = inputs.get("path", "/")
    return user, {
        "name": user,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user{path}{user}",
        "uniqueId": f"AIDA{_digest(user).upper()}",
    }


def _iam_group(_: RecordingMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group = inputs.get("name") or f"{name}-{_digest(name, length=7)}"
    path = inputs.get("path", "/")
    return group, {"name": group, "arn": f"arn:aws:iam::{ACCOUNT_ID}:group{path}{group}"}


def _iam_policy(_: RecordingMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    policy = inputs.get("name") or f"{name}-{_digest(name, length=7)}"
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy{inputs.get('path', '/')}{policy}"
    return arn, {"name": policy, "arn": arn}


def _access_key(_: RecordingMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key_id = f"AKIA{_digest(name).upper()}"
    return key_id, {
        "id": key_id,
        "secret": f"mock-secret-{_digest('secret', name, length=32)}",
        "status": "Active",
        "user": inputs.get("user"),
    }


def _secret(mocks: RecordingMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    secret_name = inputs.get("name") or f"{name}-{_digest(name, length=7)}"
    arn = f"arn:aws:secretsmanager:{mocks.region}:{ACCOUNT_ID}:secret:{secret_name}-AbCdEf"
    return arn, {"arn": arn, "name": secret_name}


def _ecr_repository(
    mocks: RecordingMocks, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    repo = inputs.get("name") or f"{name}-{_digest(name, length=7)}"
    return repo, {
        "name": repo,
        "arn": f"arn:aws:ecr:{mocks.region}:{ACCOUNT_ID}:repository/{repo}",
        "registryId": ACCOUNT_ID,
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{mocks.region}.amazonaws.com/{repo}",
    }


def _docker_image(
    _: RecordingMocks, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    image_name = str(inputs.get("imageName", name))
    digest = _digest(image_name, length=64)
    pushed = not inputs.get("skipPush", False)
    repo = image_name.rsplit(":", 1)[0]
    return f"sha256:{digest}", {
        "imageName": image_name,
        "repoDigest": f"{repo}@sha256:{digest}" if pushed else "",
        "baseImageName": image_name,
    }


def _e2b_template(
    _: RecordingMocks, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    template_id = f"tpl{_digest(str(inputs.get('name')), length=12)}"
    return template_id, {"buildId": f"build-{_digest(str(inputs.get('imageRef')), length=12)}"}


_COMPUTED = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:iam/user:User": _iam_user,
    "aws:iam/group:Group": _iam_group,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:iam/accessKey:AccessKey": _access_key,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:ecr/repository:Repository": _ecr_repository,
    "docker:index/image:Image": _docker_image,
    "pulumi-python:dynamic/template:E2BTemplate": _e2b_template,
}


class ParentRecordingMonitor(MockMonitor):
    """The SDK's mock monitor, which also tells the mocks each resource's options.

    Mocks see neither parents, dependencies, protection nor additional secret outputs; the tests
    need them all.
    """

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording_mocks = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self.recording_mocks.record_options(
            request.name,
            ResourceOptionsSeen(
                parent_urn=request.parent,
                dependency_urns=tuple(request.dependencies),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
            ),
        )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


def configure_mocks(mocks: RecordingMocks, stack: str = "dev", preview: bool = False) -> None:
    monitor = mocks.monitor or ParentRecordingMonitor(mocks)
    mocks.monitor = monitor
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)


def install_mocks(stack: str = "dev", preview: bool = False) -> RecordingMocks:
    mocks = RecordingMocks()
    configure_mocks(mocks, stack, preview)
    return mocks
