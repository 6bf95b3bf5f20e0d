"""The `Environment=` lines of the host mount's systemd unit: how a value is written there, and
how it is read back by the by-hand mount (backend_host.host_mount), which mounts with exactly the
settings the unit would. Standard library only.
"""

from __future__ import annotations

import re

_LINE = re.compile(r'Environment="(?P<body>(?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)|%%")


class UnitError(Exception):
    """A unit this project did not write: the message names the line."""


def environment_line(name: str, value: str) -> str:
    """`Environment="NAME=value"`: quoted, `%` specifiers and escapes disarmed, so systemd hands
    the program exactly the value."""
    escaped = f"{name}={value}".replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'Environment="{escaped}"'


def unit_environment(text: str) -> dict[str, str]:
    """The variables a unit's `Environment=` lines set, as systemd would set them."""
    variables: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("Environment="):
            continue
        found = _LINE.fullmatch(line)
        if found is None:
            raise UnitError(f"line {number} is not an Environment= line this project writes")
        body = _ESCAPE.sub(lambda m: m.group(1) or "%", found["body"])
        name, equals, value = body.partition("=")
        if not equals or not name:
            raise UnitError(f"line {number} sets no NAME=value")
        variables[name] = value
    return variables
