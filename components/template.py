"""The E2B template, built by E2B from the image the stack pushed, by digest.

A template, its image and the key in that image must not drift apart: a rotation (a new image)
must rebuild the template in the same `pulumi up`, before the old key is retired. So the template
is a resource of the stack, made with E2B's template SDK (the `e2b` package) by a dynamic provider:

- create builds the template from `imageRef` (a digest: the template never picks up another
  build), with the start command run as root through sudo (it drops to the sandbox user itself),
  the code-interpreter server's health as the ready check, and the stack's cpu and memory;
- a new digest or setting rebuilds it (an update: same template, new build); a new name replaces
  it; destroy deletes it; refresh notices a template deleted outside the stack;
- E2B pulls the private image with the short-lived ECR token the push used, never a long-lived
  key and never the sandbox's S3 key;
- E2B's API key and the registry token are secret inputs and outputs: neither is shown by a
  preview or kept in plain state. A failed or overlong build fails `pulumi up` with the reason and
  the end of the build's log.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi.dynamic

from program import rules, sandbox_rules
from s3mount.contract import START_SCRIPT

RESOURCE_TYPE = "e2b-sandbox:template:SandboxTemplate"
# E2B runs the start command as the template's default user, `user`; sudo makes it root (the
# mount and the confinement need root), and the default user of the sandboxes stays `user`.
START_COMMAND = f"sudo {START_SCRIPT}"
# The code-interpreter server answers on 49999 once Jupyter is up: the sandbox is ready.
READY_COMMAND = 'curl -s -o /dev/null -w "%{http_code}" http://localhost:49999/health | grep -q 200'
# What the provider rebuilds for. A new name or another E2B (apiUrl) replaces the template; a
# rotated E2B key is only stored (refresh and destroy need the current one); the registry token,
# new on every run and used only by a build, changes nothing.
BUILD_INPUTS = ("imageRef", "startCmd", "readyCmd", "cpuCount", "memoryMb")
REPLACE_INPUTS = ("name", "apiUrl")
STORED_INPUTS = ("apiKey",)
SECRET_INPUTS = ("apiKey", "registryPassword")
LOG_TAIL_LINES = 20

_T = TypeVar("_T")


def pickled_by_value(cls: type[_T]) -> type[_T]:
    """Makes dill store the class and its methods by value, as it does for `__main__` only.

    Pulumi keeps a dynamic provider pickled in the state and unpickles it in a process of its own,
    which need not be able to import this project's modules (pulumi/pulumi#7453); the provider
    therefore uses only its own methods, the standard library, pulumi and the e2b package.
    """
    for member in vars(cls).values():
        function = member.__func__ if isinstance(member, staticmethod) else member
        if inspect.isfunction(function):
            function.__module__ = "__main__"
    cls.__module__ = "__main__"
    return cls


@pickled_by_value
class TemplateBuildError(Exception):
    """The build failed or did not finish in time; the message carries the reason and log tail."""


@pickled_by_value
class E2BTemplateProvider(pulumi.dynamic.ResourceProvider):
    """Builds, rebuilds, reads and deletes one E2B template through E2B's API."""

    # The provider itself captures nothing secret; the secrets travel as (secret) properties.
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        template_id, build_id = self._build(props)
        return pulumi.dynamic.CreateResult(id_=template_id, outs=self._outs(props, build_id))

    def diff(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        watched = (*REPLACE_INPUTS, *BUILD_INPUTS, *STORED_INPUTS)
        changed = [key for key in watched if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(
            changes=bool(changed), replaces=[key for key in changed if key in REPLACE_INPUTS]
        )

    def update(
        self, _id: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> pulumi.dynamic.UpdateResult:
        if all(olds.get(key) == news.get(key) for key in BUILD_INPUTS) and olds.get("buildId"):
            return pulumi.dynamic.UpdateResult(outs=self._outs(news, olds["buildId"]))
        _, build_id = self._build(news)
        return pulumi.dynamic.UpdateResult(outs=self._outs(news, build_id))

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        # `pulumi refresh`: a template deleted outside the stack reads back as gone. Only the
        # status code matters, so the response body is not parsed (its schema moves between
        # API versions).
        response = self._request(props, "GET", f"/templates/{id_}")
        if response.status_code == 404:
            return pulumi.dynamic.ReadResult(id_="", outs={})
        self._raise_for(response, f"reading template {id_}")
        return pulumi.dynamic.ReadResult(id_=id_, outs=props)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        response = self._request(props, "DELETE", f"/templates/{id_}")
        if response.status_code != 404:
            self._raise_for(response, f"deleting template {id_}")

    @staticmethod
    def _outs(props: dict[str, Any], build_id: str) -> dict[str, Any]:
        return {**props, "buildId": build_id}

    @staticmethod
    def _options(props: dict[str, Any]) -> dict[str, Any]:
        """The SDK's connection options: the key, and an API URL when the stack sets one (else
        E2B_API_URL, else E2B's own)."""
        options: dict[str, Any] = {"api_key": props["apiKey"]}
        if props.get("apiUrl"):
            options["api_url"] = props["apiUrl"]
        return options

    def _build(self, props: dict[str, Any]) -> tuple[str, str]:
        import time

        from e2b import Template

        definition = (
            Template()
            .from_image(
                props["imageRef"],
                username=props["registryUsername"],
                password=props["registryPassword"],
            )
            .set_start_cmd(props["startCmd"], props["readyCmd"])
        )
        options = self._options(props)
        started = Template.build_in_background(
            definition,
            props["name"],
            cpu_count=int(props["cpuCount"]),
            memory_mb=int(props["memoryMb"]),
            **options,
        )
        deadline = time.monotonic() + float(props["timeoutSeconds"])
        logs: list[str] = []
        while True:
            status = Template.get_build_status(started, logs_offset=len(logs), **options)
            logs += [f"{entry.level}: {entry.message}" for entry in status.log_entries]
            state = str(getattr(status.status, "value", status.status))
            if state == "ready":
                return started.template_id, started.build_id
            if state == "error":
                reason = status.reason.message if status.reason else "no reason given"
                raise TemplateBuildError(self._failure(props, started.build_id, reason, logs))
            if time.monotonic() > deadline:
                reason = f"not ready after {props['timeoutSeconds']} s (still {state})"
                raise TemplateBuildError(self._failure(props, started.build_id, reason, logs))
            time.sleep(float(props.get("pollSeconds", 2)))

    @staticmethod
    def _failure(props: dict[str, Any], build_id: str, reason: str, logs: list[str]) -> str:
        tail = "\n".join(f"    {line}" for line in logs[-LOG_TAIL_LINES:]) or "    (no log)"
        return (
            f"E2B could not build template {props['name']} from {props['imageRef']} "
            f"(build {build_id}): {reason}\n  last lines of the build log:\n{tail}"
        )

    def _request(self, props: dict[str, Any], method: str, path: str) -> Any:
        """One call to E2B's API with the SDK's client (its URL, key header and retries)."""
        from e2b.api.client_sync import get_api_client
        from e2b.connection_config import ConnectionConfig

        client = get_api_client(ConnectionConfig(**self._options(props)))
        return client.get_httpx_client().request(method, path)

    @staticmethod
    def _raise_for(response: Any, doing: str) -> None:
        if response.status_code >= 300:
            raise TemplateBuildError(
                f"E2B's API refused {doing}: {response.status_code} {response.text[:300]}"
            )


class E2BTemplate(pulumi.dynamic.Resource, module="template", name="E2BTemplate"):
    """One E2B template, kept by E2BTemplateProvider."""

    template_id: pulumi.Output[str]
    build_id: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_INPUTS))
        super().__init__(
            E2BTemplateProvider(),
            name,
            {**props, "buildId": None},
            pulumi.ResourceOptions.merge(opts, secret),
        )
        self.template_id = self.id
        self.build_id = self.buildId  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SandboxTemplateArgs:
    template_name: str
    """The E2B template's name, unique in the E2B team."""
    image_ref: pulumi.Input[str]
    """The pushed image by digest: the template is built from exactly this build."""
    registry_username: pulumi.Input[str]
    """The registry login's user (ECR's is AWS)."""
    registry_password: pulumi.Input[str]
    """A short-lived registry token (ECR's, 12 hours): enough for the one build, nothing else."""
    api_key: pulumi.Input[str]
    """E2B's API key, a secret."""
    cpu_count: int
    """CPUs of every sandbox made from the template."""
    memory_mb: int
    """Memory of every sandbox, MiB."""
    api_url: str = ""
    """E2B's API, when not E2B's own (a self-hosted E2B); empty means the SDK's default."""
    timeout_seconds: int = 1800
    """How long a build may take before `pulumi up` fails with its log."""

    def __post_init__(self) -> None:
        rules.check_args(
            self,
            template_name=sandbox_rules.template_name(self.template_name),
            cpu_count=sandbox_rules.cpu_count(self.cpu_count),
            memory_mb=sandbox_rules.memory_mb(self.memory_mb),
            api_url=sandbox_rules.e2b_api_url(self.api_url or None),
            timeout_seconds=[]
            if self.timeout_seconds > 0
            else [rules.Problem(self.timeout_seconds, "must be a positive number of seconds")],
        )


class SandboxTemplate(pulumi.ComponentResource):
    """The E2B template made from the stack's image; rebuilt whenever the image changes."""

    template: E2BTemplate
    template_id: pulumi.Output[str]
    build_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: SandboxTemplateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        self.template = E2BTemplate(
            f"{name}-template",
            {
                "name": args.template_name,
                "imageRef": args.image_ref,
                "registryUsername": args.registry_username,
                "registryPassword": pulumi.Output.secret(args.registry_password),
                "apiKey": pulumi.Output.secret(args.api_key),
                "apiUrl": args.api_url,
                "startCmd": START_COMMAND,
                "readyCmd": READY_COMMAND,
                "cpuCount": args.cpu_count,
                "memoryMb": args.memory_mb,
                "timeoutSeconds": args.timeout_seconds,
            },
            pulumi.ResourceOptions(parent=self),
        )
        self.template_id = self.template.template_id
        self.build_id = self.template.build_id
        self.register_outputs({"templateId": self.template_id, "buildId": self.build_id})
