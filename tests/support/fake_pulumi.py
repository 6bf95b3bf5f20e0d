"""A fake `pulumi` CLI for the CI tools' and workflows' tests: it answers `stack output`,
`stack export` and `config` with the sample stack's documents, and `preview` with a saved text
and exit status, and logs every call it gets."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.sample_outputs import STACK_CONFIG, STACK_OUTPUTS, STACK_STATE


class FakePulumi:
    def __init__(self, root: Path) -> None:
        """Writes the fake into `root`/bin (put it first on PATH) and its answers into `root`."""
        self.root, self.bin_dir = root, root / "bin"
        self.bin_dir.mkdir(parents=True)
        for name, document in (
            ("output", STACK_OUTPUTS),
            ("export", STACK_STATE),
            ("config", STACK_CONFIG),
        ):
            (root / f"{name}.json").write_text(json.dumps(document))
        self.set_preview("", 0)
        script = self.bin_dir / "pulumi"
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$@" >> {root}/calls\n'
            'case "$1 $2" in\n'
            f'  "stack output") cat {root}/output.json ;;\n'
            f'  "stack export") cat {root}/export.json ;;\n'
            f'  "config --stack") cat {root}/config.json ;;\n'
            # Whatever flags the workflow adds to its preview (a policy pack, say).
            f'  "preview "*) cat {root}/preview.txt; exit "$(cat {root}/status)" ;;\n'
            '  *) echo "unexpected: pulumi $*" >&2; exit 2 ;;\n'
            "esac\n"
        )
        script.chmod(0o755)

    @property
    def path(self) -> str:
        """A PATH with the fake first."""
        return f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}"

    def set_preview(self, text: str, status: int) -> None:
        (self.root / "preview.txt").write_text(text)
        (self.root / "status").write_text(str(status))

    def calls(self) -> list[str]:
        log = self.root / "calls"
        return log.read_text().splitlines() if log.exists() else []
