"""The backend host's key file: Secrets Manager's value (the key pair as JSON) as an env file."""

from __future__ import annotations

import json
from pathlib import Path

from s3mount import contract
from s3mount.settings import MountSettingsError, key_pair_problems
from s3mount.status import write_atomically

HEADER = "The backend's S3 key pair, from Secrets Manager. Keep it 0600; never commit it."


def write_key_file(secret_json: str, output: Path) -> None:
    """The key pair as an env file, 0600, written atomically; anything else in the JSON is
    refused, never written."""
    try:
        pair = json.loads(secret_json)
    except ValueError:
        raise MountSettingsError("stdin is not JSON: pipe in the secret's SecretString") from None
    if (
        not isinstance(pair, dict)
        or sorted(pair) != sorted(contract.KEY_PAIR)
        or not all(isinstance(value, str) for value in pair.values())
    ):
        raise MountSettingsError(
            f"the secret must hold exactly {' and '.join(contract.KEY_PAIR)}, as text"
        )
    problems = key_pair_problems(pair)  # the same checks as for a mount
    if problems:
        raise MountSettingsError("; ".join(problems))
    text = contract.render_env({name: pair[name] for name in contract.KEY_PAIR}, header=HEADER)
    write_atomically(output, text, 0o600)
