"""Reading resource properties as the engine hands them to the pack.

Values arrive camelCased, unknown during a preview where they depend on what is not created yet,
and, with `wire.keep_secret_markers`, a secret value arrives wrapped in `pulumi_policy.Secret`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Secret, proxy
from pulumi_policy.proxy import UnknownValueError

# The sentinels the engine sends for values a preview cannot know yet.
UNKNOWNS = frozenset(
    {
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
    }
)


def plain(value: Any) -> Any:
    """The value with its secret wrapper, if any, taken off (only the outermost)."""
    return value.value if isinstance(value, Secret) else value


def get(props: Any, *path: str | int, default: Any = None) -> Any:
    """props[path[0]][path[1]]..., through secret wrappers; `default` where a step is missing.

    An unknown value raises UnknownValueError, as the SDK's own proxies do: the SDK then reports
    that the policy cannot run during this preview instead of a false verdict.
    """
    value = props
    for depth, key in enumerate(path):
        value = plain(value)
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return default
        if isinstance(value, str) and value in UNKNOWNS:
            raise UnknownValueError(value, [str(k) for k in path[: depth + 1]])
    return plain(value)


def known(props: Any, *path: str) -> Any:
    """`get`, with None for a value a preview cannot know yet (for matching, not for a verdict)."""
    try:
        return get(props, *path)
    except UnknownValueError:
        return None


def items(value: Any) -> list[Any]:
    """A list property's items ([] when missing), each unwrapped."""
    found = plain(value)
    if isinstance(found, Sequence) and not isinstance(found, str):
        return [plain(item) for item in found]
    return []


@dataclass(frozen=True)
class Leaf:
    """A string somewhere in a resource's properties."""

    path: str
    """Where, as `a.b[0].c`."""
    text: str
    secret: bool
    """Whether it, or something that holds it, is marked secret."""


def leaves(props: Any, path: str = "", secret: bool = False) -> Iterator[Leaf]:
    """Every known string in `props`, with whether it is marked secret; unknowns are skipped."""
    if isinstance(props, Secret):
        yield from leaves(props.value, path, secret=True)
    elif isinstance(props, str):
        if props not in UNKNOWNS:
            yield Leaf(path, props, secret)
    elif isinstance(props, Mapping):
        for key in props:
            try:
                value = props[key]
            except UnknownValueError:
                continue
            yield from leaves(value, f"{path}.{key}" if path else str(key), secret)
    elif isinstance(props, Sequence):
        for index in range(len(props)):
            try:
                value = props[index]
            except UnknownValueError:
                continue
            yield from leaves(value, f"{path}[{index}]", secret)
