"""Each flavour renders into a project whose own checks and tests pass at once."""

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support import Project, eventually, render, throwaway_servers, without_database_url


def test_ruff_check_passes(project: Project) -> None:
    project.run("uv", "run", "ruff", "check", ".")


def test_ruff_format_changes_nothing(project: Project) -> None:
    project.run("uv", "run", "ruff", "format", "--check", ".")


def test_mypy_strict_passes(project: Project) -> None:
    project.run("uv", "run", "mypy")


@pytest.mark.generated_suite
def test_generated_test_suite_passes_without_skips(project: Project) -> None:
    # No DATABASE_URL, as on a newcomer's machine: a throwaway embedded server.
    result = project.run(
        "uv", "run", "pytest", "-p", "no:cacheprovider", env=without_database_url()
    )

    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), result.stdout
    assert not re.search(r"skipped|xfailed|xpassed|deselected|error", summary), summary
    assert eventually(lambda: not throwaway_servers(project)), "its keeper removes it"


def test_dependencies_are_the_flavours_own(project: Project) -> None:
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    dependencies = " ".join(pyproject["project"]["dependencies"])

    driver, foreign = (
        ("asyncpg", "psycopg2")
        if project.flavour == "async"
        else (
            "psycopg2",
            "asyncpg",
        )
    )
    assert driver in dependencies
    assert foreign not in dependencies


def test_answers_are_recorded_for_copier_update(project: Project) -> None:
    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text())

    assert answers["flavour"] == project.flavour
    assert answers["package_name"] == "acme_service"
    assert answers["project_name"] == "Acme Service"
    assert answers["_src_path"]
    assert answers["_commit"]
    assert "lockstep_markers" not in answers


def test_both_flavours_publish_the_same_openapi_document(
    get_project: Callable[[str], Project],
) -> None:
    script = "import json; from acme_service.main import app; print(json.dumps(app.openapi()))"
    documents = {
        flavour: json.loads(get_project(flavour).run("uv", "run", "python", "-c", script).stdout)
        for flavour in ("sync", "async")
    }

    assert documents["sync"] == documents["async"]
    assert set(documents["sync"]["paths"]) == {
        "/health/live",
        "/health/ready",
        "/api/v1/auth/token",
        "/api/v1/users",
        "/api/v1/users/me",
        "/api/v1/users/{user_id}",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{webhook_id}",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "/api/v1/webhooks/{webhook_id}/ping",
    }


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = render(tmp_path / "first", flavour="async")
    second = render(tmp_path / "second", flavour="async")

    assert tree(first.path) == tree(second.path)


def tree(root: Path) -> dict[str, bytes]:
    # Rendering a working tree with uncommitted edits records a fresh commit id.
    return {
        str(path.relative_to(root)): re.sub(rb"(?m)^_commit: .*$", b"", path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_package_name_defaults_from_the_project_name(tmp_path: Path) -> None:
    project = render(tmp_path / "billing", project_name="Billing API v2")

    assert (project.path / "src" / "billing_api_v2" / "main.py").is_file()
