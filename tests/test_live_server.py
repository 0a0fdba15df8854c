"""A real server of each flavour, on a database migrated from empty, serves the API."""

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.support import Project, project_environment, uv

SERVERS = {
    "uvicorn": ["run", "uvicorn", "acme_service.main:app", "--port"],
    "fastapi": ["run", "fastapi", "run", "--port"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(project: Project, server: str, database_url: str, log: Path) -> Iterator[str]:
    port = free_port()
    environment = project_environment(DATABASE_URL=database_url)
    with log.open("w") as output:
        process = subprocess.Popen(
            [uv(), *SERVERS[server], str(port)],
            cwd=project.path,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_live(base_url, process, log)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_until_live(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{log.read_text()}", pytrace=False)
        try:
            if httpx2.get(f"{base_url}/health/live").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server did not come up in 60 s:\n{log.read_text()}", pytrace=False)


@pytest.mark.parametrize("server", SERVERS)
def test_live_server_serves_the_contract(
    project: Project, empty_database: str, server: str, tmp_path: Path
) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)

    log = tmp_path / "server.log"
    with (
        serving(project, server, empty_database, log) as base_url,
        httpx2.Client(base_url=base_url) as client,
    ):
        exercise_the_contract(client)


def exercise_the_contract(client: httpx2.Client) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ok"}

    created = client.post(
        "/api/v1/users", json={"email": "ada@example.com", "password": "long enough"}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == {"id", "email", "full_name", "is_active", "created_at", "updated_at"}

    duplicate = client.post(
        "/api/v1/users", json={"email": "ADA@example.com", "password": "long enough"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "A user with this email already exists"}

    invalid = client.post("/api/v1/users", json={"email": "nope", "password": "x"})
    assert invalid.status_code == 422

    page = client.get("/api/v1/users", params={"limit": 10}).json()
    assert (page["total"], page["limit"], page["offset"]) == (1, 10, 0)
    assert page["items"] == [user]

    assert client.get(f"/api/v1/users/{user['id']}").json() == user
    patched = client.patch(f"/api/v1/users/{user['id']}", json={"full_name": "Ada"})
    assert patched.status_code == 200
    assert patched.json()["full_name"] == "Ada"

    assert client.delete(f"/api/v1/users/{user['id']}").status_code == 204
    missing = client.get(f"/api/v1/users/{user['id']}")
    assert missing.status_code == 404
    assert "detail" in missing.json()
    assert client.get("/api/v1/users", params={"limit": 0}).status_code == 422
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
