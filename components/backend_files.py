"""The files the backend receives: their names and where they are written.

Standard library only, so that the CI tool (tools/stack_outputs.py) shares them with the program
without importing Pulumi.
"""

from __future__ import annotations

import re

# The dotenv with the key; the override's env_file names it, the outputs tool writes it (0600).
ENV_FILE_NAME = "e2b-s3.env"
OVERRIDE_FILE_NAME = "docker-compose.s3.yml"
# A value with one of these would break a YAML scalar or a dotenv line.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def default_path(stack: str, file_name: str) -> str:
    """Where a backend file goes by default, relative to the project: build/<stack>/<file>."""
    return f"build/{stack}/{file_name}"
