"""A schema-driven fuzzer finds no server error in a live server of either flavour,
logged in as a superuser so that it gets past every route's token check."""

import re
from collections import Counter
from pathlib import Path

import httpx2

from tests.support import (
    ADMIN,
    Project,
    create_superuser,
    log_in,
    project_environment,
    run,
    serving,
)

EXAMPLES_PER_OPERATION = "25"
# Schemathesis learns ids from responses (/users/me, the list) and would soon delete or
# deactivate the superuser whose token it sends, or change its password, leaving every
# later request a 401. Its writes to that one user go to an unknown id instead (a 404);
# the live-server test and the generated suite cover a user changing themself.
HOOKS = """\
import os
import uuid

import schemathesis

SUPERUSER_ID = os.environ["FUZZ_SUPERUSER_ID"]


@schemathesis.hook
def before_call(context, case, kwargs):
    parameters = case.path_parameters or {}
    if case.method.upper() != "GET" and str(parameters.get("user_id")) == SUPERUSER_ID:
        case.path_parameters = {**parameters, "user_id": str(uuid.uuid4())}
"""
# The service's own request log: "... POST /api/v1/auth/token 401 method=POST ...".
REQUEST = re.compile(r" (?P<method>[A-Z]+) (?P<path>/\S*) (?P<status>\d{3}) method=")


def test_fuzzing_the_openapi_schema_finds_no_server_error(
    project: Project, empty_database: str, tmp_path: Path
) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)
    hooks = tmp_path / "hooks.py"
    hooks.write_text(HOOKS)

    with serving(project, "uvicorn", empty_database, tmp_path / "server.log") as running:
        create_superuser(project, empty_database, *ADMIN)
        with httpx2.Client(base_url=running.url) as client:
            headers = log_in(client, *ADMIN)
            superuser_id = client.get("/api/v1/users/me", headers=headers).json()["id"]
        result = run(
            "schemathesis",
            "run",
            f"{running.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: {headers['Authorization']}",
            "--max-examples",
            EXAMPLES_PER_OPERATION,
            "--seed",
            "20261122",
            cwd=tmp_path,
            env=project_environment(
                NO_COLOR="1", SCHEMATHESIS_HOOKS=str(hooks), FUZZ_SUPERUSER_ID=superuser_id
            ),
        )
        # The token outlived the run: every request above was made as the superuser.
        with httpx2.Client(base_url=running.url, headers=headers) as client:
            assert client.get("/api/v1/users/me").status_code == 200

    cases = re.search(r"(\d+) generated", result.stdout)
    assert cases, result.stdout
    server_log = running.log.read_text()
    assert " 500" not in server_log
    assert "Traceback" not in server_log
    answered = answers(server_log)
    print(f"{project.flavour}: {cases[1]} fuzz cases, no server error; answers:")
    for (method, path, status), count in sorted(answered.items()):
        if status != "405":  # methods a route does not have
            print(f"  {method} {path} {status}: {count}")
    # The login form was fuzzed past its validation, into the password check.
    assert answered["POST", "/api/v1/auth/token", "401"] > 0
    # Every users route answered the superuser with a success, not only refusals.
    for route in [
        ("POST", "/api/v1/users", "201"),
        ("GET", "/api/v1/users", "200"),
        ("GET", "/api/v1/users/me", "200"),
        ("GET", "/api/v1/users/{id}", "200"),
        ("PATCH", "/api/v1/users/{id}", "200"),
        ("DELETE", "/api/v1/users/{id}", "204"),
    ]:
        assert answered[route] > 0, f"the fuzzer never got {route}"


def answers(server_log: str) -> Counter[tuple[str, str, str]]:
    """How often each route answered each status, user ids written as {id}."""
    return Counter(
        (
            match["method"],
            re.sub(r"^/api/v1/users/(?!me$)[^/?]+", "/api/v1/users/{id}", match["path"]),
            match["status"],
        )
        for match in REQUEST.finditer(server_log)
    )
