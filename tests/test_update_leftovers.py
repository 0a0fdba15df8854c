"""A generated project refuses what `copier update` may leave: conflict markers, .rej files."""

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import Project, project_environment, run, uv

LEFTOVER_TESTS = "tests/test_update_leftovers.py"
MARKER = "<" * 7 + " before updating\n"


def generated_leftover_tests(project: Project) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv(), "run", "pytest", "-q", "-p", "no:cacheprovider", LEFTOVER_TESTS],
        cwd=project.path,
        env=project_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def planted(project: Project) -> Iterator[list[Path]]:
    """Files planted in the shared generated project; removed afterwards whatever happens."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        path.unlink(missing_ok=True)


def test_generated_suite_fails_on_a_conflict_marker(project: Project, planted: list[Path]) -> None:
    conflicted = project.path / "src" / project.package / "conflicted.py"
    planted.append(conflicted)
    conflicted.write_text(f"{MARKER}x = 1\n{'=' * 7}\nx = 2\n{'>' * 7} after updating\n")

    result = generated_leftover_tests(project)

    assert result.returncode == 1, result.stdout
    assert f"unresolved conflict markers in ['src/{project.package}/conflicted.py']" in (
        result.stdout
    )
    assert "1 failed, 1 passed" in result.stdout


def test_generated_suite_fails_on_a_rejected_hunk(project: Project, planted: list[Path]) -> None:
    rejected = project.path / "README.md.rej"
    planted.append(rejected)
    rejected.write_text("diff a/README.md b/README.md\t(rejected hunks)\n@@ -1 +1 @@\n")

    result = generated_leftover_tests(project)

    assert result.returncode == 1, result.stdout
    assert "copier update left rejected hunks in ['README.md.rej']" in result.stdout
    assert "1 failed, 1 passed" in result.stdout


def test_generated_suite_passes_without_leftovers_and_skips_environments(
    project: Project, planted: list[Path]
) -> None:
    # A marker inside the virtualenv or a cache is not the project's own.
    cached = project.path / ".venv" / "conflicted.rej"
    planted.append(cached)
    cached.write_text(MARKER)

    result = generated_leftover_tests(project)

    assert result.returncode == 0, result.stdout
    assert "2 passed" in result.stdout


def hook(project: Project, hook_id: str) -> tuple[str, dict[str, object]]:
    config = yaml.safe_load((project.path / ".pre-commit-config.yaml").read_text())
    for repository in config["repos"]:
        for entry in repository["hooks"]:
            if entry["id"] == hook_id:
                return repository.get("rev", ""), entry
    raise AssertionError(f"no {hook_id} hook in .pre-commit-config.yaml")


def test_pre_commit_check_merge_conflict_catches_markers_outside_a_merge(
    project: Project, tmp_path: Path
) -> None:
    rev, entry = hook(project, "check-merge-conflict")
    assert entry["args"] == ["--assume-in-merge"]
    run("git", "init", "--quiet", cwd=tmp_path)  # the hook runs inside a repository
    conflicted = tmp_path / "conflicted.py"
    conflicted.write_text(f"{MARKER}x = 1\n{'=' * 7}\nx = 2\n{'>' * 7} after updating\n")
    clean = tmp_path / "README.md"
    clean.write_bytes((project.path / "README.md").read_bytes())
    # The hook as pre-commit would run it: the pinned pre-commit-hooks release from PyPI.
    command = [uv(), "tool", "run", "--from", f"pre-commit-hooks=={rev.removeprefix('v')}"]
    check = [*command, "check-merge-conflict", "--assume-in-merge"]

    flagged = subprocess.run(
        [*check, conflicted.name], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    run(*check, clean.name, cwd=tmp_path)

    assert flagged.returncode == 1
    assert "Merge conflict string" in flagged.stdout


def test_pre_commit_refuses_rej_files(project: Project) -> None:
    _, entry = hook(project, "no-rejected-hunks")

    assert entry["language"] == "fail"  # pre-commit fails on any staged file it matches
    assert re.search(str(entry["files"]), "src/acme_service/main.py.rej")
    assert not re.search(str(entry["files"]), "src/acme_service/main.py")
