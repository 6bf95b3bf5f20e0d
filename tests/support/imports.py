"""What a Python module imports, read from its source: for the tests that hold a layer or a
package to what it may import."""

from __future__ import annotations

import ast
from pathlib import Path


def absolute_imports(path: Path) -> set[str]:
    """The dotted names `path` imports (`import a.b`, `from a.b import c`: a.b), relative ones
    left out."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names
