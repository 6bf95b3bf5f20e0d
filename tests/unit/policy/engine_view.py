"""The program's resources, recorded under the mocks, handed to the policy pack the way the engine
hands them: camelCase properties with their secret markers, the pulumi_policy argument objects,
inputs to resource policies and outputs (plus the stack's outputs) to stack policies.

What the engine does and the mocks do not, done here: internal keys (`__provider`) are dropped
(the engine marshals with SkipInternalKeys), outputs named in additionalSecretOutputs are marked
secret (the engine marks them in the state), and the root stack resource carries the exports.

`python -m tests.unit.policy.engine_view --stack STACK` prints the violations as JSON: the way a
copy of the program (with a planted regression) is checked in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pulumi
from pulumi.runtime.rpc import wrap_rpc_secret
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.guard import pack, secrets, wire
from tests.support.program import ProgramRun, run_program
from tests.support.pulumi_mocks import (
    RecordedResource,
    RecordingMocks,
    install_mocks,
    urn_name,
    urn_type,
)


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    message: str
    urn: str


def engine_props(values: Mapping[str, Any], secret_names: Sequence[str] = ()) -> Any:
    """Properties as a policy sees them under the pack's wire (secrets as `Secret`)."""
    kept = {
        key: wrap_rpc_secret(value) if key in secret_names else value
        for key, value in values.items()
        if not key.startswith("__")
    }
    return unknown_checking_proxy(wire.with_secret_markers(kept))


def options(
    protect: bool = False, secret_outputs: Sequence[str] = (), parent: str | None = None
) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), list(secret_outputs), parent
    )


def urn(parent: str, type_: str, name: str) -> str:
    """The URN the engine (and the mock monitor) gives a resource."""
    if parent:
        type_ = f"{urn_type(parent)}${type_}"
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"


def stack_urn() -> str:
    name = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    return urn("", secrets.STACK, name)


def _urn_of(r: RecordedResource) -> str:
    return urn(r.options.parent_urn, r.type, r.name)


def resource_args(r: RecordedResource) -> ResourceValidationArgs:
    """What Analyze hands a resource policy: the resource's inputs."""
    opts = options(
        r.options.protect, r.options.additional_secret_outputs, r.options.parent_urn or None
    )
    return ResourceValidationArgs(r.type, engine_props(r.inputs), _urn_of(r), r.name, opts, None)


def stack_resources(run: ProgramRun) -> list[PolicyResource]:
    """What AnalyzeStack hands a stack policy: every resource's outputs, and the stack's."""
    resources = {
        _urn_of(r): PolicyResource(
            r.type,
            engine_props(r.outputs, r.options.additional_secret_outputs),
            _urn_of(r),
            r.name,
            options(r.options.protect, r.options.additional_secret_outputs),
            None,
            None,
            [],
            {},
        )
        for r in run.resources
    }
    for r in run.resources:
        found = resources[_urn_of(r)]
        found.parent = resources.get(r.options.parent_urn)
        found.dependencies = [resources[d] for d in r.options.dependency_urns if d in resources]
    root = PolicyResource(
        secrets.STACK,
        engine_props(run.outputs, sorted(run.secret_outputs)),
        stack_urn(),
        urn_name(stack_urn()),
        options(),
        None,
        None,
        [],
        {},
    )
    return [root, *resources.values()]


def resource(
    type_: str,
    props: Mapping[str, Any],
    name: str = "subject",
    protect: bool = False,
    secret_outputs: Sequence[str] = (),
) -> ResourceValidationArgs:
    """One resource's inputs as Analyze hands them to a resource policy."""
    return ResourceValidationArgs(
        type_,
        engine_props(props),
        urn("", type_, name),
        name,
        options(protect, secret_outputs),
        None,
    )


def member(
    type_: str,
    props: Mapping[str, Any],
    name: str,
    depends_on: Mapping[str, Sequence[PolicyResource]] | None = None,
    secret_outputs: Sequence[str] = (),
) -> PolicyResource:
    """One resource's outputs as AnalyzeStack hands them to a stack policy; `depends_on` gives
    its property dependencies (how a value unknown in a first preview still names its source)."""
    return PolicyResource(
        type_,
        engine_props(props, secret_outputs),
        urn("", type_, name),
        name,
        options(secret_outputs=secret_outputs),
        None,
        None,
        [d for deps in (depends_on or {}).values() for d in deps],
        {key: list(deps) for key, deps in (depends_on or {}).items()},
    )


def _level(level: EnforcementLevel | None) -> str:
    return level.value if level else "advisory"


def _validate(
    policy: Policy, target: ResourceValidationArgs | list[PolicyResource]
) -> list[Violation]:
    """One policy, called as the SDK's analyzer calls it; what it reports."""
    found: list[Violation] = []

    def report(message: str, at: str | None = None) -> None:
        found.append(Violation(policy.name, _level(policy.enforcement_level), message, at or ""))

    if isinstance(policy, ResourceValidationPolicy) and isinstance(target, ResourceValidationArgs):
        policy.validate(target, report)
    elif isinstance(policy, StackValidationPolicy) and isinstance(target, list):
        policy.validate(StackValidationArgs(target), report)
    return found


def violations(name: str, target: ResourceValidationArgs | list[PolicyResource]) -> list[Violation]:
    """What the pack's policy `name` reports on one resource (inputs) or a whole stack."""
    (policy,) = [p for p in pack.policies() if p.name == name]
    return _validate(policy, target)


def check_resource(args: ResourceValidationArgs) -> list[Violation]:
    """Every policy of the pack on one resource."""
    return [v for policy in pack.policies() for v in _validate(policy, args)]


def check_stack(resources: list[PolicyResource]) -> list[Violation]:
    """Every policy of the pack on the whole stack."""
    return [v for policy in pack.policies() for v in _validate(policy, resources)]


def check_program(
    mocks: RecordingMocks, stack: str, overrides: dict[str, str | None] | None = None
) -> list[Violation]:
    """The whole pack on the program's resources for one stack (the runtime keeps that stack's
    project, name and config for the pack to read, as the engine would give them)."""
    run = run_program(mocks, stack, overrides)
    found = [v for r in run.resources for v in check_resource(resource_args(r))]
    return found + check_stack(stack_resources(run))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True)
    found = check_program(install_mocks(), parser.parse_args().stack)
    json.dump([asdict(v) for v in found], sys.stdout)
