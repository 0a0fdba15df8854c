"""What the bench loads: each scenario's request, connections and wrk script."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str | None = None


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    connections: int
    script: str  # a file in lua/
    path: str  # the URL path wrk is given (scripts may build their own)

    def lua(self, user_ids: Sequence[str]) -> str:
        """The whole wrk script: the seeded ids, the scenario, the report."""
        ids = "ids = {" + ", ".join(f'"{user_id}"' for user_id in user_ids) + "}\n"
        parts = [ids, (LUA / self.script).read_text(), (LUA / "report.lua").read_text()]
        return "\n".join(parts)

    def sample(self, user_ids: Sequence[str], tag: str) -> Request:
        """One request like the script's, for checking that an app answers it."""
        if self.script == "read.lua":
            return Request("GET", f"/api/v1/users/{user_ids[0]}")
        if self.script == "list.lua":
            return Request("GET", "/api/v1/users?limit=20&offset=20")
        if self.script == "create.lua":
            body = {
                "email": f"u{tag}-0-0@bench.example.com",
                "password": "bench password",
                "full_name": "Bench User",
            }
            return Request("POST", "/api/v1/users", json.dumps(body))
        return Request("GET", self.path)


SCENARIOS = (
    Scenario("read-64", "read one user by id", 64, "read.lua", "/api/v1/users"),
    Scenario("read-200", "read one user by id", 200, "read.lua", "/api/v1/users"),
    Scenario("list-64", "list 20 users", 64, "list.lua", "/api/v1/users"),
    Scenario("list-200", "list 20 users", 200, "list.lua", "/api/v1/users"),
    # argon2 takes ~0.1-0.4 s of CPU per hash here: two connections keep the
    # latency well under the timeout while both cores stay busy.
    Scenario("create-2", "create a user (argon2)", 2, "create.lua", "/api/v1/users"),
    Scenario("wait-50", "wait 50 ms on the database", 50, "fixed.lua", "/bench/wait"),
    Scenario("wait-200", "wait 50 ms on the database", 200, "fixed.lua", "/bench/wait"),
    # Waiting that holds no database connection, like a call to another HTTP API.
    Scenario("api-200", "wait 50 ms on an HTTP API", 200, "fixed.lua", "/bench/api"),
    Scenario("cpu-64", "CPU-bound Python, no I/O", 64, "fixed.lua", "/bench/cpu"),
)
