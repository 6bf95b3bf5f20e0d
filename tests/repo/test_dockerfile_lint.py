"""The sandbox Dockerfile: linters (hadolint, checkov) and the static rules the linters miss.

The static rules: the image sets no ENV (the baked settings file is the one place of the bucket's
settings, and ENV would shadow it), only the last RUN sees the key pair (so a rotation re-runs one
step), the base image is pinned, and nothing is fetched but Debian's and PyPI's packages.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.paths import DOCKERFILE, REPO_ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CREDENTIAL_ARGS = ("SANDBOX_CREDENTIALS",)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def arg_names(arguments: str) -> list[str]:
    """The names one ARG instruction declares (`ARG A=1 B` declares A and B)."""
    return [token.partition("=")[0] for token in shlex.split(arguments)]


def arg_defaults(parsed: list[tuple[str, str]]) -> dict[str, str | None]:
    defaults: dict[str, str | None] = {}
    for keyword, arguments in parsed:
        if keyword == "ARG":
            for token in shlex.split(arguments):
                name, equals, default = token.partition("=")
                defaults[name] = default if equals else None
    return defaults


@pytest.fixture(scope="module")
def parsed() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def test_instruction_parser_joins_continuations_and_skips_comments() -> None:
    text = "# c\nARG A=1 \\\n    B\nRUN one \\\n    # inner comment\n    && two\nENV C=${A}\n"
    parsed = instructions(text)
    assert parsed == [("ARG", "A=1  B"), ("RUN", "one  && two"), ("ENV", "C=${A}")]
    assert arg_defaults(parsed) == {"A": "1", "B": None}


def test_hadolint_is_clean_at_warning_level() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    blocking = [f for f in findings if f["level"] in ("warning", "error")]
    assert blocking == [], result.stdout
    assert result.returncode == 0, result.stderr


def _checkov_report(output: str) -> dict[str, Any]:
    data = json.loads(output)
    # checkov prints one object per framework, as a list when there are several.
    reports: list[dict[str, Any]] = data if isinstance(data, list) else [data]
    (report,) = [r for r in reports if r.get("check_type") == "dockerfile"]
    return report


def test_checkov_has_no_failed_checks_and_every_skip_has_a_reason() -> None:
    if not CHECKOV.exists():
        pytest.fail(
            f"{CHECKOV} is missing: run `make test-repo` (or `bash .ci/install-test-deps.sh repo`)"
        )
    result = subprocess.run(
        [
            *(str(CHECKOV), "--framework", "dockerfile", "--skip-download"),
            *("--output", "json", "--file", str(DOCKERFILE)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = _checkov_report(result.stdout)
    failed = [(c["check_id"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 0
    for skipped in report["results"]["skipped_checks"]:
        reason = (skipped["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 20, f"{skipped['check_id']} is skipped without a reason"


def test_every_hadolint_ignore_is_explained_by_the_comment_above() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    ignores = [n for n, line in enumerate(lines) if line.startswith("# hadolint ignore=")]
    assert ignores, "expected the documented DL3008/DL3064 ignores"
    for number in ignores:
        above = lines[number - 1] if number else ""
        assert above.startswith("# ") and "hadolint" not in above, (
            f"line {number + 1}: `{lines[number]}` needs its reason in the comment line above"
        )


def test_the_image_sets_no_environment(parsed: list[tuple[str, str]]) -> None:
    assert [arguments for keyword, arguments in parsed if keyword == "ENV"] == []


def test_from_uses_base_image_arg_pinned_to_a_digest_or_version(
    parsed: list[tuple[str, str]],
) -> None:
    froms = [arguments for keyword, arguments in parsed if keyword == "FROM"]
    # The mount program's zipapp is built in a stage of the same base; the image is the last.
    assert froms == ["${BASE_IMAGE} AS mount-program", "${BASE_IMAGE}"]
    default = arg_defaults(parsed)["BASE_IMAGE"]
    assert default is not None and default.startswith("e2bdev/code-interpreter")
    name, _, digest = default.partition("@sha256:")
    tag = name.rpartition(":")[2] if ":" in name else ""
    assert _SHA256.match(digest) or (tag and tag != "latest"), default


def test_nothing_is_fetched_but_debian_and_pypi_packages(parsed: list[tuple[str, str]]) -> None:
    runs = [arguments for keyword, arguments in parsed if keyword in ("RUN", "ADD")]
    fetching = [r for r in runs if re.search(r"\b(curl|wget|git clone)\b|https?://", r)]
    assert fetching == []


def test_only_the_last_run_follows_the_credential_args(parsed: list[tuple[str, str]]) -> None:
    declares = [
        n
        for n, (keyword, arguments) in enumerate(parsed)
        if keyword == "ARG" and set(CREDENTIAL_ARGS) & set(arg_names(arguments))
    ]
    assert declares, "the credentials are expected as build args"
    after = [keyword for keyword, _ in parsed[min(declares) :]]
    assert after.count("RUN") == 1
    assert after[-1] == "RUN"
    assert "ENV" not in after and "COPY" not in after
