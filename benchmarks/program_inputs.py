"""The inputs of the program workloads, made once per run on local disk, the same bytes every run
(seeded), readable by the sandbox user: the program reads them from here and writes the mount."""

from __future__ import annotations

import os
import random
import tarfile
from pathlib import Path

MIB = 1024 * 1024
TREE_TOP, TREE_SUB, FILES_PER_DIR = 10, 5, 5  # 10 + 10 x 5 = 60 directories, 300 files
SOURCE_FILES = 20
SMALL_FILES, SMALL_SIZE = 100, 4096
LISTING_FILES = 1000
BIG_SIZE = 64 * MIB
TRANSACTIONS, ROWS_PER_TRANSACTION = 20, 50
TREE_MTIME = 1_750_000_000  # fixed, so the tarball is the same bytes every run


def tree_directories() -> list[str]:
    """The tree's 60 directories, relative to its root `tree`."""
    tops = [f"tree/pkg{top}" for top in range(TREE_TOP)]
    return [*tops, *(f"{top}/mod{sub}" for top in tops for sub in range(TREE_SUB))]


def text(rng: random.Random, size: int) -> bytes:
    """Source-like bytes: lines of short words (compressible as real text is, for git)."""
    words = ["def", "return", "value", "self", "import", "for", "in", "if", "result", "data"]
    lines, length = [], 0
    while length < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 10))) + "\n"
        lines.append(line)
        length += len(line)
    return "".join(lines).encode()[:size]


def write_tree(root: Path, rng: random.Random) -> None:
    for directory in tree_directories():
        (root / directory).mkdir(parents=True)
        for number in range(FILES_PER_DIR):
            (root / directory / f"file{number}.txt").write_bytes(text(rng, rng.randint(512, 8192)))


def write_tarball(tree_parent: Path, tarball: Path) -> None:
    """`tree/` as the sandbox user would get it in an archive: its files, modes and times."""

    def normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 1000
        info.uname = info.gname = "user"
        info.mtime = TREE_MTIME
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with tarfile.open(tarball, "w") as archive:
        archive.add(tree_parent / "tree", arcname="tree", filter=normalized)


def transactions_sql() -> str:
    statements = ["CREATE TABLE results (id INTEGER PRIMARY KEY, step INTEGER, note TEXT);"]
    for step in range(TRANSACTIONS):
        rows = ", ".join(
            f"({step}, 'result {step}-{row} {'x' * 40}')" for row in range(ROWS_PER_TRANSACTION)
        )
        insert = f"INSERT INTO results (step, note) VALUES {rows};"  # noqa: S608 (our own rows)
        statements += ["BEGIN;", insert, "COMMIT;"]
    return "\n".join([*statements, "VACUUM;", ""])


def make_inputs(root: Path) -> Path:
    """Every input under root/inputs: tree/, tree.tar, src/, small/, big.bin, transactions.sql."""
    rng = random.Random(20)  # noqa: S311 (the same inputs every run, not a secret)
    inputs = root / "inputs"
    write_tree(inputs, rng)
    write_tarball(inputs, inputs / "tree.tar")
    (inputs / "src").mkdir()
    for number in range(SOURCE_FILES):
        (inputs / "src" / f"module{number:02d}.py").write_bytes(text(rng, rng.randint(1024, 4096)))
    (inputs / "small").mkdir()
    for number in range(SMALL_FILES):
        (inputs / "small" / f"{number:03d}.bin").write_bytes(rng.randbytes(SMALL_SIZE))
    (inputs / "big.bin").write_bytes(rng.randbytes(BIG_SIZE))
    (inputs / "transactions.sql").write_text(transactions_sql())
    for directory, _subdirectories, files in os.walk(root):
        Path(directory).chmod(0o755)
        for name in files:
            (Path(directory) / name).chmod(0o644)
    return inputs
