"""What the bench loads: each scenario's request, connections and wrk script."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"


@dataclass(frozen=True)
class Callers:
    """Who the reads come from: the seeded users, each with its own token, and a superuser.

    Without tokens (a project from before authentication) the reads are anonymous.
    """

    ids: Sequence[str]
    tokens: Sequence[str] | None = None  # tokens[i] is ids[i]'s own
    superuser_token: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.tokens is not None

    def lua(self) -> str:
        """The Lua globals the scripts read: ids, tokens, superuser_token."""
        lines = ["ids = " + _lua_list(self.ids)]
        if self.tokens is not None:
            lines.append("tokens = " + _lua_list(self.tokens))
        if self.superuser_token is not None:
            lines.append(f'superuser_token = "{self.superuser_token}"')
        return "\n".join(lines) + "\n"


def _lua_list(items: Sequence[str]) -> str:
    return "{" + ", ".join(f'"{item}"' for item in items) + "}"


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    connections: int
    script: str  # a file in lua/
    path: str  # the URL path wrk is given (scripts may build their own)

    def lua(self, callers: Callers) -> str:
        """The whole wrk script: the seeded ids and tokens, the scenario, the report."""
        parts = [callers.lua(), (LUA / self.script).read_text(), (LUA / "report.lua").read_text()]
        return "\n".join(parts)

    @property
    def authenticated(self) -> bool:
        """Whether its requests carry a token (when the service has authentication)."""
        return self.script in {"read.lua", "list.lua"}

    @property
    def needs_login(self) -> bool:
        """Whether it needs the service's login (a project from before it has none)."""
        return self.script == "login.lua"

    def sample(self, callers: Callers, tag: str) -> Request:
        """One request like the script's, for checking that an app answers it."""
        if self.script == "read.lua":
            token = callers.tokens[0] if callers.tokens is not None else None
            return Request("GET", f"/api/v1/users/{callers.ids[0]}", headers=bearer(token))
        if self.script == "list.lua":
            headers = bearer(callers.superuser_token)
            return Request("GET", "/api/v1/users?limit=20&offset=20", headers=headers)
        if self.script == "create.lua":
            body = {
                "email": f"u{tag}-0-0@bench.example.com",
                "password": "bench password",
                "full_name": "Bench User",
            }
            return Request("POST", "/api/v1/users", json.dumps(body))
        if self.script == "login.lua":
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            body = "username=seed1%40bench.example.com&password=bench+password"
            return Request("POST", "/api/v1/auth/token", body, form)
        return Request("GET", self.path)

    def refused_samples(self, callers: Callers) -> list[tuple[Request, int]]:
        """Requests like the sample that an authenticating app must refuse, and how.

        Without a token: 401. With a token that gives no right to it: 403 (another
        user's id; the list as a user who is not a superuser).
        """
        if not (self.authenticated and callers.tokens is not None):
            return []
        sample = self.sample(callers, "")
        if self.script == "read.lua":
            someone_else = bearer(callers.tokens[1])
        else:
            someone_else = bearer(callers.tokens[0])
        return [
            (Request(sample.method, sample.path), 401),
            (Request(sample.method, sample.path, headers=someone_else), 403),
        ]


SCENARIOS = (
    Scenario("read-64", "read one user by id", 64, "read.lua", "/api/v1/users"),
    Scenario("read-200", "read one user by id", 200, "read.lua", "/api/v1/users"),
    Scenario("list-64", "list 20 users", 64, "list.lua", "/api/v1/users"),
    Scenario("list-200", "list 20 users", 200, "list.lua", "/api/v1/users"),
    # argon2 takes ~0.1-0.4 s of CPU per hash here: two connections keep the
    # latency well under the timeout while both cores stay busy.
    Scenario("create-2", "create a user (argon2)", 2, "create.lua", "/api/v1/users"),
    # A login verifies an argon2 hash: as CPU-heavy as creating a user.
    Scenario("login-2", "log in (argon2 verify)", 2, "login.lua", "/api/v1/auth/token"),
    Scenario("wait-50", "wait 50 ms on the database", 50, "fixed.lua", "/bench/wait"),
    Scenario("wait-200", "wait 50 ms on the database", 200, "fixed.lua", "/bench/wait"),
    # Waiting that holds no database connection, like a call to another HTTP API.
    Scenario("api-200", "wait 50 ms on an HTTP API", 200, "fixed.lua", "/bench/api"),
    Scenario("cpu-64", "CPU-bound Python, no I/O", 64, "fixed.lua", "/bench/cpu"),
)

# The reads: the FastAPI floor apps serve only these, and the targets are set on them.
READS = frozenset({"read-64", "read-200", "list-64", "list-200"})
