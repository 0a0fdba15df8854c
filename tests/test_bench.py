"""The benchmark kit's pieces work. No load is run here and no timing is asserted."""

import json
import uuid
from pathlib import Path

from bench import stack
from bench.__main__ import build_apps
from bench.load import RunResult, parse_result
from bench.report import Row, format_table
from bench.scenarios import SCENARIOS
from tests.support import Project

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
    assert table[2].endswith("| 0 | 0 |  |  |")  # a baseline has no ratio
    # Median of the paired ratios 0.6 and 0.7; p99 ratios 2 and 4.
    assert table[3].endswith("| 0.65 | 3.00 |")


def test_every_scenario_script_carries_the_ids_and_the_report() -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for scenario in SCENARIOS:
        script = scenario.lua(ids)
        assert f'"{ids[2]}"' in script
        assert "function done(summary, latency, requests)" in script


def test_bench_apps_answer_every_scenario(
    project: Project, empty_database: str, tmp_path: Path
) -> None:
    bench_project = stack.Project(project.path, project.flavour, project.package)
    ids = stack.migrate_and_seed(bench_project, empty_database, users=30)
    small_pools = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "0"}

    for app in build_apps({project.flavour: bench_project}):
        log = tmp_path / f"{app.module}.log"
        with stack.serving(app, empty_database, log, **small_pools) as url:
            for scenario in (s for s in SCENARIOS if app.serves(s.key)):
                request = scenario.sample(ids, uuid.uuid4().hex[:8])
                status, body = stack.send(url, request.method, request.path, request.body)
                assert 200 <= status < 300, (app.name, scenario.key, status, body)
            if app.module.startswith("service"):
                _, openapi = stack.send(url, "GET", "/openapi.json")
                assert not any(path.startswith("/bench") for path in json.loads(openapi)["paths"])
