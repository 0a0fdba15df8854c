"""Nothing left over from `copier update`: conflict markers or rejected hunks fail.

An update that meets your own edit leaves the conflict as inline markers (or, with
`copier update --conflict rej`, as a `.rej` file beside the file). Either one, once
committed by mistake, breaks the project later, so the suite refuses them until they
are resolved.
"""

import os
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Environments, tool caches and the embedded PostgreSQL servers' data (.postgres)
# are not the project's own files.
NOT_SCANNED = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".postgres",
        "node_modules",
    }
)
# Spelled in parts so this file does not itself contain what it looks for.
MARKERS = tuple(f"{character * 7} ".encode() for character in "<|>")


def project_files() -> Iterator[Path]:
    """Every file in the working tree, tracked or not, outside NOT_SCANNED."""
    for directory, subdirectories, files in os.walk(PROJECT_ROOT):
        subdirectories[:] = sorted(set(subdirectories) - NOT_SCANNED)
        for name in files:
            path = Path(directory, name)
            if path.is_file():
                yield path


def has_markers(path: Path) -> bool:
    with path.open("rb") as lines:
        return any(line.startswith(MARKERS) for line in lines)


def relative(paths: list[Path]) -> list[str]:
    return sorted(str(path.relative_to(PROJECT_ROOT)) for path in paths)


def test_no_rejected_hunks_are_left() -> None:
    rejected = relative([path for path in project_files() if path.suffix == ".rej"])

    assert not rejected, (
        f"copier update left rejected hunks in {rejected}: apply each one to the file "
        "it names by hand, then delete the .rej file"
    )


def test_no_conflict_markers_are_left() -> None:
    conflicted = relative([path for path in project_files() if has_markers(path)])

    assert not conflicted, (
        f"unresolved conflict markers in {conflicted}: keep the right lines, delete "
        "the marker lines, then run the tests again"
    )
