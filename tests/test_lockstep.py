"""The two flavours are one source.

Outside the marked flavour seams, every Python file of the sync render must equal the
async render after a closed table of word-level rewrites (async -> sync is mechanical;
the reverse is not). A rewrite that never fires fails the test, so the table cannot rot.
Non-Python files (README prose, dependency lists) are flavour-specific by nature and are
only required to exist in both renders.
"""

import difflib
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.support import render

REWRITES = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\bAsyncSession\b", "Session"),
    (r"\bAsyncEngine\b", "Engine"),
    (r"\basync_sessionmaker\b", "sessionmaker"),
    (r"\bcreate_async_engine\b", "create_engine"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\basynccontextmanager\b", "contextmanager"),
    (r"\bAsyncClient\b", "Client"),
    (r"\bsqlalchemy\.ext\.asyncio\b", "sqlalchemy.orm"),
    (r"\basyncpg\b", "psycopg2"),
]
SEAM = re.compile(
    r"^# >>> FLAVOUR SEAM: (?P<reason>.*?)\n(?P<body>.*?)^# <<< FLAVOUR SEAM\n",
    re.MULTILINE | re.DOTALL,
)


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lockstep")
    return {
        flavour: render(root / flavour, flavour=flavour, lockstep_markers=True).path
        for flavour in ("async", "sync")
    }


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def without_seams(source: str) -> str:
    """Replace each seam by a statement naming it, so seams must still line up."""

    def placeholder(seam: re.Match[str]) -> str:
        indent = re.match(r"[ ]*", seam["body"]).group()  # type: ignore[union-attr]
        return f"{indent}pass  # FLAVOUR SEAM: {seam['reason']}\n"

    return SEAM.sub(placeholder, source)


def rewrite(source: str, fired: Counter[str]) -> str:
    for pattern, replacement in REWRITES:
        source, count = re.subn(pattern, replacement, source)
        fired[pattern] += count
    return source


def normalise(tree: Path, pyproject: Path) -> None:
    """Sort imports and format as the project would: rewrites may reorder names."""
    shutil.copy(pyproject, tree / "pyproject.toml")
    ruff = shutil.which("ruff")
    assert ruff, "ruff must be installed in the template's environment"
    for args in (["check", "--select", "I", "--fix", "-q"], ["format", "-q"]):
        subprocess.run([ruff, *args, str(tree)], check=True)


def test_both_flavours_render_the_same_files(renders: dict[str, Path]) -> None:
    assert files(renders["async"]) == files(renders["sync"])


def test_sync_render_is_the_rewritten_async_render_outside_seams(
    renders: dict[str, Path], tmp_path: Path
) -> None:
    fired: Counter[str] = Counter()
    python_files = sorted(f for f in files(renders["async"]) if f.endswith(".py"))
    for flavour in ("async", "sync"):
        for name in python_files:
            source = without_seams((renders[flavour] / name).read_text())
            async_source = (renders["async"] / name).read_text()
            # A file with no flavour tokens renders identically and is left alone.
            if flavour == "async" and async_source != (renders["sync"] / name).read_text():
                source = rewrite(source, fired)
            target = tmp_path / flavour / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source)
        normalise(tmp_path / flavour, renders["sync"] / "pyproject.toml")

    differences = [
        "".join(
            difflib.unified_diff(
                (tmp_path / "async" / name).read_text().splitlines(keepends=True),
                (tmp_path / "sync" / name).read_text().splitlines(keepends=True),
                f"rewritten async/{name}",
                f"sync/{name}",
            )
        )
        for name in python_files
    ]
    assert not any(differences), "\n".join(d for d in differences if d)
    assert [pattern for pattern, _ in REWRITES if not fired[pattern]] == []


def test_seam_markers_never_reach_a_real_project(tmp_path: Path) -> None:
    project = render(tmp_path / "project", flavour="async")

    for name in files(project.path):
        assert "FLAVOUR SEAM" not in (project.path / name).read_text(), name
