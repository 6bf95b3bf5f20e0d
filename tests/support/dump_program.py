"""Print, as JSON, every resource the program declares for each stack under mocks.

Run as a separate process (`python -m tests.support.dump_program`) so that two runs share no
interpreter state: anything random, time-dependent or order-dependent then shows up as a difference.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pulumi.runtime.rpc import unwrap_rpc_secret

from tests.support.program import STACKS, run_program
from tests.support.pulumi_mocks import install_mocks


def _plain(value: Any) -> Any:
    value = unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def dump() -> dict[str, list[dict[str, Any]]]:
    mocks = install_mocks()
    return {
        stack: [
            {"type": r.type, "name": r.name, "inputs": _plain(r.inputs)}
            for r in run_program(mocks, stack).resources
        ]
        for stack in STACKS
    }


if __name__ == "__main__":
    json.dump(dump(), sys.stdout, sort_keys=True, default=str)
