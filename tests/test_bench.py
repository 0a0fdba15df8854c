"""The benchmark kit's pieces work. No load is run here and no timing is asserted."""

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from bench import stack
from bench.__main__ import build_apps
from bench.load import RunResult, parse_result
from bench.report import Row, format_table
from bench.scenarios import SCENARIOS, Callers
from tests.support import FLAVOURS, Project

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:1/api/v1/users
BENCH_RESULT {"requests": 1200, "duration_us": 2000000, "connect": 1, "read": 2, \
"write": 0, "status": 200, "timeout": 3, "p50_us": 1500, "p99_us": 9000, "max_us": 12000}
"""


def result(requests_per_second: float, p99_ms: float) -> RunResult:
    return RunResult(
        requests=round(requests_per_second * 2),
        duration_us=2_000_000,
        socket_errors=0,
        non_2xx=0,
        timeouts=0,
        p50_ms=p99_ms / 2,
        p99_ms=p99_ms,
        cpu_seconds=1.0,
    )


def test_wrk_summary_is_parsed() -> None:
    parsed = parse_result(WRK_OUTPUT)

    assert parsed.requests_per_second == 500  # successes only: (1200 - 200) / 2 s
    assert (parsed.errors, parsed.timeouts) == (203, 3)
    assert (parsed.p50_ms, parsed.p99_ms) == (1.5, 9.0)


def test_table_pairs_each_app_with_its_baseline_per_repetition() -> None:
    scenario = SCENARIOS[0]
    raw = [result(1000, 10), result(2000, 10)]
    service = [result(600, 20), result(1400, 40)]
    rows = [
        Row(scenario, "raw asyncpg", None, raw),
        Row(scenario, "async service", "raw asyncpg", service, raw),
    ]

    table = format_table(rows).splitlines()

    assert table[0].startswith("| Scenario | Conns | App | req/s |")
    # A baseline has no ratio; 1 s of CPU over 2,000 and 4,000 requests: 0.375 ms.
    assert table[2].endswith("| 0 | 0 |  |  | 0.38 |")
    # Median of the paired ratios 0.6 and 0.7; p99 ratios 2 and 4.
    assert table[3].endswith("| 0.65 | 3.00 | 0.60 |")


def test_every_scenario_script_carries_the_callers_and_the_report() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    tokens = [f"token-{n}" for n in range(3)]
    for scenario in SCENARIOS:
        script = scenario.lua(Callers(ids, tokens, "superuser-token"))
        assert f'"{ids[2]}"' in script
        assert 'tokens = {"token-0", "token-1", "token-2"}' in script
        assert 'superuser_token = "superuser-token"' in script
        assert "function done(summary, latency, requests)" in script
        # A project from before authentication: anonymous reads, no token at all.
        assert scenario.lua(Callers(ids)).startswith(Callers(ids).lua())
        assert "token" not in Callers(ids).lua()


def test_bench_apps_answer_every_scenario(
    project: Project, empty_database: str, tmp_path: Path
) -> None:
    bench_project = stack.Project(project.path, project.flavour, project.package)
    callers = stack.migrate_and_seed(bench_project, empty_database, users=30)
    small_pools = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "0"}
    assert callers.tokens is not None
    assert callers.superuser_token is not None
    assert len(callers.tokens) == len(callers.ids) == 30

    for app in build_apps({project.flavour: bench_project}):
        log = tmp_path / f"{app.module}.log"
        with stack.serving(app, empty_database, log, **small_pools) as server:
            for scenario in (s for s in SCENARIOS if app.serves(s.key)):
                request = scenario.sample(callers, uuid.uuid4().hex[:8])
                status, body = stack.send(
                    server.url, request.method, request.path, request.body, request.headers
                )
                assert 200 <= status < 300, (app.name, scenario.key, status, body)
                if scenario.script == "read.lua":  # as that user: the user's own row
                    assert json.loads(body)["id"] == callers.ids[0]
                    assert json.loads(body)["is_superuser"] is False
                if scenario.script == "list.lua":  # as the superuser, who is listed too
                    assert json.loads(body)["total"] > len(callers.ids)
                # The reads are really authenticated: refused without the token (401),
                # and with a token that gives no right to them (403).
                refused = scenario.refused_samples(callers)
                assert len(refused) == (2 if scenario.authenticated else 0)
                for other, expected in refused:
                    status, body = stack.send(
                        server.url, other.method, other.path, None, other.headers
                    )
                    assert status == expected, (app.name, scenario.key, other.headers, body)
            assert server.cpu_seconds() is not None
            if app.module.startswith("service"):
                _, openapi = stack.send(server.url, "GET", "/openapi.json")
                assert not any(path.startswith("/bench") for path in json.loads(openapi)["paths"])


# main before the authentication issue: no login, no is_superuser column. The bench
# compares against it with --ref, so every app must serve it anonymously.
PRE_AUTH_REF = "abcc339"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_bench_apps_serve_a_template_from_before_authentication(
    flavour: str, empty_database: str, tmp_path: Path
) -> None:
    known = ["git", "cat-file", "-e", f"{PRE_AUTH_REF}^{{commit}}"]
    if subprocess.run(known, cwd=stack.ROOT, capture_output=True, check=False).returncode:
        pytest.fail(f"{PRE_AUTH_REF} is not in this clone: `git fetch --unshallow`")
    project = stack.render_and_install(tmp_path / "project", flavour, PRE_AUTH_REF)
    callers = stack.migrate_and_seed(project, empty_database, users=30)
    small_pools = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "0"}
    assert not project.authenticates
    assert (callers.tokens, callers.superuser_token) == (None, None)

    for app in build_apps({flavour: project}):
        log = tmp_path / f"{app.module}.log"
        with stack.serving(app, empty_database, log, **small_pools) as server:
            for scenario in (s for s in SCENARIOS if app.serves(s.key) and s.authenticated):
                request = scenario.sample(callers, "")
                assert request.headers == {}
                assert scenario.refused_samples(callers) == []
                status, body = stack.send(server.url, request.method, request.path)
                assert status == 200, (app.name, scenario.key, status, body)
                assert b"is_superuser" not in body  # that release's response model
