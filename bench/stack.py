"""The stack under test: rendered projects, the bench database and the app servers."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import copier
import psycopg2
from psycopg2 import sql

from bench.scenarios import Callers

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PACKAGE = "bench_service"
SEED_USERS = 1000
SEED_PASSWORD = "bench password"
SUPERUSER_EMAIL = "superuser@bench.example.com"
# Every app gets this key and the bench mints the users' tokens with it. The services
# run in development mode, where a default key would do; the bench says which.
SECRET_KEY = "bench-only-secret-key-of-48-characters-0123456789"
# Long enough for any run: a token that expired mid-run would turn reads into 401s.
TOKEN_MINUTES = 24 * 60


def server_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)


@dataclass(frozen=True)
class Project:
    path: Path
    flavour: str
    package: str = PACKAGE

    @property
    def python(self) -> str:
        return str(self.path / ".venv" / "bin" / "python")

    @property
    def authenticates(self) -> bool:
        """Whether it has the authentication issue's login (a --ref may predate it)."""
        return (self.path / "src" / self.package / "api" / "routes" / "auth.py").exists()

    def run_python(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [self.python, *args],
            cwd=self.path,
            env=env or project_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args} failed in {self.path}:\n{result.stdout}{result.stderr}")
        return result.stdout


def project_environment(**overrides: str) -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("VIRTUAL_ENV", None)  # the bench's own venv must not leak
    environment.update(UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
    environment.update(overrides)
    return environment


def render_and_install(destination: Path, flavour: str, ref: str = "HEAD") -> Project:
    """Render the template and `uv sync` it.

    The default ref, HEAD, renders this working tree with its uncommitted edits;
    another git ref (a tag, a commit) renders that version, for before/after runs.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
        copier.run_copy(
            str(ROOT),
            destination,
            data={"project_name": "Bench Service", "flavour": flavour},
            defaults=True,
            vcs_ref=ref,
            quiet=True,
        )
    uv = shutil.which("uv") or sys.exit("uv is not on PATH: install it with `pip install uv`")
    subprocess.run(
        [uv, "sync", "--no-dev", "--quiet"],
        cwd=destination,
        env=project_environment(),
        check=True,
    )
    return Project(destination, flavour)


def _admin_connection() -> Any:
    connection = psycopg2.connect(server_url())
    connection.autocommit = True
    return connection


def create_database() -> str:
    name = f"bench_{uuid4().hex[:12]}"
    with closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlsplit(server_url())._replace(path=f"/{name}").geturl()


def drop_database(url: str) -> None:
    name = urlsplit(url).path.removeprefix("/")
    with closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_version() -> str:
    with closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0]).split()[0]


def connection_limit() -> int:
    """Connections the server gives clients that are not superusers."""
    with closing(_admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int "
            "- current_setting('superuser_reserved_connections')::int"
        )
        return int(cursor.fetchone()[0])


def migrate_and_seed(project: Project, database_url: str, users: int = SEED_USERS) -> Callers:
    """Build the schema with the project's migrations; insert users directly in SQL.

    Every seeded user shares one argon2 hash, computed once with the project's own
    hasher: seeding through the API would spend minutes hashing. With
    authentication, one more user is a superuser (for the list), and every user gets
    an access token minted by the project's own code: logging each in would spend
    minutes on argon2 too.
    """
    environment = project_environment(DATABASE_URL=database_url)
    project.run_python("-m", "alembic", "upgrade", "head", env=environment)
    hashed = project.run_python(
        "-c",
        "from pwdlib import PasswordHash; "
        f"print(PasswordHash.recommended().hash({SEED_PASSWORD!r}))",
    ).strip()
    with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        if project.authenticates:
            cursor.execute(
                "INSERT INTO users (id, email, full_name, hashed_password, is_superuser, "
                "password_version) "
                "SELECT gen_random_uuid(), 'seed' || n || '@bench.example.com', "
                "'Seed User ' || n, %s, false, 0 FROM generate_series(1, %s) AS n",
                (hashed, users),
            )
            cursor.execute(
                "INSERT INTO users (id, email, full_name, hashed_password, is_superuser, "
                "password_version) VALUES (gen_random_uuid(), %s, 'Bench Superuser', %s, "
                "true, 0) RETURNING id",
                (SUPERUSER_EMAIL, hashed),
            )
            superuser_id = str(cursor.fetchone()[0])
            cursor.execute(
                "SELECT id, password_version FROM users WHERE NOT is_superuser ORDER BY email"
            )
        else:
            cursor.execute(
                "INSERT INTO users (id, email, full_name, hashed_password) "
                "SELECT gen_random_uuid(), 'seed' || n || '@bench.example.com', "
                "'Seed User ' || n, %s FROM generate_series(1, %s) AS n",
                (hashed, users),
            )
            cursor.execute("SELECT id, 0 FROM users ORDER BY email")
        seeded = [(str(row[0]), row[1]) for row in cursor.fetchall()]
        connection.commit()
    with closing(psycopg2.connect(database_url)) as connection:
        connection.autocommit = True  # VACUUM cannot run in a transaction
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE users")
    ids = [user_id for user_id, _ in seeded]
    if not project.authenticates:
        return Callers(ids)
    *tokens, superuser_token = mint_tokens(project, database_url, [*seeded, (superuser_id, 0)])
    return Callers(ids, tokens, superuser_token)


def mint_tokens(project: Project, database_url: str, users: Sequence[tuple[str, int]]) -> list[str]:
    """An access token per (id, password version), by the project's create_access_token.

    Tokens it issued itself, as its login would: signed with SECRET_KEY, claims and
    all; only their lifetime is longer than a login's default, to outlast the run.
    """
    script = (
        "import json, sys, uuid; "
        f"from {project.package}.core.config import Settings; "
        f"from {project.package}.core.security import TokenClaims, create_access_token; "
        "settings = Settings(); "
        "users = json.loads(sys.argv[1]); "
        "print(json.dumps([create_access_token(TokenClaims(uuid.UUID(i), v), settings) "
        "for i, v in users]))"
    )
    environment = project_environment(
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        ACCESS_TOKEN_EXPIRE_MINUTES=str(TOKEN_MINUTES),
    )
    tokens: list[str] = json.loads(
        project.run_python("-c", script, json.dumps(users), env=environment)
    )
    return tokens


@dataclass(frozen=True)
class App:
    """One server under test: a module in apps/ run by a project's interpreter."""

    name: str
    module: str
    project: Project
    baseline: str | None = None  # the raw app this one is compared with
    only: frozenset[str] | None = None  # the scenario keys it serves (None: all)
    floor: str | None = None  # a service's FastAPI floor app: its targets are set against it

    def serves(self, scenario_key: str) -> bool:
        return self.only is None or scenario_key in self.only

    @property
    def is_raw(self) -> bool:
        """A raw-driver app: the others' baseline, compared with nothing itself."""
        return self.baseline is None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stat_fields(pid: int) -> list[str] | None:
    """A process's /proc/<pid>/stat fields from the state (field 3) on; None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return text.rsplit(")", 1)[1].split()


def process_cpu_ticks(pid: int) -> int | None:
    """Clock ticks of CPU one process has used so far, all its threads (None if unreadable)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # utime and stime, fields 14 and 15 of proc(5), counted from the state (3).
    return int(fields[11]) + int(fields[12])


def descendant_pids(pid: int) -> list[int]:
    """Every live process below pid: its children, theirs, and so on.

    Found by each process's parent (field 4 of /proc/<pid>/stat), which every Linux
    has; the kernel's /proc/<pid>/task/<tid>/children lists need a build option.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None:  # a process that exited during the scan has no fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    unvisited = [pid]
    while unvisited:
        below = children.get(unvisited.pop(), [])
        found += below
        unvisited += below
    return found


def process_tree_cpu_seconds(pid: int) -> float | None:
    """CPU time a process and all its live descendants have used so far (Linux; else None).

    uvicorn --workers N is a master process that serves nothing itself and N worker
    processes it spawned: the app's CPU is the sum over the tree. A descendant that
    exits between the scan and the read counts as nothing.
    """
    own = process_cpu_ticks(pid)
    if own is None:
        return None
    ticks = own + sum(process_cpu_ticks(child) or 0 for child in descendant_pids(pid))
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """A running app: where it answers, and its process (with its workers, if any)."""

    url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time the process and its descendants have used so far (Linux; else None)."""
        return process_tree_cpu_seconds(self.pid)


@contextmanager
def serving(
    app: App, database_url: str, log: Path, workers: int = 1, **settings: str
) -> Iterator[Server]:
    """Run the app with uvicorn on uvloop and httptools: one worker, or `workers`.

    Each worker is a process with its own pool: the settings apply per worker.
    """
    port = free_port()
    environment = project_environment(
        **{
            "DATABASE_URL": database_url,
            "BENCH_PACKAGE": app.project.package,
            # Whether the raw and floor apps check tokens too: as the service does.
            "BENCH_AUTH": "1" if app.project.authenticates else "0",
            "SECRET_KEY": SECRET_KEY,
            **settings,  # --setting wins (a SECRET_KEY of its own fails the check: 401)
        }
    )
    command = [
        app.project.python,
        "-m",
        "uvicorn",
        f"{app.module}:app",
        f"--app-dir={APPS}",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--workers={workers}",
        "--loop=uvloop",
        "--http=httptools",
        "--no-access-log",
        "--log-level=warning",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=app.project.path, env=environment, stdout=output, stderr=output
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_live(base_url, process, log)
            if workers > 1:
                wait_until_every_worker_started(base_url, process, log, workers)
            yield Server(base_url, process.pid)
        finally:
            process.terminate()  # uvicorn's master stops its workers, then itself
            process.wait(timeout=30)


def wait_until_live(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/health/live", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not come up in 60 s:\n{log.read_text()}")


# A worker still importing the app burns a core; started ones idle between requests.
QUIET_INTERVAL_SECONDS = 0.5
QUIET_CPU_SECONDS = 0.05
# /health/live asked this many times per worker once the tree is quiet.
LIVE_CHECKS_PER_WORKER = 3


def wait_until_every_worker_started(
    base_url: str, process: subprocess.Popen[bytes], log: Path, workers: int
) -> None:
    """Wait until all of uvicorn's workers serve, not only the first one up.

    The master binds the socket and spawns the workers; whichever finishes its start-up
    first answers /health/live while another may still be importing the app, and no
    answer says which worker gave it. So wait until the master has its workers and
    the whole tree is quiet for a moment (a starting worker uses a full core), then
    ask /health/live a few more times.
    """
    deadline = time.monotonic() + 60
    used_before = process_tree_cpu_seconds(process.pid)
    while time.monotonic() < deadline:
        time.sleep(QUIET_INTERVAL_SECONDS)
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        used = process_tree_cpu_seconds(process.pid)
        if used is None or used_before is None:
            break  # no /proc to watch: the live checks below are all there is
        spawned = len(descendant_pids(process.pid)) >= workers
        if spawned and used - used_before < QUIET_CPU_SECONDS:
            break
        used_before = used
    else:
        raise RuntimeError(f"{workers} workers did not settle in 60 s:\n{log.read_text()}")
    for _ in range(LIVE_CHECKS_PER_WORKER * workers):
        wait_until_live(base_url, process, log)


def send(
    base_url: str,
    method: str,
    path: str,
    body: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request; returns the status and body (errors included)."""
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=body.encode() if body is not None else None,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
