"""Every command README.md and docs/*.md give, checked as far as this machine can: a make target
exists, a `python3 -m` command is accepted by its module's own parser (with every flag the parser
requires), a listed choice is one the parser has, a path is in the project, a `pulumi` command is
one the CLI has (the CLI cannot run here). Commands of other tools (systemctl, docker, aws) are
theirs.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# Top-level entries a path in the docs may start with: the project's own.
PROJECT_ENTRIES = {p.name for p in REPO_ROOT.iterdir()} - {
    ".git",
    ".venv",
    ".venv-checkov",
    "build",
}
# The Pulumi CLI's commands the docs may use (`pulumi --help`, `pulumi stack --help`).
PULUMI_COMMANDS = {
    "login", "preview", "up", "destroy", "refresh", "install", "config set", "stack init",
    "stack select", "stack output",
}  # fmt: skip
# How the zipapp the backend's host receives runs: the s3mount package it is built from.
ZIPAPP = "s3mount.pyz"


def _code(text: str) -> list[str]:
    """Inline code spans and the lines of shell blocks, continuation lines joined."""
    found: list[str] = []
    blocks = re.split(r"^```.*$", text, flags=re.M)
    for index, part in enumerate(blocks):
        if index % 2:  # inside a fenced block
            if not re.match(r"\s*(flowchart|graph|sequenceDiagram)", part):
                found += [line for line in part.replace("\\\n", " ").splitlines() if line.strip()]
        else:
            found += re.findall(r"`([^`\n]+)`", part)
    return found


def _commands(snippet: str) -> list[list[str]]:
    """A snippet's commands as words: pipes and && split it, comments, sudo and VAR=value go."""
    snippet = snippet.split(" #", 1)[0].strip()
    commands = []
    for part in re.split(r" \| | && ", snippet):
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        while words and (words[0] == "sudo" or re.fullmatch(r"[A-Z_]+=\S*", words[0])):
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def documented() -> list[tuple[str, list[str]]]:
    """(document, command words) for every command the docs give."""
    return [
        (doc.name, words)
        for doc in DOCS
        for snippet in _code(doc.read_text())
        for words in _commands(snippet)
    ]


def _is_python(words: list[str]) -> bool:
    return Path(words[0]).name in {"python", "python3"} and len(words) > 1


def _module(words: list[str]) -> tuple[str, list[str]]:
    """(module, arguments) of a python command."""
    if words[1] == "-m":
        return words[2], words[3:]
    if Path(words[1]).name == ZIPAPP:
        return "s3mount", words[2:]
    raise AssertionError(f"not a module run: {shlex.join(words)}")


def _alternatives(arguments: list[str]) -> list[list[str]]:
    """`--format mask|github|json` is one command per choice."""
    for index, word in enumerate(arguments):
        if re.fullmatch(r"[a-z-]+(\|[a-z-]+)+", word):
            return [
                [*arguments[:index], choice, *arguments[index + 1 :]] for choice in word.split("|")
            ]
    return [arguments]


PYTHON = sorted(
    {(doc, shlex.join(w)) for doc, w in documented() if _is_python(w)}, key=lambda c: c[1]
)


@cache
def usage(module: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n\n", 1)[0]


def required_flags(usage_text: str) -> set[str]:
    """The flags a usage line shows outside [brackets]: those the parser requires."""
    outside = usage_text
    while re.search(r"\[[^\[\]]*\]", outside):
        outside = re.sub(r"\[[^\[\]]*\]", "", outside)
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", outside))


def test_the_docs_give_commands_of_each_kind() -> None:
    # Guards the tests below against an extraction that finds nothing.
    kinds = {words[0] for _, words in documented()}
    assert {"make", "pulumi", "python3"} <= kinds
    assert len(PYTHON) >= 10


def test_every_make_target_named_exists() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    named = {w[1] for _, w in documented() if w[0] == "make" and len(w) > 1}
    assert named and sorted(named - targets) == []


@pytest.mark.parametrize(("doc", "command"), PYTHON)
def test_every_python_command_is_one_its_parser_accepts(doc: str, command: str) -> None:
    module, arguments = _module(shlex.split(command))
    text = usage(module)
    for variant in _alternatives(arguments):
        # argparse checks each flag and choice as it reads them; --help then stops it.
        result = subprocess.run(
            [sys.executable, "-m", module, *variant, "--help"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{doc}: `{command}`: {result.stderr.strip()}"
        given = {word.split("=", 1)[0] for word in variant if word.startswith("--")}
        missing = required_flags(text) - given
        assert not missing, f"{doc}: `{command}` lacks {sorted(missing)}"


@pytest.mark.parametrize(("doc", "command"), PYTHON)
def test_listed_choices_are_all_the_parsers_choices(doc: str, command: str) -> None:
    module, arguments = _module(shlex.split(command))
    for index, word in enumerate(arguments):
        if "|" in word and index:
            choices = re.search(rf"{re.escape(arguments[index - 1])} \{{([^}}]+)\}}", usage(module))
            assert choices is not None, f"{doc}: `{command}`"
            assert set(word.split("|")) == set(choices[1].split(",")), f"{doc}: `{command}`"


def test_every_pulumi_command_is_one_the_cli_has() -> None:
    unknown = set()
    for doc, words in documented():
        if words[0] == "pulumi" and len(words) > 1:
            command = " ".join(w for w in words[1:3] if not w.startswith("-"))
            if not any(command == c or command.startswith(f"{c} ") for c in PULUMI_COMMANDS):
                unknown.add(f"{doc}: {shlex.join(words)}")
    assert sorted(unknown) == []


def _paths() -> set[tuple[str, str]]:
    found = set()
    for doc in DOCS:
        for snippet in _code(doc.read_text()):
            for word in snippet.split():
                path = word.strip("`'\",;:()")
                first = path.split("/", 1)[0]
                if "/" in path and first in PROJECT_ENTRIES and "://" not in path:
                    found.add((doc.name, path))
    return found


def test_every_project_path_named_exists() -> None:
    assert len(_paths()) > 20
    missing = []
    for doc, path in sorted(_paths()):
        pattern = re.sub(r"<[^>]+>", "*", path).rstrip("/")
        if not list(REPO_ROOT.glob(pattern)):
            missing.append(f"{doc}: {path}")
    assert missing == []


def test_the_real_environment_steps_set_the_e2b_key_and_make_stacks_as_ci_docs_do() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("For a real environment", 1)[1].split("```", 2)[1]
    assert "pulumi config set --secret e2b-sandbox:e2bApiKey" in block
    ci = (REPO_ROOT / "docs" / "ci.md").read_text()
    # One way to make a stack everywhere: `pulumi stack init`, the way docs/ci.md does.
    assert "pulumi stack init dev" in block and "pulumi stack init dev" in ci
    assert "--create" not in readme + ci
