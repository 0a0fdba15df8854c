"""A real server of each flavour, on a database migrated from empty, serves the API."""

import json
import signal
import socket
import time
from pathlib import Path

import httpx2
import pytest

from tests.support import (
    ADMIN,
    SERVERS,
    Project,
    create_superuser,
    log_in,
    project_environment,
    serving,
)

USER_FIELDS = {"id", "email", "full_name", "is_active", "is_superuser", "created_at", "updated_at"}


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
        # The first superuser, by the project's own command, beside the running server.
        created = create_superuser(project, empty_database, *ADMIN)
        assert created.strip() == f"Created the superuser {ADMIN[0]}"
        exercise_the_contract(client)
    assert "Traceback" not in log.read_text()


def exercise_the_contract(client: httpx2.Client) -> None:
    """The whole HTTP contract, as a user and as the superuser ADMIN, on one server."""
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ok"}

    # Sign-up is open, makes a plain active user, and refuses to make anything else.
    escalation = client.post(
        "/api/v1/users",
        json={"email": "ada@example.com", "password": "long enough", "is_superuser": True},
    )
    assert escalation.status_code == 422
    created = client.post(
        "/api/v1/users", json={"email": "ada@example.com", "password": "long enough"}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == USER_FIELDS
    assert (user["is_active"], user["is_superuser"]) == (True, False)

    duplicate = client.post(
        "/api/v1/users", json={"email": "ADA@example.com", "password": "long enough"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "A user with this email already exists"}
    invalid = client.post("/api/v1/users", json={"email": "nope", "password": "x"})
    assert invalid.status_code == 422

    # Without a token, or with a wrong password: 401, asking for a bearer token.
    for anonymous in (
        client.get("/api/v1/users/me"),
        client.get(f"/api/v1/users/{user['id']}"),
        client.get("/api/v1/users/me", headers={"Authorization": "Bearer not-a-token"}),
        client.post(
            "/api/v1/auth/token", data={"username": "ada@example.com", "password": "wrong one"}
        ),
    ):
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        assert "detail" in anonymous.json()

    token = client.post(
        "/api/v1/auth/token", data={"username": "Ada@Example.com", "password": "long enough"}
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "bearer"
    assert token.json()["expires_in"] == 30 * 60
    ada = {"Authorization": f"Bearer {token.json()['access_token']}"}
    admin = log_in(client, *ADMIN)

    assert client.get("/api/v1/users/me", headers=ada).json() == user
    me = client.get("/api/v1/users/me", headers=admin).json()
    assert (me["email"], me["is_superuser"]) == (ADMIN[0], True)
    forbidden = client.get("/api/v1/users", headers=ada)
    assert forbidden.status_code == 403
    assert "detail" in forbidden.json()
    assert client.get(f"/api/v1/users/{me['id']}", headers=ada).status_code == 403

    page = client.get("/api/v1/users", params={"limit": 10}, headers=admin).json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 10, 0)
    assert page["items"] == [user, me]  # newest first

    assert client.get(f"/api/v1/users/{user['id']}", headers=ada).json() == user
    assert client.get(f"/api/v1/users/{user['id']}", headers=admin).json() == user
    patched = client.patch(f"/api/v1/users/{user['id']}", json={"full_name": "Ada"}, headers=ada)
    assert patched.status_code == 200
    assert patched.json()["full_name"] == "Ada"
    by_admin = client.patch(
        f"/api/v1/users/{user['id']}", json={"full_name": "Ada L."}, headers=admin
    )
    assert by_admin.status_code == 200
    assert by_admin.json()["full_name"] == "Ada L."
    # Only a superuser changes is_active.
    deactivating = client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=ada
    )
    assert deactivating.status_code == 403

    assert client.delete(f"/api/v1/users/{user['id']}", headers=ada).status_code == 204
    assert client.get("/api/v1/users/me", headers=ada).status_code == 401  # died with her
    missing = client.get(f"/api/v1/users/{user['id']}", headers=admin)
    assert missing.status_code == 404
    assert "detail" in missing.json()
    limit = client.get("/api/v1/users", params={"limit": 0}, headers=admin)
    assert limit.status_code == 422
    assert client.get("/nowhere").json() == {"detail": "Not Found"}


def test_shutdown_lets_in_flight_requests_finish(
    project: Project, empty_database: str, tmp_path: Path
) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)

    with serving(project, "uvicorn", empty_database, tmp_path / "server.log") as running:
        # Requests whose bodies are only half sent cannot finish before the signal.
        requests = [half_sent_registration(running.url, number) for number in range(4)]
        # Answered only after the server has read the requests queued before it.
        assert httpx2.get(f"{running.url}/health/live").status_code == 200
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # the server is shutting down, waiting for them
        statuses = [finish(request) for request in requests]
        running.process.wait(timeout=30)

    assert statuses == [201] * len(requests)
    log = running.log.read_text()
    assert "Waiting for connections to close" in log
    assert "Application shutdown complete" in log  # the lifespan closed the pool


def half_sent_registration(url: str, number: int) -> tuple[socket.socket, bytes]:
    body = json.dumps({"email": f"user{number}@example.com", "password": "long enough"})
    head = (
        "POST /api/v1/users HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=30)
    connection.sendall(head.encode() + body[:10].encode())
    return connection, body[10:].encode()


def finish(request: tuple[socket.socket, bytes]) -> int:
    connection, rest = request
    with connection:
        connection.sendall(rest)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    return int(response.split(b" ", 2)[1])
