"""The benchmark kit's pieces work. No load is run here and no timing is asserted."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bench import stack
from bench.__main__ import (
    build_apps,
    connections_needed,
    log_name,
    parse_arguments,
    phase_apps,
    phase_tables,
)
from bench.load import RunResult, parse_result
from bench.report import TIMES, Row, format_summary, format_table
from bench.scenarios import SCENARIOS, Callers, Scenario
from tests.support import FLAVOURS, Project

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:1/api/v1/users
BENCH_RESULT {"requests": 1200, "duration_us": 2000000, "connect": 1, "read": 2, \
"write": 0, "status": 200, "timeout": 3, "p50_us": 1500, "p99_us": 9000, "max_us": 12000}
"""


def result(requests_per_second: float, p99_ms: float, timeouts: int = 0) -> RunResult:
    return RunResult(
        requests=round(requests_per_second * 2),
        duration_us=2_000_000,
        socket_errors=0,
        non_2xx=0,
        timeouts=timeouts,
        p50_ms=p99_ms / 2,
        p99_ms=p99_ms,
        cpu_seconds=1.0,
    )


def test_wrk_summary_is_parsed() -> None:
    parsed = parse_result(WRK_OUTPUT)

    assert parsed.requests_per_second == 500  # successes only: (1200 - 200) / 2 s
    assert (parsed.errors, parsed.timeouts) == (203, 3)
    assert (parsed.p50_ms, parsed.p99_ms) == (1.5, 9.0)


def scenario(key: str) -> Scenario:
    return next(s for s in SCENARIOS if s.key == key)


def test_table_pairs_each_app_with_its_baseline_and_floor_per_repetition() -> None:
    raw = [result(1000, 10), result(2000, 10)]
    floor = [result(800, 10), result(1000, 20)]
    service = [result(600, 20), result(1400, 40)]
    rows = [
        Row(scenario("read-64"), "raw asyncpg", raw),
        Row(scenario("read-64"), "FastAPI+asyncpg", floor, raw_runs=raw),
        Row(scenario("read-64"), "async service", service, raw_runs=raw, floor_runs=floor),
        Row(scenario("create-2"), "async service", service, raw_runs=raw),
    ]

    table = format_table(rows).splitlines()

    # The columns of older tables first, where they always were; the floor's last.
    assert table[0] == (
        "| Scenario | Conns | App | req/s | p50 ms | p99 ms | errors | timeouts "
        "| req/s vs raw | p99 vs raw | CPU ms/req | req/s vs floor | p99 vs floor |"
    )
    assert table[1] == "|" + "---|" * 13
    # A baseline has no ratio; 1 s of CPU over 2,000 and 4,000 requests: 0.375 ms.
    assert table[2].endswith("| 0 | 0 |  |  | 0.38 |  |  |")
    # The floor against raw: median of 0.8 and 0.5; p99 1 and 2. It has no floor itself.
    assert table[3].endswith("| 0.65 | 1.50 | 0.56 |  |  |")
    # Median of the paired ratios 0.6 and 0.7; p99 ratios 2 and 4. Against the floor:
    # 0.75 and 1.4, p99 2 and 2.
    assert table[4].endswith("| 0.65 | 3.00 | 0.60 | 1.07 | 2.00 |")
    # No floor runs this scenario: empty cells.
    assert table[5].endswith("| 0.65 | 3.00 | 0.60 |  |  |")


def test_multi_worker_table_compares_with_one_worker_not_raw() -> None:
    one_worker = [result(500, 20), result(700, 20), result(600, 20)]
    floor = [result(2000, 10), result(2000, 10), result(2000, 10)]
    two_workers = [result(1000, 30), result(1300, 30), result(1100, 30)]
    rows = [
        Row(scenario("list-200"), "FastAPI+asyncpg", floor),
        Row(
            scenario("list-200"),
            "async service",
            two_workers,
            floor_runs=floor,
            one_worker_runs=one_worker,
        ),
        Row(scenario("list-200"), "sync service", two_workers),  # no 1-worker phase ran
    ]

    table = format_table(rows, workers=2).splitlines()

    assert table[0] == (
        "| Scenario | Conns | App | req/s | p50 ms | p99 ms | errors | timeouts "
        "| req/s vs 1 worker | CPU ms/req | req/s vs floor | p99 vs floor |"
    )
    # Medians, not pairs: 1,100 req/s over 600 with one worker.
    assert table[3].endswith("| 1.83 | 0.45 | 0.55 | 3.00 |")
    assert table[4].endswith("| 0 | 0 |  | 0.45 |  |  |")


def summary_rows(service: float, p99: float, sync_read: float = 300) -> list[Row]:
    """Both flavours' floors and services on read-64 and list-64; floors at 1,000 req/s."""
    floor = [result(1000, 10), result(1000, 10)]
    rows = []
    for key in ("read-64", "list-64"):
        for flavour, driver in (("async", "asyncpg"), ("sync", "psycopg2")):
            rate = sync_read if flavour == "sync" and key == "read-64" else service
            runs = [result(rate, p99), result(rate, p99)]
            rows += [
                Row(scenario(key), f"FastAPI+{driver}", floor),
                Row(scenario(key), f"{flavour} service", runs, floor_runs=floor),
            ]
    return rows


SERVICES = {"async": "async service", "sync": "sync service"}


def test_summary_checks_each_target_per_flavour_and_worker_count() -> None:
    tables = {1: summary_rows(service=600, p99=30), 2: summary_rows(service=500, p99=31)}
    tables[2].append(Row(scenario("create-2"), "sync service", [result(5, 300, timeouts=2)]))

    summary = format_summary(tables, SERVICES).replace(TIMES, "x").splitlines()

    assert summary[0].startswith("**Targets**")
    # Written with an x here: ruff takes the multiplication sign for one.
    assert summary[2:] == [
        # 0.6 and 3 are met; 0.5 and 3.1 are not.
        "- async service, 1 worker: read-64 0.60x ✓, p99 3.00x ✓; list-64 0.60x ✓, p99 3.00x ✓",
        "- async service, 2 workers: read-64 0.50x ✗, p99 3.10x ✗; list-64 0.50x ✗, p99 3.10x ✗",
        "- sync service, 1 worker: read-64 0.30x ✗, p99 3.00x ✓; list-64 0.60x ✓, p99 3.00x ✓",
        "- sync service, 2 workers: read-64 0.30x ✗, p99 3.10x ✗; list-64 0.50x ✗, p99 3.10x ✗",
        "- Services' timeouts and errors ✗: sync service create-2 (2 workers): timeouts 2, "
        "errors 0",
        # Medians: sync 300 ÷ async 600 and 500 req/s; one-user reads only.
        "- sync read ÷ async read, 1 worker: read-64 0.50x ✗",
        "- sync read ÷ async read, 2 workers: read-64 0.60x ✗",
    ]


def test_summary_without_failures_or_the_other_flavour() -> None:
    async_apps = {"FastAPI+asyncpg", "async service"}
    async_rows = [row for row in summary_rows(700, 20) if row.app in async_apps]

    summary = format_summary({1: async_rows}, {"async": "async service"})
    lines = summary.replace(TIMES, "x").splitlines()

    assert lines[2:] == [
        "- async service, 1 worker: read-64 0.70x ✓, p99 2.00x ✓; list-64 0.70x ✓, p99 2.00x ✓",
        "- Services' timeouts and errors: none in any scenario ✓",
    ]


def test_a_multi_worker_phase_runs_the_services_and_floors_only() -> None:
    projects = {flavour: stack.Project(Path("/nowhere"), flavour) for flavour in FLAVOURS}
    apps = build_apps(projects)
    pool = {"DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "0"}

    assert phase_apps(apps, 1) == apps
    assert [app.name for app in phase_apps(apps, 2)] == [
        "FastAPI+asyncpg",
        "async service",
        "FastAPI+psycopg2",
        "sync service",
    ]
    services = [app for app in apps if app.floor is not None]
    assert {app.name: app.floor for app in services} == {
        "async service": "FastAPI+asyncpg",
        "sync service": "FastAPI+psycopg2",
    }
    # One flavour at a time: 3 apps x 20, then 2 apps x 2 workers x 20.
    assert (connections_needed(apps, 1, pool), connections_needed(apps, 2, pool)) == (60, 80)
    assert parse_arguments([]).workers == [1, 2]
    assert parse_arguments(["--workers", "1"]).workers == [1]
    with pytest.raises(SystemExit):
        parse_arguments(["--workers", "0"])


def test_a_service_from_before_runs_beside_its_flavour_with_one_worker() -> None:
    projects = {flavour: stack.Project(Path("/now"), flavour) for flavour in FLAVOURS}
    before = {flavour: stack.Project(Path("/before"), flavour) for flavour in FLAVOURS}
    apps = build_apps(projects, before)
    pool = {"DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "0"}

    [earlier] = [app for app in apps if app.name == "sync service before"]
    assert (earlier.project.path, earlier.module) == (Path("/before"), "service_sync")
    assert (earlier.baseline, earlier.floor) == ("raw psycopg2", "FastAPI+psycopg2")
    assert "sync service before" not in [app.name for app in phase_apps(apps, 2)]
    assert (connections_needed(apps, 1, pool), connections_needed(apps, 2, pool)) == (80, 80)
    assert parse_arguments(["--before", "v1"]).before == "v1"
    # Each server writes its own log, though both services run one module.
    assert len({log_name(app, 1) for app in apps}) == len(apps)


def test_phase_tables_give_later_phases_the_one_worker_runs() -> None:
    projects = {"async": stack.Project(Path("/nowhere"), "async")}
    apps = build_apps(projects)
    read = scenario("read-64")
    one = {(read.key, app.name): [result(100, 10)] for app in apps}
    two = {(read.key, app.name): [result(150, 10)] for app in phase_apps(apps, 2)}

    tables = phase_tables(apps, [read], {1: one, 2: two})

    assert [row.app for row in tables[2]] == ["FastAPI+asyncpg", "async service"]
    assert [row.scaling() for row in tables[2]] == [1.5, 1.5]
    assert all(row.scaling() is None for row in tables[1])
    assert tables[2][1].floor_runs == two[read.key, "FastAPI+asyncpg"]
    assert tables[1][1].raw_runs == one[read.key, "raw asyncpg"]


# A parent that starts a child that starts a grandchild burning CPU, like uvicorn's
# master and its workers (one more level, to cover every descendant).
BURNER = "while True: pass"
CHILD = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURNER!r}])"
PARENT = (
    "import subprocess, sys; "
    f"child = subprocess.Popen([sys.executable, '-c', {CHILD!r}]); "
    "print(child.pid, flush=True); sys.stdin.read()"
)


def test_process_tree_cpu_covers_every_descendant() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed whole below
    ) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            grandchild = wait_for_child(child)
            assert sorted(stack.descendant_pids(parent.pid)) == sorted([child, grandchild])
            while not stack.process_cpu_ticks(grandchild):  # until it has used a clock tick
                time.sleep(0.05)
            ticks = [stack.process_cpu_ticks(pid) or 0 for pid in (parent.pid, child, grandchild)]

            tree_seconds = stack.Server("", parent.pid).cpu_seconds()

            assert tree_seconds is not None
            assert tree_seconds >= sum(ticks) / os.sysconf("SC_CLK_TCK")
            assert tree_seconds > ticks[0] / os.sysconf("SC_CLK_TCK")  # more than its own
        finally:
            os.killpg(parent.pid, signal.SIGKILL)
    # PID_MAX_LIMIT is 2**22 on 64-bit Linux: no process ever has this pid.
    assert stack.Server("", 2**22).cpu_seconds() is None


def wait_for_child(pid: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = stack.descendant_pids(pid)
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError(f"{pid} started no child in 30 s")


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


def test_bench_serves_a_service_with_two_workers(
    project: Project, empty_database: str, tmp_path: Path
) -> None:
    bench_project = stack.Project(project.path, project.flavour, project.package)
    callers = stack.migrate_and_seed(bench_project, empty_database, users=30)
    small_pools = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "0"}
    service = next(app for app in build_apps({project.flavour: bench_project}) if app.floor)
    request = scenario("read-64").sample(callers, "")

    log = tmp_path / "two-workers.log"
    with stack.serving(service, empty_database, log, 2, **small_pools) as server:
        # The two workers, and multiprocessing's resource tracker.
        assert len(stack.descendant_pids(server.pid)) >= 2
        for _ in range(10):
            status, body = stack.send(
                server.url, request.method, request.path, None, request.headers
            )
            assert status == 200, body
        master_ticks = stack.process_cpu_ticks(server.pid)
        tree_seconds = server.cpu_seconds()
        assert master_ticks is not None
        assert tree_seconds is not None
        # The workers imported the app and served: the tree used more than the master.
        assert tree_seconds > master_ticks / os.sysconf("SC_CLK_TCK")


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
