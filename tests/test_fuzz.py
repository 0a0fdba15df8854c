"""A schema-driven fuzzer finds no server error in a live server of either flavour."""

import re
from pathlib import Path

from tests.support import Project, project_environment, run, serving

EXAMPLES_PER_OPERATION = "25"


def test_fuzzing_the_openapi_schema_finds_no_server_error(
    project: Project, empty_database: str, tmp_path: Path
) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)

    with serving(project, "uvicorn", empty_database, tmp_path / "server.log") as running:
        result = run(
            "schemathesis",
            "run",
            f"{running.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            EXAMPLES_PER_OPERATION,
            "--seed",
            "20261122",
            cwd=tmp_path,
            env=project_environment(NO_COLOR="1"),
        )

    cases = re.search(r"(\d+) generated", result.stdout)
    assert cases, result.stdout
    print(f"{project.flavour}: {cases[1]} fuzz cases, no server error")
    server_log = running.log.read_text()
    assert " 500" not in server_log
    assert "Traceback" not in server_log
