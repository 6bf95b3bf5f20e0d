"""The mount program's own rules for a mount dir and an endpoint, applied by the stack too.

The mount program (docker/e2b-sandbox/s3mount.py) runs in the image and on backend hosts, so it
lives in the image's build context and checks its settings itself. The stack refuses the same
values before any resource exists, with the very same functions, loaded here from that file: one
rule, enforced where a value is set and where it is used. The outputs tool writes its files the
program's way too (`write_atomically`), so a reader never sees half a file on either side.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from components.backend_files import MOUNT_PROGRAM


def _load() -> object:
    """The program as the module `s3mount` (the name its tests import it by: one module)."""
    if "s3mount" in sys.modules:
        return sys.modules["s3mount"]
    spec = importlib.util.spec_from_file_location("s3mount", MOUNT_PROGRAM)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the mount program from {MOUNT_PROGRAM}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["s3mount"] = module  # its dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


_PROGRAM = _load()
mount_dir_problem: Callable[[str], str | None] = getattr(_PROGRAM, "mount_dir_problem")  # noqa: B009
endpoint_url_problem: Callable[[str], str | None] = getattr(_PROGRAM, "endpoint_url_problem")  # noqa: B009
write_atomically: Callable[[Path, str, int], None] = getattr(_PROGRAM, "write_atomically")  # noqa: B009
