"""Without DATABASE_URL a generated project develops and tests on embedded PostgreSQL.

The newcomer's path: no PostgreSQL installed, nothing configured. `uv run fastapi dev`
serves the API on a server kept in `.postgres/development`, migrated on start and
started once across reloads; `uv run pytest` runs on a throwaway server of its own.
"""

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from uuid import uuid4

import httpx2
import psycopg2

from tests.support import (
    PACKAGE,
    Project,
    drop_database,
    eventually,
    free_port,
    log_in,
    postmaster_pid,
    process_exists,
    project_environment,
    server_url,
    throwaway_servers,
    uv,
    wait_until_live,
    with_database,
    with_password,
    without_database_url,
)


@contextmanager
def fastapi_dev(project: Project, log: Path) -> Iterator[str]:
    """`uv run fastapi dev`, stopped as Ctrl-C stops it."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [uv(), "run", "fastapi", "dev", "--port", str(port)],
            cwd=project.path,
            env=without_database_url(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's job
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_live(url, process, log)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)


def test_fastapi_dev_serves_the_api_on_the_embedded_default(
    project: Project, tmp_path: Path
) -> None:
    data = project.path / ".postgres" / "development" / "pgdata"
    log = tmp_path / "dev.log"
    with fastapi_dev(project, log) as url, httpx2.Client(base_url=url) as client:
        assert client.get("/health/ready").json() == {"status": "ok"}
        created = client.post(  # the schema was migrated on start
            "/api/v1/users", json={"email": "ada@example.com", "password": "long enough"}
        )
        assert created.status_code == 201, created.text
        ada = log_in(client, "ada@example.com", "long enough")
        read = client.get(f"/api/v1/users/{created.json()['id']}", headers=ada)
        assert read.status_code == 200, read.text

    assert eventually(lambda: postmaster_pid(data) is None)  # stopped with `fastapi dev`
    assert (data / "PG_VERSION").is_file()
    assert "Traceback" not in log.read_text()


def test_fastapi_dev_starts_postgresql_once_and_keeps_its_data(
    get_project: Callable[[str], Project], tmp_path: Path
) -> None:
    project = get_project("sync")  # the reloader and the keeper: alike in both flavours
    data = project.path / ".postgres" / "development" / "pgdata"
    log = tmp_path / "dev.log"
    with fastapi_dev(project, log) as url, httpx2.Client(base_url=url) as client:
        created = client.post(
            "/api/v1/users", json={"email": "grace@example.com", "password": "long enough"}
        )
        user = created.json()["id"]
        # Development's default SECRET_KEY is fixed: tokens outlive reloads and restarts.
        grace = log_in(client, "grace@example.com", "long enough")
        server = postmaster_pid(data)

        probe = project.path / "src" / PACKAGE / "reload_probe.py"
        probe.write_text('"""Written to make the reloader restart the app."""\n')
        assert eventually(lambda: startups(log) == 2, 30), log.read_text()
        probe.unlink()
        assert eventually(lambda: startups(log) == 3, 30), log.read_text()
        assert client.get(f"/api/v1/users/{user}", headers=grace).status_code == 200
        assert postmaster_pid(data) == server  # started once, across reloads

        # A test run beside it gets a server of its own.
        project.run(
            "uv",
            "run",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/api/test_health.py",
            env=without_database_url(),
        )
        assert postmaster_pid(data) == server

    assert eventually(lambda: postmaster_pid(data) is None)  # stopped with `fastapi dev`
    with fastapi_dev(project, tmp_path / "again.log") as url:
        again = httpx2.get(f"{url}/api/v1/users/{user}", headers=grace)
        assert again.status_code == 200, again.text  # data kept


def startups(log: Path) -> int:
    return log.read_text().count("Application startup complete")


def test_a_killed_test_run_leaves_no_server_behind(
    get_project: Callable[[str], Project],
) -> None:
    project = get_project("async")  # the server's keeper is the same in both flavours
    run = subprocess.Popen(
        [uv(), "run", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project.path,
        env=without_database_url(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert eventually(lambda: any(map(running_server, throwaway_servers(project))), 60)
    servers = [postmaster_pid(path / "pgdata") for path in throwaway_servers(project)]

    os.killpg(run.pid, signal.SIGKILL)
    run.wait()

    assert eventually(lambda: not throwaway_servers(project))
    assert eventually(lambda: not any(map(process_exists, servers)))


def running_server(server_dir: Path) -> bool:
    return postmaster_pid(server_dir / "pgdata") is not None


def test_alembic_creates_a_missing_database_and_says_so(project: Project) -> None:
    name = f"missing_{uuid4().hex[:12]}"
    url = with_database(server_url(), name)
    try:
        result = project.run(
            "uv", "run", "alembic", "upgrade", "head", env=project_environment(DATABASE_URL=url)
        )
        with closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('users') IS NOT NULL")
            migrated = cursor.fetchone() == (True,)
    finally:
        drop_database(url)

    assert f'Created database "{name}"' in result.stderr
    assert migrated


def test_alembic_in_production_never_creates_a_database(project: Project) -> None:
    name = f"missing_{uuid4().hex[:12]}"
    url = with_password(with_database(server_url(), name))
    # Production settings are checked whole, here as where the app starts.
    environment = project_environment(
        DATABASE_URL=url,
        ENVIRONMENT="production",
        SECRET_KEY="a-production-secret-key-of-32-chars+",
    )

    result = subprocess.run(
        [uv(), "run", "alembic", "upgrade", "head"],
        cwd=project.path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f'Database "{name}" does not exist on ')
    assert line.endswith(f'create it (CREATE DATABASE "{name}"), or correct DATABASE_URL')
    assert "Traceback" not in result.stderr


def test_migrations_started_at_once_take_turns(project: Project, empty_database: str) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    migrations = [
        subprocess.Popen(
            [uv(), "run", "alembic", "upgrade", "head"],
            cwd=project.path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]

    outputs = [migration.communicate(timeout=120)[0] for migration in migrations]

    assert [migration.returncode for migration in migrations] == [0, 0, 0], outputs
    assert sum("Running upgrade  -> 0001" in output for output in outputs) == 1, outputs
