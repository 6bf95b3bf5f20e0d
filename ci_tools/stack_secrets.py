"""Every secret a stack holds or is given: what CI masks in its job logs, and what the preview
guard searches a preview for. Standard library only.

The sources, each read through the Pulumi CLI (its output never printed) or from a saved copy:

- the stack's secret outputs (SECRET_OUTPUTS), from `pulumi stack output --json --show-secrets`;
- every secret in the stack's state, from `pulumi stack export --show-secrets`: each key slot's
  secret, the registry token and E2B key the template keeps, the image's secret build arguments.
  Pulumi writes each as {SECRET_SIGNATURE[0]: SECRET_SIGNATURE[1], "plaintext": <the value,
  JSON-encoded>} (pulumi/pulumi sdk/go/common/apitype/property-values.json, "Decrypted Secret");
- every secret config value, from `pulumi config --show-secrets --json` (the E2B key);
- the job's own credentials in its environment (JOB_CREDENTIALS).

A value shorter than MIN_LENGTH is left out: it occurs in any text by chance (a registry's user
name, `AWS`). A value with structure (a JSON document, lines such as the build arguments' dotenv)
is searched as a whole, and each value in it on its own, except those the stack also holds in
plain text: the key's id next to its secret is no secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from program.output_reader import (
    CONFIG,
    OUTPUTS,
    STATE,
    OutputsError,
    read_document,
    read_outputs,
)
from program.outputs import SECRET_OUTPUTS

SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
# What a preview or deployment job is given besides the stack's own secrets.
JOB_CREDENTIALS = (
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_ACCESS_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
MIN_LENGTH = 8
_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*=(?P<value>.*)")
_ESCAPED = re.compile(r"\\(.)")


@dataclass(frozen=True)
class KnownSecret:
    label: str
    """Where the stack holds it, for findings: "stack output secretAccessKey", never the value."""
    value: str
    structured: bool = False
    """A JSON document or lines: some of its text is no secret (names, the key's id)."""
    parts: tuple[str, ...] = ()
    """The values inside a structured secret that are secret on their own."""


def _json_container(text: str) -> object | None:
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        parsed: object = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def _line_value(line: str) -> str:
    """A dotenv line's value without its quotes and escapes, or the line itself."""
    assignment = _ASSIGNMENT.fullmatch(line)
    if assignment is None:
        return line.strip()
    value = assignment["value"].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = _ESCAPED.sub(r"\1", value[1:-1]) if value[0] == '"' else value[1:-1]
    return value


def _leaves(value: object) -> Iterator[str]:
    """The texts inside a JSON value, inside JSON documents held as strings, and the values of
    multi-line strings' lines."""
    if isinstance(value, dict):
        for inner in value.values():
            yield from _leaves(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner)
    elif isinstance(value, str):
        parsed = _json_container(value)
        if parsed is not None:
            yield from _leaves(parsed)
        elif "\n" in value.strip():
            yield from (_line_value(line) for line in value.splitlines())
        else:
            yield value.strip()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _known_secret(label: str, value: object, plain: str) -> KnownSecret | None:
    if isinstance(value, str) and _json_container(value) is None and "\n" not in value.strip():
        atomic = value.strip()
        return KnownSecret(label, atomic) if len(atomic) >= MIN_LENGTH else None
    if not isinstance(value, str | dict | list):
        return _known_secret(label, "" if value is None else str(value), plain)
    whole = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    parts = dict.fromkeys(
        part
        for part in _leaves(value)
        if len(part) >= MIN_LENGTH and part not in plain and part != whole
    )
    return KnownSecret(label, whole, True, tuple(parts)) if len(whole) >= MIN_LENGTH else None


def _resource_label(urn: str) -> str:
    """`resource NAME (TYPE)` from `urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME`."""
    pieces = urn.split("::")
    kind = pieces[-2].rsplit("$", 1)[-1] if len(pieces) >= 4 else "?"
    return f"resource {pieces[-1]} ({kind})"


def _state_secrets(state: Mapping[str, object]) -> tuple[list[tuple[str, object]], list[str]]:
    """(label, value) of every secret in an exported deployment, and its plain strings."""
    found: list[tuple[str, object]] = []
    plain: list[str] = []

    def walk(node: object, where: str, path: str) -> None:
        if isinstance(node, dict) and node.get(SECRET_SIGNATURE[0]) == SECRET_SIGNATURE[1]:
            if not isinstance(node.get("plaintext"), str):
                raise OutputsError(
                    f"the stack state holds a secret still encrypted ({where}, {path}): "
                    f"export it with `{STATE.cli()}`"
                )
            try:
                value: object = json.loads(node["plaintext"])
            except ValueError:
                value = node["plaintext"]
            found.append((f"{where}, {path}", value))
        elif isinstance(node, dict):
            if isinstance(node.get("urn"), str):
                where, path = _resource_label(node["urn"]), ""
            for key, inner in node.items():
                walk(inner, where, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, inner in enumerate(node):
                walk(inner, where, f"{path}[{index}]")
        elif isinstance(node, str):
            plain.append(node)

    if "version" not in state:  # stack outputs or config passed by mistake: no secret in sight
        raise OutputsError(
            f"the stack state given is no deployment: pass the output of `{STATE.cli()}`"
        )
    walk(state.get("deployment"), "the deployment", "")
    return found, plain


def _config_secrets(config: Mapping[str, object]) -> tuple[list[tuple[str, object]], list[str]]:
    """(label, value) of every secret config value, and the plain values' texts."""
    found: list[tuple[str, object]] = []
    plain: list[str] = []
    for key, entry in sorted(config.items()):
        if not isinstance(entry, dict):
            raise OutputsError(
                f"config {key} is not an object with a value: pass the output of `{CONFIG.cli()}`"
            )
        value = entry.get("objectValue", entry.get("value"))
        if not entry.get("secret"):
            plain += _leaves(value)
        elif "value" in entry or "objectValue" in entry:
            found.append((f"secret config {key}", value))
        else:
            raise OutputsError(
                f"secret config {key} has no value: it was read without --show-secrets. "
                f"Pass the output of `{CONFIG.cli()}`"
            )
    return found, plain


def known_secrets(
    outputs: Mapping[str, object],
    state: Mapping[str, object] | None = None,
    config: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[KnownSecret]:
    """Every secret of the sources given, each value once, under the first label that has it."""
    found = [(f"stack output {n}", v) for n, v in sorted(outputs.items()) if n in SECRET_OUTPUTS]
    plain = [text for n, v in outputs.items() if n not in SECRET_OUTPUTS for text in _leaves(v)]
    for source, read in ((config, _config_secrets), (state, _state_secrets)):
        if source is not None:
            secrets, texts = read(source)
            found += secrets
            plain += texts
    found += [(f"the job's {name}", (environ or {}).get(name)) for name in JOB_CREDENTIALS]
    corpus = "\0".join(plain)
    secrets_by_value: dict[str, KnownSecret] = {}
    for label, value in found:
        secret = _known_secret(label, value, corpus)
        if secret is not None:
            secrets_by_value.setdefault(secret.value, secret)
    return list(secrets_by_value.values())


def read_known_secrets(
    stack: str,
    outputs: str | None,
    state: str | None,
    config: str | None,
    environ: Mapping[str, str],
) -> list[KnownSecret]:
    """Every secret of the stack: each source a saved file, stdin (`-`) or the CLI (None)."""
    sources = ((OUTPUTS, outputs), (STATE, state), (CONFIG, config))
    from_stdin = [document.option for document, source in sources if source == "-"]
    if len(from_stdin) > 1:
        raise OutputsError(
            f"{' and '.join(from_stdin)} cannot both read stdin ('-'): save all but one to a file"
        )
    return known_secrets(
        read_outputs(stack, outputs),
        read_document(STATE, stack, state),
        read_document(CONFIG, stack, config),
        environ,
    )


def _workflow_command_data(value: str) -> str:
    """Escapes a value for a GitHub workflow command (`::add-mask::...`)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask_commands(secrets: Iterable[KnownSecret]) -> str:
    """`::add-mask::` for every line of every secret, and every secret value inside one."""
    values: dict[str, None] = {}
    for secret in secrets:
        lines = (line.strip() for line in secret.value.splitlines())
        values.update(dict.fromkeys(line for line in lines if len(line) >= MIN_LENGTH))
        values.update(dict.fromkeys(secret.parts))
    return "".join(f"::add-mask::{_workflow_command_data(value)}\n" for value in values)
