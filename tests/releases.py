"""Throwaway template repositories with real release tags, and generated projects in git.

A release is this working tree (committed or not) copied into a new repository, plus
optional changes, committed and tagged; Copier then copies and updates projects from it
exactly as it would from the published template.
"""

import io
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from packaging.version import InvalidVersion, Version

from tests.support import ROOT, Project, project_environment, run

ANSWERS_FILE = ".copier-answers.yml"
# Not part of a project's or a template's content: git data, environments, caches.
# Git-ignored: environments, caches, and .postgres/, where this run's server lives.
NOT_CONTENT = frozenset(
    {
        ".git",
        ".venv",
        "__pycache__",
        ".cache",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".postgres",
    }
)
CONFLICT_MARKERS = tuple(f"{character * 7} ".encode() for character in "<|>")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}

Change = Callable[[Path], None]


def git(*args: str, cwd: Path) -> str:
    return run("git", *args, cwd=cwd, env=project_environment(**GIT_IDENTITY)).stdout


def commit_all(path: Path, message: str) -> None:
    git("add", "--all", cwd=path)
    git("commit", "--quiet", "--no-verify", "--allow-empty", "-m", message, cwd=path)


def ignore_not_content(directory: str, names: list[str]) -> set[str]:
    return {name for name in names if name in NOT_CONTENT}


@dataclass(frozen=True)
class TemplateRepository:
    path: Path

    @classmethod
    def from_working_tree(cls, path: Path) -> "TemplateRepository":
        shutil.copytree(ROOT, path, ignore=ignore_not_content)
        git("init", "--quiet", "--initial-branch=main", cwd=path)
        return cls(path)

    @classmethod
    def from_commit(cls, path: Path, commit: str) -> "TemplateRepository":
        """A new repository holding this repository's files at an earlier commit."""
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            pytest.fail(
                f"commit {commit} is not in this clone ({archive.stderr.decode().strip()}); "
                "the update rehearsals need the full history: `git fetch --unshallow`",
                pytrace=False,
            )
        path.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as files:
            files.extractall(path, filter="data")
        git("init", "--quiet", "--initial-branch=main", cwd=path)
        return cls(path)

    def release(self, tag: str, *changes: Change) -> str:
        """Apply the changes, commit and tag them; returns the tag."""
        for change in changes:
            change(self.path)
        commit_all(self.path, f"Release {tag}")
        git("tag", tag, cwd=self.path)
        return tag

    def copy(self, destination: Path, tag: str, *, commit: bool = True, **answers: Any) -> Project:
        """Generate a project from a release and commit it in git, as its owner would."""
        data = {"project_name": "Acme Service", **answers}
        copier.run_copy(
            str(self.path), destination, data=data, vcs_ref=tag, defaults=True, quiet=True
        )
        if commit:
            git("init", "--quiet", "--initial-branch=main", cwd=destination)
            commit_all(destination, f"Generate from template {tag}")
        return Project(path=destination, flavour=data.get("flavour", "sync"))

    def update(
        self,
        project: Project,
        tag: str,
        *,
        conflict: str = "inline",
        trust: bool = True,
        **answers: Any,
    ) -> Project:
        """`copier update --defaults [--trust] --vcs-ref TAG --data ...`, as the README says."""
        copier.run_update(
            project.path,
            data=answers,
            vcs_ref=tag,
            defaults=True,
            overwrite=True,
            unsafe=trust,
            conflict=conflict,
            quiet=True,
        )
        return Project(path=project.path, flavour=answers.get("flavour", project.flavour))


def become_working_tree(template: Path) -> None:
    """A release change: the template becomes this working tree (committed or not)."""
    for entry in template.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.copytree(ROOT, template, ignore=ignore_not_content, dirs_exist_ok=True)


def release_tags(repository: Path) -> list[str]:
    """PEP 440 tags of the repository's history, oldest release first."""
    tags = git("tag", "--merged", "HEAD", cwd=repository).split()
    versions = {}
    for tag in tags:
        try:
            versions[tag] = Version(tag)
        except InvalidVersion:
            continue
    return sorted(versions, key=versions.__getitem__)


def content(path: Path) -> dict[str, bytes]:
    """Every file of a project or template, relative path -> bytes; answers without _commit."""
    files = {}
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if NOT_CONTENT.intersection(relative.parts) or not file.is_file():
            continue
        files[relative.as_posix()] = file.read_bytes()
    if ANSWERS_FILE in files:
        answers = yaml.safe_load(files[ANSWERS_FILE])
        answers.pop("_commit", None)
        files[ANSWERS_FILE] = yaml.safe_dump(answers, sort_keys=True).encode()
    return files


def leftovers(path: Path) -> list[str]:
    """Rejected hunks and files with conflict markers: what an update left to resolve."""
    found = []
    for relative, data in content(path).items():
        if relative.endswith(".rej") or any(
            line.startswith(CONFLICT_MARKERS) for line in data.splitlines()
        ):
            found.append(relative)
    return found


def replace_in(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace text in a file, failing loudly when the text is not there as expected."""
    text = path.read_text()
    if text.count(old) != count:
        raise AssertionError(f"{path}: expected {count} x {old!r}, found {text.count(old)}")
    path.write_text(text.replace(old, new))
