"""A generated project fails its own gates the moment its flavour's rule is broken.

Each test plants one class of violation into a freshly rendered project, runs the gate a
developer runs (`uv run ruff check .` or `uv run pytest`, narrowed to the tests that
matter where that proves the point), requires it to fail naming the offending file and
the check, then restores the file. The clean project passing every gate in full is
tests/test_generated_project.py's job.
"""

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import PACKAGE, Project, project_environment, render, uv

SOURCE = f"src/{PACKAGE}"
RUFF = ("uv", "run", "ruff", "check", "--output-format", "concise", ".")
ARCHITECTURE_TESTS = ("uv", "run", "pytest", "-p", "no:cacheprovider", "tests/test_architecture.py")


@dataclass(frozen=True)
class Plant:
    """Replace `anchor` by `replacement` in `path`; an empty anchor creates the file."""

    path: str
    anchor: str
    replacement: str


@pytest.fixture(scope="module")
def fresh_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Project]:
    """Each flavour rendered and installed once for this module, to plant violations in."""
    projects: dict[str, Project] = {}

    def get(flavour: str) -> Project:
        if flavour not in projects:
            parent = tmp_path_factory.mktemp(f"enforcement-{flavour}")
            projects[flavour] = render(parent / "acme-service", flavour=flavour)
            projects[flavour].run("uv", "sync")
        return projects[flavour]

    return get


@contextmanager
def planted(project: Project, *plants: Plant) -> Iterator[None]:
    """The project with the violations in place; every file is restored afterwards."""
    originals: dict[Path, str | None] = {}
    try:
        for plant in plants:
            path = project.path / plant.path
            source = path.read_text() if path.exists() else None
            originals.setdefault(path, source)
            if plant.anchor:
                assert source is not None, f"{plant.path} does not exist"
                assert plant.anchor in source, f"{plant.path} lacks the anchor {plant.anchor!r}"
                path.write_text(source.replace(plant.anchor, plant.replacement, 1))
            else:
                assert source is None, f"{plant.path} already exists"
                path.write_text(plant.replacement)
        yield
    finally:
        for path, source in originals.items():
            if source is None:
                path.unlink()
            else:
                path.write_text(source)


def gate_fails(project: Project, *args: str) -> str:
    """Run a gate that must fail; returns its whole output."""
    result = subprocess.run(
        [uv() if args[0] == "uv" else args[0], *args[1:]],
        cwd=project.path,
        env=project_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"`{' '.join(args)}` passed, but should fail:\n{output}"
    return output


def assert_names_all(output: str, *expected: str) -> None:
    """Each text appears in the output; line breaks count as spaces, since reports
    wrap long lines (import-linter wraps contract names at 80 columns)."""
    flat = " ".join(output.split())
    missing = [text for text in expected if " ".join(text.split()) not in flat]
    assert not missing, f"output does not name {missing}:\n{output}"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_fresh_project_passes_the_gates_it_is_planted_into(
    fresh_project: Callable[[str], Project], flavour: str
) -> None:
    project = fresh_project(flavour)

    project.run(*RUFF)
    project.run(*ARCHITECTURE_TESTS)


# -- ruff: blocking calls and the other flavour's libraries ---------------------------

BLOCKING_SLEEP_IN_ASYNC_SERVICE = (
    Plant(
        f"{SOURCE}/services/users.py",
        "from enum import StrEnum\n",
        "import time\nfrom enum import StrEnum\n",
    ),
    Plant(
        f"{SOURCE}/services/users.py",
        "    async def register(self, data: UserCreate) -> UserRead:\n",
        "    async def register(self, data: UserCreate) -> UserRead:\n        time.sleep(0.1)\n",
    ),
)
BLOCKING_HTTP_IN_ASYNC_REPOSITORY = (
    Plant(
        f"{SOURCE}/repositories/users.py",
        "from collections.abc import Sequence\n",
        "import urllib.request\nfrom collections.abc import Sequence\n",
    ),
    Plant(
        f"{SOURCE}/repositories/users.py",
        "        total = await self.session.scalar(",
        '        urllib.request.urlopen("http://127.0.0.1:9/audit")\n'
        "        total = await self.session.scalar(",
    ),
)
REQUESTS_IN_ASYNC_REPOSITORY = (
    Plant(
        f"{SOURCE}/repositories/users.py",
        "from collections.abc import Sequence\n",
        "from collections.abc import Sequence\n\nimport requests\n",
    ),
    Plant(
        f"{SOURCE}/repositories/users.py",
        "        total = await self.session.scalar(",
        '        requests.post("http://audit.internal/count", timeout=5)\n'
        "        total = await self.session.scalar(",
    ),
)
SYNC_SESSION_IN_ASYNC_REPOSITORY = (
    Plant(
        f"{SOURCE}/repositories/users.py",
        "from sqlalchemy.ext.asyncio import AsyncSession\n",
        "from sqlalchemy.ext.asyncio import AsyncSession\nfrom sqlalchemy.orm import Session\n",
    ),
    Plant(
        f"{SOURCE}/repositories/users.py",
        "    async def get(self, user_id: UUID) -> User | None:\n",
        "    async def count_in(self, legacy: Session) -> int:\n"
        "        return legacy.query(User).count()\n\n"
        "    async def get(self, user_id: UUID) -> User | None:\n",
    ),
)
PSYCOPG2_IN_ASYNC_REPOSITORY = (
    Plant(
        f"{SOURCE}/repositories/legacy.py",
        "",
        '"""Reports straight from the database."""\n\n'
        "import psycopg2\n\n\n"
        "async def count_users(dsn: str) -> int:\n"
        "    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:\n"
        '        cursor.execute("SELECT count(*) FROM users")\n'
        "        return int(cursor.fetchone()[0])\n",
    ),
)
ASYNCPG_IN_SYNC_REPOSITORY = (
    Plant(
        f"{SOURCE}/repositories/legacy.py",
        "",
        '"""Reports straight from the database."""\n\n'
        "import asyncpg\n\n\n"
        "def connect(dsn: str) -> object:\n"
        "    return asyncpg.connect(dsn)\n",
    ),
)
BLOCKING_CLIENT_IN_ASYNC_CLIENT = (
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        "    async def check_url(self, url: str) -> None:\n",
        "    async def status_of(self, url: str) -> int:\n"
        "        with httpx2.Client(timeout=5) as blocking:\n"
        "            return blocking.head(url).status_code\n\n"
        "    async def check_url(self, url: str) -> None:\n",
    ),
)
URLOPEN_IN_ASYNC_CLIENT = (
    Plant(f"{SOURCE}/clients/webhooks.py", "import time\n", "import time\nimport urllib.request\n"),
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        "        timeout = self._timeout(deadline)\n",
        "        urllib.request.urlopen(url, timeout=1)  # is it up at all?\n"
        "        timeout = self._timeout(deadline)\n",
    ),
)
ASYNC_CLIENT_IN_SYNC_CLIENT = (
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        "class WebhookClient:\n",
        "def open_concurrent_client() -> httpx2.AsyncClient:\n"
        "    return httpx2.AsyncClient(timeout=5)\n\n\nclass WebhookClient:\n",
    ),
)
REQUESTS_IN_SYNC_CLIENT = (
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        "import httpx2\n",
        "import httpx2\nimport requests\n",
    ),
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        "        timeout = self._timeout(deadline)\n",
        "        requests.head(url, timeout=1)  # is it up at all?\n"
        "        timeout = self._timeout(deadline)\n",
    ),
)
ASYNC_SQLALCHEMY_IN_SYNC_SERVICE = (
    Plant(
        f"{SOURCE}/services/users.py",
        "from sqlalchemy.orm import Session\n",
        "from sqlalchemy.ext.asyncio import AsyncSession\nfrom sqlalchemy.orm import Session\n",
    ),
    Plant(
        f"{SOURCE}/services/users.py",
        "class UserService:\n",
        "AnySession = Session | AsyncSession\n\n\nclass UserService:\n",
    ),
)


@pytest.mark.parametrize(
    ("flavour", "plants", "offending_file", "expected"),
    [
        pytest.param(
            "async",
            BLOCKING_SLEEP_IN_ASYNC_SERVICE,
            "services/users.py",
            [
                "ASYNC251",
                "TID251 `time.sleep` is banned: blocks the event loop; "
                "use `await anyio.sleep(...)`",
            ],
            id="blocking sleep in an async service",
        ),
        pytest.param(
            "async",
            BLOCKING_HTTP_IN_ASYNC_REPOSITORY,
            "repositories/users.py",
            ["ASYNC210", "TID251 `urllib.request` is banned: blocking HTTP"],
            id="blocking urlopen in an async repository",
        ),
        pytest.param(
            "async",
            REQUESTS_IN_ASYNC_REPOSITORY,
            "repositories/users.py",
            [
                "ASYNC210",
                "TID251 `requests` is banned: blocking HTTP client; use `httpx2.AsyncClient`",
            ],
            id="requests in an async repository",
        ),
        pytest.param(
            "async",
            SYNC_SESSION_IN_ASYNC_REPOSITORY,
            "repositories/users.py",
            [
                "TID251 `sqlalchemy.orm.Session` is banned: blocking session; "
                "use `sqlalchemy.ext.asyncio.AsyncSession`"
            ],
            id="sync Session in an async repository",
        ),
        pytest.param(
            "async",
            PSYCOPG2_IN_ASYNC_REPOSITORY,
            "repositories/legacy.py",
            ["TID251 `psycopg2` is banned: blocking database driver"],
            id="psycopg2 in the async flavour",
        ),
        pytest.param(
            "sync",
            ASYNCPG_IN_SYNC_REPOSITORY,
            "repositories/legacy.py",
            ["TID251 `asyncpg` is banned: async database driver"],
            id="asyncpg in the sync flavour",
        ),
        pytest.param(
            "sync",
            ASYNC_SQLALCHEMY_IN_SYNC_SERVICE,
            "services/users.py",
            ["TID251 `sqlalchemy.ext.asyncio` is banned: async SQLAlchemy"],
            id="AsyncSession in a sync service",
        ),
        pytest.param(
            "async",
            BLOCKING_CLIENT_IN_ASYNC_CLIENT,
            "clients/webhooks.py",
            [
                "TID251 `httpx2.Client` is banned: blocking HTTP client; "
                "use `httpx2.AsyncClient` and await it"
            ],
            id="blocking httpx2.Client in the async client layer",
        ),
        pytest.param(
            "async",
            URLOPEN_IN_ASYNC_CLIENT,
            "clients/webhooks.py",
            ["ASYNC210", "TID251 `urllib.request` is banned: blocking HTTP"],
            id="blocking urlopen in the async client layer",
        ),
        pytest.param(
            "sync",
            ASYNC_CLIENT_IN_SYNC_CLIENT,
            "clients/webhooks.py",
            ["TID251 `httpx2.AsyncClient` is banned: needs `async def`"],
            id="httpx2.AsyncClient in the sync client layer",
        ),
        pytest.param(
            "sync",
            REQUESTS_IN_SYNC_CLIENT,
            "clients/webhooks.py",
            ["TID251 `requests` is banned: use the process's `httpx2.Client` (clients/)"],
            id="requests in the sync client layer",
        ),
    ],
)
def test_ruff_check_fails_on_blocking_or_foreign_apis(
    fresh_project: Callable[[str], Project],
    flavour: str,
    plants: tuple[Plant, ...],
    offending_file: str,
    expected: list[str],
) -> None:
    project = fresh_project(flavour)

    with planted(project, *plants):
        output = gate_fails(project, *RUFF)

    assert_names_all(output, f"{SOURCE}/{offending_file}:", *expected)


# -- pytest: the architecture tests (flavour consistency, import contracts) ----------


@pytest.mark.parametrize(
    ("flavour", "plant", "expected"),
    [
        pytest.param(
            "async",
            Plant(
                f"{SOURCE}/services/users.py",
                "class UserService:\n",
                "def normalise_email(email: str) -> str:\n"
                "    return email.strip().lower()\n\n\nclass UserService:\n",
            ),
            [
                f"{SOURCE}/services/users.py:{{line}}: normalise_email() is a plain `def`, "
                "but in the async flavour every public function here is `async def`. Fix: "
                "declare it `async def`",
            ],
            id="public sync function in an async service",
        ),
        pytest.param(
            "sync",
            Plant(f"{SOURCE}/api/routes/users.py", "def get_user(", "async def get_user("),
            [
                f"{SOURCE}/api/routes/users.py:",
                "get_user() is `async def`, but the sync flavour has no `async def` here. "
                "Fix: declare it a plain `def`",
            ],
            id="async def in a sync router",
        ),
        pytest.param(
            "sync",
            Plant(
                f"{SOURCE}/repositories/users.py",
                "    def get(self, user_id: UUID)",
                "    async def get(self, user_id: UUID)",
            ),
            [
                f"{SOURCE}/repositories/users.py:",
                "get() is `async def`, but the sync flavour has no `async def` here.",
            ],
            id="async def in a sync repository",
        ),
        pytest.param(
            "sync",
            Plant(
                f"{SOURCE}/jobs/webhooks.py",
                "def deliver_webhook(",
                "async def deliver_webhook(",
            ),
            [
                f"{SOURCE}/jobs/webhooks.py:{{line}}: deliver_webhook() is `async def`, "
                "but the sync flavour has no `async def` here. Fix: declare it a plain "
                "`def`",
            ],
            id="async def task in the sync worker",
        ),
        pytest.param(
            "sync",
            Plant(
                f"{SOURCE}/api/dependencies.py",
                "async def get_user_service(session: SessionDep) -> UserService:\n",
                "async def get_user_service(session: SessionDep) -> UserService:\n"
                "    session.connection()  # checks a connection out of the pool\n",
            ),
            [
                f"{SOURCE}/api/dependencies.py:{{line}}: get_user_service() runs on the "
                "event loop in both flavours, so it may only build services or check "
                "values in hand, but it does `session.connection()`.",
            ],
            id="I/O in a sync dependency allowed on the event loop",
        ),
        pytest.param(
            "sync",
            Plant(
                f"{SOURCE}/api/dependencies.py",
                "def get_current_user(",
                "async def get_current_user(",
            ),
            [
                f"{SOURCE}/api/dependencies.py:{{line}}: get_current_user() is "
                "`async def`, but the sync flavour has no `async def` here.",
            ],
            id="async def dependency in sync that is not one of the exceptions",
        ),
        pytest.param(
            "async",
            Plant(
                f"{SOURCE}/jobs/webhooks.py",
                "@job_app.task(\n",
                "def attempt_label(delivery_id: str, attempt: int) -> str:\n"
                '    return f"{delivery_id}#{attempt}"\n\n\n@job_app.task(\n',
            ),
            [
                f"{SOURCE}/jobs/webhooks.py:{{line}}: attempt_label() is a plain `def`, "
                "but in the async flavour every public function here is `async def`.",
            ],
            id="public sync function among the async worker's tasks",
        ),
    ],
)
def test_architecture_test_fails_on_a_function_of_the_other_flavour(
    fresh_project: Callable[[str], Project], flavour: str, plant: Plant, expected: list[str]
) -> None:
    project = fresh_project(flavour)

    with planted(project, plant):
        output = gate_fails(project, *ARCHITECTURE_TESTS)

    line = line_of(project, plant)  # where the planted function starts
    expected = [text.replace("{line}", str(line)) for text in expected]
    assert_names_all(output, "test_request_path_and_tasks_are_one_flavour", *expected)


ROUTER_IMPORTS_REPOSITORY = (
    Plant(
        f"{SOURCE}/api/routes/users.py",
        f"from {PACKAGE}.schemas.common import ErrorResponse\n",
        f"from {PACKAGE}.repositories.users import UserRepository\n"
        f"from {PACKAGE}.schemas.common import ErrorResponse\n",
    ),
    Plant(
        f"{SOURCE}/api/routes/users.py",
        'router = APIRouter(prefix="/users", tags=["users"])\n',
        'router = APIRouter(prefix="/users", tags=["users"])\nREPOSITORY = UserRepository\n',
    ),
)
ROUTER_IMPORTS_CLIENT = (
    Plant(
        f"{SOURCE}/api/routes/webhooks.py",
        f"from {PACKAGE}.schemas.common import ErrorResponse\n",
        f"from {PACKAGE}.clients.webhooks import WebhookClient\n"
        f"from {PACKAGE}.schemas.common import ErrorResponse\n",
    ),
    Plant(
        f"{SOURCE}/api/routes/webhooks.py",
        'router = APIRouter(prefix="/webhooks", tags=["webhooks"])\n',
        'router = APIRouter(prefix="/webhooks", tags=["webhooks"])\nCLIENT = WebhookClient\n',
    ),
)
CLIENT_IMPORTS_SERVICE = (
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        f"from {PACKAGE}.core.errors import UnsafeWebhookURLError\n",
        f"from {PACKAGE}.core.errors import UnsafeWebhookURLError\n"
        f"from {PACKAGE}.services.webhook_events import WEBHOOK_QUEUE\n",
    ),
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        'USER_AGENT = "acme-service (webhooks)"\n',
        'USER_AGENT = f"acme-service ({WEBHOOK_QUEUE})"\n',
    ),
)
LAYERS = (
    "Layers: main | worker > api | jobs > services > repositories | schemas | clients "
    "> models > core"
)
REPOSITORY_IMPORTS_SERVICE = (
    Plant(
        f"{SOURCE}/repositories/health.py",
        "from sqlalchemy import text\n",
        f"from sqlalchemy import text\n\nfrom {PACKAGE}.services import users\n",
    ),
)


@pytest.mark.parametrize(
    ("flavour", "plants", "expected"),
    [
        pytest.param(
            flavour,
            ROUTER_IMPORTS_REPOSITORY,
            [
                "Routers never import repositories or models (call a service) BROKEN",
                f"{PACKAGE}.api.routes.users -> {PACKAGE}.repositories.users (l.",
                f"at {SOURCE}/api/routes/users.py:",
            ],
            id=f"{flavour} router importing a repository",
        )
        for flavour in ("sync", "async")
    ]
    + [
        pytest.param(
            flavour,
            ROUTER_IMPORTS_CLIENT,
            [
                "Routers never import clients (a service makes outbound calls) BROKEN",
                f"{PACKAGE}.api.routes.webhooks -> {PACKAGE}.clients.webhooks (l.",
                f"at {SOURCE}/api/routes/webhooks.py:",
            ],
            id=f"{flavour} router importing a client",
        )
        for flavour in ("sync", "async")
    ]
    + [
        pytest.param(
            "sync",
            REPOSITORY_IMPORTS_SERVICE,
            [
                f"{LAYERS} BROKEN",
                f"{PACKAGE}.repositories is not allowed to import {PACKAGE}.services",
                f"at {SOURCE}/repositories/health.py:",
            ],
            id="sync repository importing a service",
        ),
        pytest.param(
            "async",
            CLIENT_IMPORTS_SERVICE,
            [
                f"{LAYERS} BROKEN",
                f"{PACKAGE}.clients is not allowed to import {PACKAGE}.services",
                f"{PACKAGE}.clients.webhooks -> {PACKAGE}.services.webhook_events (l.",
                f"at {SOURCE}/clients/webhooks.py:",
            ],
            id="async client importing a service",
        ),
        pytest.param(
            "async",
            PSYCOPG2_IN_ASYNC_REPOSITORY,
            [
                "Async flavour: no blocking drivers or clients (psycopg2, requests) BROKEN",
                f"{PACKAGE}.repositories.legacy -> psycopg2 (l.3)",
                f"at {SOURCE}/repositories/legacy.py:3",
            ],
            id="psycopg2 in the async flavour",
        ),
        pytest.param(
            "sync",
            ASYNCPG_IN_SYNC_REPOSITORY,
            [
                "Sync flavour: no async drivers or clients (asyncpg, aiohttp) BROKEN",
                f"at {SOURCE}/repositories/legacy.py:3",
            ],
            id="asyncpg in the sync flavour",
        ),
    ],
)
def test_import_contracts_fail_on_a_forbidden_import(
    fresh_project: Callable[[str], Project],
    flavour: str,
    plants: tuple[Plant, ...],
    expected: list[str],
) -> None:
    project = fresh_project(flavour)

    with planted(project, *plants):
        output = gate_fails(project, *ARCHITECTURE_TESTS)

    assert_names_all(output, "test_imports_keep_the_layer_contracts", *expected)


# -- pytest: the async flavour's run-time guard against a blocked event loop ---------

HASHING_ON_THE_EVENT_LOOP = Plant(
    f"{SOURCE}/core/security.py",
    "    return await anyio.to_thread.run_sync(\n"
    "        _password_hash.hash, password, limiter=_hashing_limiter\n"
    "    )\n",
    "    return _password_hash.hash(password)\n",
)
VERIFYING_ON_THE_EVENT_LOOP = Plant(
    f"{SOURCE}/core/security.py",
    "    return await anyio.to_thread.run_sync(\n"
    "        _verify, password, hashed, limiter=_hashing_limiter\n"
    "    )\n",
    "    matches = _password_hash.verify(password, hashed or _UNKNOWN_ACCOUNT_HASH)\n"
    "    return matches and hashed is not None\n",
)
FILE_WRITE_HIDDEN_IN_A_HELPER = (
    Plant(
        f"{SOURCE}/services/users.py",
        "from enum import StrEnum\n",
        "import os\nfrom enum import StrEnum\n",
    ),
    Plant(
        f"{SOURCE}/services/users.py",
        "class UserService:\n",
        "def _audit(event: str) -> None:\n"
        "    with open(os.devnull, 'a') as log:\n"
        "        log.write(event)\n\n\nclass UserService:\n",
    ),
    Plant(
        f"{SOURCE}/services/users.py",
        "        await self.session.commit()\n        return created\n",
        "        await self.session.commit()\n        _audit('registered')\n"
        "        return created\n",
    ),
)
# A "reachability probe" before each POST: a plain helper on a module ruff already
# allows `socket` in, connecting with the blocking socket API.
CONNECT_HIDDEN_IN_A_CLIENT_HELPER = (
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        "class WebhookClient:\n",
        "def _probe(url: str) -> None:\n"
        "    parsed = httpx2.URL(url)\n"
        "    address = (parsed.host, parsed.port or 443)\n"
        "    with socket.create_connection(address, timeout=1):\n"
        "        pass\n\n\n"
        "class WebhookClient:\n",
    ),
    Plant(
        f"{SOURCE}/clients/webhooks.py",
        "        timeout = self._timeout(deadline)\n",
        "        _probe(url)\n        timeout = self._timeout(deadline)\n",
    ),
)


def test_hashing_on_the_event_loop_fails_the_test_suite(
    fresh_project: Callable[[str], Project],
) -> None:
    project = fresh_project("async")

    with planted(project, HASHING_ON_THE_EVENT_LOOP):
        project.run(*RUFF)  # no linter can see CPU-bound work: only the guard does
        # Registering hashes a password: its tests suffice (the whole suite, with the
        # worker's end-to-end tests, takes minutes).
        output = gate_fails(
            project, "uv", "run", "pytest", "-p", "no:cacheprovider", "tests/api/test_users.py"
        )

    assert_names_all(
        output,
        "BlockingError: Blocking call to argon2.PasswordHasher.hash",
        "event loop blocked: how to fix",
        "`await anyio.to_thread.run_sync(function, *args, limiter=...)`",
        f"{SOURCE}/core/security.py:{line_of(project, HASHING_ON_THE_EVENT_LOOP)}: "
        "in hash_password",
        f"{SOURCE}/services/users.py:",
        "FAILED tests/api/test_users.py::test_register_returns_the_user_without_any_password",
    )


def test_password_verification_on_the_event_loop_fails_the_login_tests(
    fresh_project: Callable[[str], Project],
) -> None:
    project = fresh_project("async")

    with planted(project, VERIFYING_ON_THE_EVENT_LOOP):
        project.run(*RUFF)
        output = gate_fails(
            project, "uv", "run", "pytest", "-p", "no:cacheprovider", "-x", "tests/api/test_auth.py"
        )

    assert_names_all(
        output,
        "BlockingError: Blocking call to argon2.PasswordHasher.verify",
        "event loop blocked: how to fix",
        f"{SOURCE}/core/security.py:{line_of(project, VERIFYING_ON_THE_EVENT_LOOP)}: "
        "in verify_password",
        f"{SOURCE}/services/auth.py:",
        "in log_in",
        "FAILED tests/api/test_auth.py::",
    )


def line_of(project: Project, plant: Plant) -> int:
    """The line the planted code starts on (where its anchor is in the restored file)."""
    source = (project.path / plant.path).read_text()
    return source[: source.index(plant.anchor)].count("\n") + 1


@pytest.mark.parametrize(
    ("plants", "test_file", "expected"),
    [
        pytest.param(
            FILE_WRITE_HIDDEN_IN_A_HELPER,
            "tests/api/test_users.py",
            [
                "BlockingError: Blocking call to io.TextIOWrapper.write",
                f"{SOURCE}/services/users.py:",
                "in _audit",
            ],
            id="file write in a service helper",
        ),
        pytest.param(
            CONNECT_HIDDEN_IN_A_CLIENT_HELPER,
            "tests/clients/test_webhooks.py",
            [
                "BlockingError: Blocking call to socket.socket.connect",
                "event loop blocked: how to fix",
                f"{SOURCE}/clients/webhooks.py:",
                "in _probe",
                "in post",
                "FAILED tests/clients/test_webhooks.py::",
            ],
            id="blocking connect in a client helper",
        ),
    ],
)
def test_blocking_io_hidden_in_a_helper_fails_the_test_that_reaches_it(
    fresh_project: Callable[[str], Project],
    plants: tuple[Plant, ...],
    test_file: str,
    expected: list[str],
) -> None:
    project = fresh_project("async")

    with planted(project, *plants):
        project.run(*RUFF)  # a plain helper is out of the ASYNC rules' sight
        output = gate_fails(
            project, "uv", "run", "pytest", "-p", "no:cacheprovider", "-x", test_file
        )

    assert_names_all(output, *expected)
