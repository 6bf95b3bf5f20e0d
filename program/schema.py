"""The stack's configuration schema, read from its one home: Pulumi.yaml's `config:` section.

Each key's type picks the SDK getter that reads it, and its default fills a key the stack leaves
unset (the engine does the same before the program runs; tests run without the engine).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
TYPES = ("string", "integer", "boolean", "array")


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: str
    description: str
    default: Any = None
    required: bool = False
    """Declared without a default: every stack must set it."""


@cache
def project() -> Mapping[str, Any]:
    document: Mapping[str, Any] = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))
    return document


def project_name() -> str:
    return str(project()["name"])


@cache
def config_keys() -> Mapping[str, ConfigKey]:
    """Every project key Pulumi.yaml declares, in its order."""
    keys = {}
    for name, spec in project()["config"].items():
        if spec["type"] not in TYPES:
            raise ValueError(f"Pulumi.yaml: {name} has type {spec['type']!r}, not one of {TYPES}")
        keys[name] = ConfigKey(
            name=name,
            type=spec["type"],
            description=spec["description"],
            default=spec.get("default"),
            required="default" not in spec,
        )
    return keys


def field_name(key: str) -> str:
    """The Settings field a config key fills: noncurrentVersionDays -> noncurrent_version_days."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


# The README's configuration table is generated from Pulumi.yaml between these markers.
TABLE_START = "<!-- config-table: generated from Pulumi.yaml by `python -m program.schema` -->"
TABLE_END = "<!-- config-table: end -->"


def _shown_default(key: ConfigKey) -> str:
    if key.required:
        return "(required)"
    if key.default in ("", []):
        return "empty"
    if isinstance(key.default, bool):
        return f"`{str(key.default).lower()}`"
    if isinstance(key.default, list):
        return f"`[{', '.join(key.default)}]`"
    return f"`{key.default}`"


def _markdown(text: str) -> str:
    """Text for a table cell: a <placeholder> must not read as an HTML tag."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def config_table() -> str:
    """The README's table of every declared key: its default and what it means."""
    rows = [
        f"| `{key.name}` | {key.type} | {_shown_default(key)} | {_markdown(key.description)} |"
        for key in config_keys().values()
    ]
    header = "| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |"
    return "\n".join([TABLE_START, header, *rows, TABLE_END])


def with_config_table(readme: str) -> str:
    """The README with its configuration table replaced by the one Pulumi.yaml gives."""
    start, end = readme.index(TABLE_START), readme.index(TABLE_END) + len(TABLE_END)
    return readme[:start] + config_table() + readme[end:]


if __name__ == "__main__":
    readme_path = PROJECT_FILE.parent / "README.md"
    readme_path.write_text(with_config_table(readme_path.read_text(encoding="utf-8")))
    print(f"wrote the configuration table into {readme_path}")
