"""The programs agents run, as the workloads of the WAN benchmark: each a shell script run as the
sandbox user in a working directory (the mount, or local disk), with what it needs there first
and the direct boto3 route that leaves the bucket in the same state.

Scripts see $INPUTS (benchmarks/program_inputs.py, on local disk) and $OUT (an empty local
directory, for what a program copies out of the mount).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from benchmarks.program_inputs import LISTING_FILES


class Seed(Enum):
    """What the working directory holds before the timed script."""

    NOTHING = "nothing"
    EXTRACTED = "the tree extracted by tar, as the sandbox user (through the mount when timed)"
    LISTING = "1,000 one-byte files in listing/, as the backend writes them (S3 API)"
    TREE = "the 300-file tree, as the backend writes it (S3 API, no directory markers)"


class Route(Enum):
    """The direct boto3 route to the same end state, many requests in flight."""

    UPLOAD = "upload every file the program left (parallel PUTs)"
    UPLOAD_DOWNLOAD = "upload the file, then download it (transfer manager, parallel parts)"
    DELETE = "list the tree, then delete it (DeleteObjects)"
    LIST = "list the keys (one page per 1,000)"
    DOWNLOAD = "list the tree, then download every file (parallel GETs)"


@dataclass(frozen=True)
class Program:
    name: str
    script: str
    seed: Seed
    route: Route
    # The same paths and sizes in every run; git's are not: its object and pack names are hashes
    # over commit times, so only the shape of its tree (hashes left out) is compared.
    stable: bool = True
    # Run after the timed script, in the same directory, untimed: what the shape cannot show.
    verify: str | None = None


GIT = """
git init -q repo && cd repo
cp "$INPUTS"/src/* .
git add -A && git commit -qm "first"
for name in module00.py module05.py module10.py module15.py module19.py; do
    echo "# changed" >> "$name"
done
git commit -qam "second" && git gc -q
"""

# The repository is whole (every object reads back and hashes right) and holds both commits.
GIT_VERIFY = (
    'git -C repo fsck --strict --no-progress && [ "$(git -C repo rev-list --count HEAD)" = 2 ]'
)

# Each entry's size and name, kept in $OUT so a listing that lost or changed one fails the check.
LISTING = """ls -l listing | awk 'NR > 1 {print $5, $NF}' > "$OUT/listing"
"""

WRITERS = """
writers=()
for writer in 0 1 2 3; do
    mkdir -p "{directory}"
    (for number in $(seq 0 24); do
        cp "$INPUTS/small/$(printf %03d.bin $((number + writer * 25)))" "{directory}"/
    done) &
    writers+=($!)
done
for writer in "${{writers[@]}}"; do wait "$writer"; done
"""

PROGRAMS = (
    Program("`git init`, 20 files, two commits, `git gc`", GIT, Seed.NOTHING, Route.UPLOAD,
            stable=False, verify=GIT_VERIFY),
    Program("`rsync -a` of a 300-file tree", 'rsync -a "$INPUTS/tree" .', Seed.NOTHING,
            Route.UPLOAD),
    Program("`tar -xf` of 300 small files in 60 directories", 'tar -xf "$INPUTS/tree.tar"',
            Seed.NOTHING, Route.UPLOAD),
    Program("the same tree extracted, then `rm -rf`", "rm -rf tree", Seed.EXTRACTED,
            Route.DELETE),
    Program("200 appends to a log (`>>` in a shell loop)",
            'for step in $(seq 200); do echo "step $step done" >> run.log; done',
            Seed.NOTHING, Route.UPLOAD),
    Program("100 files of 4 KiB, one writer",
            'mkdir out && for name in "$INPUTS"/small/*; do cp "$name" out/; done',
            Seed.NOTHING, Route.UPLOAD),
    Program("4 parallel writers, 25 files each", WRITERS.format(directory="out"),
            Seed.NOTHING, Route.UPLOAD),
    # The kernel creates one name at a time in a directory (it holds the directory's lock from
    # the lookup to the create): writers in their own directories show what that costs.
    Program("4 parallel writers, each in its own directory",
            WRITERS.format(directory="out/$writer"), Seed.NOTHING, Route.UPLOAD),
    Program("sqlite: 20 transactions, then `vacuum`",
            'sqlite3 results.db < "$INPUTS/transactions.sql"', Seed.NOTHING, Route.UPLOAD),
    Program("64 MiB written, then read back",
            'cp "$INPUTS/big.bin" . && cmp "$INPUTS/big.bin" big.bin', Seed.NOTHING,
            Route.UPLOAD_DOWNLOAD),
    Program(f"`ls -l` of {LISTING_FILES:,} files", LISTING, Seed.LISTING,
            Route.LIST),
    Program("`cp -r` of the 300-file tree out of the mount", 'cp -r tree "$OUT"/', Seed.TREE,
            Route.DOWNLOAD),
)  # fmt: skip


def program_named(prefix: str) -> Program:
    """The program whose name starts with `prefix` (backquotes ignored), for --only."""
    found = [p for p in PROGRAMS if p.name.replace("`", "").startswith(prefix)]
    if len(found) != 1:
        names = ", ".join(repr(p.name.replace("`", "")) for p in PROGRAMS)
        raise SystemExit(f"--only {prefix!r} must start exactly one of: {names}")
    return found[0]
