"""Carry an owner's edits over to a file that a template release renamed or moved.

Copier, updating a project, deletes a file the new release no longer renders (edits and
all) and writes the file under its new name fresh: the owner's edits would be lost
silently. A `_migrations` entry in copier.yml runs this script after the update, from the
project's root, with `OLD NEW` path pairs (as rendered). For each pair it three-way merges
- the owner's OLD as committed before the update (the update needs a clean tree),
- OLD as the previous release rendered it with the previous answers (the common base),
- NEW as the new release rendered it (what Copier just wrote),
into NEW, and removes OLD. Edits that collide with the template's own change are left as
conflict markers labelled like Copier's ("before updating" / "after updating"), which the
project's pre-commit hook and test suite refuse until they are resolved.

Running it again changes nothing: a NEW that already carries the edits merges to itself,
and a NEW that still holds conflict markers is left alone.
"""

import subprocess
import sys
from pathlib import Path, PurePosixPath
from tempfile import TemporaryDirectory
from typing import Any

import copier
import yaml

ANSWERS_FILE = ".copier-answers.yml"  # copier.yml's _answers_file
LABELS = ("before updating", "last update", "after updating")  # Copier's own
CONFLICT_START = f"{'<' * 7} {LABELS[0]}".encode()


class MigrationError(Exception):
    """The migration cannot run; the message says what to do."""


def committed(path: PurePosixPath) -> bytes | None:
    """The file as committed in HEAD, or None when HEAD has no such file."""
    result = subprocess.run(["git", "show", f"HEAD:./{path}"], capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else None


def previous_answers() -> dict[str, Any]:
    text = committed(PurePosixPath(ANSWERS_FILE))
    if text is None:
        raise MigrationError(f"{ANSWERS_FILE} is not committed: commit it and update again.")
    answers: dict[str, Any] = yaml.safe_load(text)
    return answers


def render_previous_release(destination: Path) -> None:
    """Render the release the project was on, with its answers, as Copier's update does."""
    answers = previous_answers()
    copier.run_copy(
        answers["_src_path"],
        destination,
        data={key: value for key, value in answers.items() if not key.startswith("_")},
        vcs_ref=answers["_commit"],
        defaults=True,
        overwrite=True,
        quiet=True,
        skip_tasks=True,
    )


def merge(owner: bytes, base: bytes, template: bytes) -> tuple[bytes, int]:
    """Three-way merge with git; returns the result and the number of conflicts."""
    with TemporaryDirectory() as scratch:
        paths = [Path(scratch, name) for name in ("owner", "base", "template")]
        for path, content in zip(paths, (owner, base, template), strict=True):
            path.write_bytes(content)
        labels = [argument for label in LABELS for argument in ("-L", label)]
        result = subprocess.run(
            ["git", "merge-file", "-p", *labels, *map(str, paths)],
            capture_output=True,
            check=False,
        )
    if not 0 <= result.returncode < 128:
        raise MigrationError(f"git merge-file failed: {result.stderr.decode().strip()}")
    return result.stdout, result.returncode


def carry(old: PurePosixPath, new: PurePosixPath, previous_release: Path) -> str:
    """Carry the owner's edits of OLD into NEW; returns what happened, for the owner."""
    owner = committed(old)
    if owner is None:
        return f"{old}: not in the project, nothing to carry"
    base_path = previous_release / old
    if base_path.is_file() and owner == base_path.read_bytes():
        return f"{old}: not edited, {new} is the template's"
    new_path, old_path = Path(new), Path(old)
    if not base_path.is_file() or not new_path.is_file():
        # No common base or nothing to merge into: keep the owner's file where it was.
        old_path.parent.mkdir(parents=True, exist_ok=True)
        old_path.write_bytes(owner)
        return f"{old}: kept as it was; move your edits to {new} by hand"
    template = new_path.read_bytes()
    if CONFLICT_START in template:
        return f"{new}: already carried, conflicts await resolution"
    merged, conflicts = merge(owner, base_path.read_bytes(), template)
    new_path.write_bytes(merged)
    old_path.unlink(missing_ok=True)
    Path(f"{old}.rej").unlink(missing_ok=True)  # Copier's failed patch of OLD
    if conflicts:
        return f"{old} -> {new}: edits carried, {conflicts} conflict(s) to resolve in {new}"
    return f"{old} -> {new}: edits carried"


def parse_pairs(arguments: list[str]) -> list[tuple[PurePosixPath, PurePosixPath]]:
    if not arguments or len(arguments) % 2:
        raise MigrationError("usage: carry_renamed_file.py OLD NEW [OLD NEW ...]")
    paths = [PurePosixPath(argument) for argument in arguments]
    for path in paths:
        if path.is_absolute() or ".." in path.parts:
            raise MigrationError(f"{path}: give paths relative to the project root")
    return list(zip(paths[::2], paths[1::2], strict=True))


def main(arguments: list[str]) -> int:
    try:
        pairs = parse_pairs(arguments)
        with TemporaryDirectory() as previous_release:
            render_previous_release(Path(previous_release))
            for old, new in pairs:
                print(f"carry_renamed_file: {carry(old, new, Path(previous_release))}")
    except MigrationError as error:
        print(f"carry_renamed_file: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
