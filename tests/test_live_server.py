"""A real server of each flavour, on a database migrated from empty, serves the API."""

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest

from tests.support import SERVERS, Project, project_environment, serving


@pytest.mark.parametrize("server", SERVERS)
def test_live_server_serves_the_contract(
    project: Project, empty_database: str, server: str, tmp_path: Path
) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)

    log = tmp_path / "server.log"
    with (
        serving(project, server, empty_database, log) as running,
        httpx2.Client(base_url=running.url) as client,
    ):
        exercise_the_contract(client)
    assert "Traceback" not in log.read_text()


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


def test_shutdown_lets_in_flight_requests_finish(
    project: Project, empty_database: str, tmp_path: Path
) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)
    clients = 6
    connected = threading.Barrier(clients + 1)

    def register(number: int) -> int:
        with httpx2.Client(base_url=running.url, timeout=30) as client:
            client.get("/health/live")  # the connection is open and accepted
            connected.wait()
            user = {"email": f"user{number}@example.com", "password": "long enough"}
            return client.post("/api/v1/users", json=user).status_code

    with (
        serving(project, "uvicorn", empty_database, tmp_path / "server.log") as running,
        ThreadPoolExecutor(max_workers=clients) as pool,
    ):
        in_flight = [pool.submit(register, number) for number in range(clients)]
        connected.wait()
        # Registrations hash with argon2, so they are still running when the signal lands.
        time.sleep(0.05)
        running.process.send_signal(signal.SIGTERM)
        statuses = [request.result() for request in in_flight]
        running.process.wait(timeout=30)

    assert statuses == [201] * clients
    log = running.log.read_text()
    assert "Application shutdown complete" in log  # the lifespan closed the pool
    assert "Finished server process" in log
