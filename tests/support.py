"""Helpers shared by the template's tests: rendering, running tools, databases."""

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import copier
import httpx2
import psycopg2
import pytest
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
FLAVOURS = ("sync", "async")
PACKAGE = "acme_service"
# The module that gives generated projects their embedded PostgreSQL; plain Python.
EMBEDDED_DATABASE = ROOT / "template" / "src" / "{{package_name}}" / "core" / "embedded_database.py"


@cache
def server_url() -> str:
    """The PostgreSQL server the tests use; generated projects get the same one.

    DATABASE_URL when it is set. Otherwise one throwaway embedded server per test
    process (pytest-xdist runs two), started on first use by the very module
    generated projects use; its keeper stops and deletes it once that process exits.
    """
    return os.environ.get("DATABASE_URL") or embedded_database().throwaway_server_url(
        ROOT / ".postgres"
    )


def embedded_database() -> ModuleType:
    return load_module(EMBEDDED_DATABASE)


def load_module(path: Path) -> ModuleType:
    """Import a plain Python file of the template (a hook, a module that is not Jinja)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_database_url() -> dict[str, str]:
    """A project environment as on a newcomer's machine: no DATABASE_URL."""
    environment = project_environment()
    del environment["DATABASE_URL"]
    return environment


def postmaster_pid(data: Path) -> int | None:
    """The process id of the PostgreSQL server running on `data`, if any."""
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return None


def process_exists(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def throwaway_servers(project: "Project") -> list[Path]:
    """The project's throwaway embedded servers (its test runs' servers)."""
    return sorted((project.path / ".postgres").glob("throwaway-*"))


def eventually(condition: Callable[[], bool], seconds: float = 15) -> bool:
    """Whether `condition` holds within `seconds`, checked every 0.1 s."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def with_database(url: str, name: str) -> str:
    """The URL of another database on the same server (keeps a socket's ?host=)."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def with_password(url: str, password: str = "unused") -> str:
    """The URL with a password, which production insists on; the test server trusts
    its clients, so any will do."""
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0] or "postgres"
    return parts._replace(netloc=f"{user}:{password}@{host}").geturl()


def database_name(url: str) -> str:
    return urlsplit(url).path.removeprefix("/")


def uv() -> str:
    path = shutil.which("uv")
    if path is None:
        pytest.fail("uv is not on PATH: install it with `pip install uv`")
    return path


@cache
def generated_runs_temproot() -> str:
    """Where the generated projects' own pytest runs keep their temporary files.

    Not /tmp/pytest-of-<user>: every pytest run takes that folder back to mode 0700,
    while embedded PostgreSQL opens it to its own system user so that a server can
    start in a project rendered below it. One folder per test process, whose
    generated suites run one at a time.
    """
    return tempfile.mkdtemp(prefix="template-tests-generated-runs-")


def project_environment(**overrides: str) -> dict[str, str]:
    environment = dict(os.environ)
    # The template's own virtualenv must not leak into a generated project's.
    environment.pop("VIRTUAL_ENV", None)
    environment.update(
        DATABASE_URL=server_url(),
        UV_PYTHON_DOWNLOADS="never",  # the machine's Python must be enough
        NO_COLOR="1",
        PYTEST_DEBUG_TEMPROOT=generated_runs_temproot(),
    )
    environment.update(overrides)
    return environment


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, fail the test with the command's whole output."""
    command = [uv() if args[0] == "uv" else args[0], *args[1:]]
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env or project_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(args)}` failed in {cwd} (exit {result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result


@dataclass(frozen=True)
class Project:
    path: Path
    flavour: str
    package: str = PACKAGE

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run(*args, cwd=self.path, **kwargs)


def render(destination: Path, **answers: Any) -> Project:
    """Render this working tree (committed or not) with Copier's Python API."""
    data = {"project_name": "Acme Service", **answers}
    copier.run_copy(
        str(ROOT),
        destination,
        data=data,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    return Project(path=destination, flavour=data.get("flavour", "sync"))


def _admin_connection() -> Any:
    connection = psycopg2.connect(server_url())
    connection.autocommit = True
    return connection


def create_database(prefix: str) -> str:
    """Create an empty database on the server; returns its plain postgresql:// URL."""
    name = f"{prefix}_{uuid4().hex[:12]}"
    with closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server_url(), name)


def drop_database(url: str) -> None:
    name = database_name(url)
    with closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


SERVERS = {
    "uvicorn": ["run", "uvicorn", "acme_service.main:app", "--port"],
    "fastapi": ["run", "fastapi", "run", "--port"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serving(project: Project, server: str, database_url: str, log: Path) -> Iterator[Server]:
    """Run the project under a real server (`uv run uvicorn` or `uv run fastapi run`)."""
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
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_live(url, process, log)
            yield Server(url, process, log)
        finally:
            if process.poll() is None:
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


# The first superuser of the template's live-server tests: email, password.
ADMIN = ("admin@example.com", "the admin's long password")


def create_superuser(project: Project, database_url: str, email: str, password: str) -> str:
    """The project's own command, as its README says; returns what it printed."""
    return project.run(
        *("uv", "run", "python", "-m", project.package, "create-superuser", "--email", email),
        env=project_environment(DATABASE_URL=database_url, SUPERUSER_PASSWORD=password),
    ).stdout


def log_in(client: httpx2.Client, email: str, password: str) -> dict[str, str]:
    """Log in with OAuth2's password form; returns the Authorization header to send."""
    response = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
