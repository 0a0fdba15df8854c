"""Benchmark both generated flavours against raw-driver apps and print the table.

Run from the template repository's root:  uv run python -m bench  (--help for options)
"""

import argparse
import datetime
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.load import TIMEOUT_SECONDS, RunResult, ensure_wrk, run_wrk, wrk_version
from bench.report import Row, format_facts, format_table, machine_facts
from bench.scenarios import SCENARIOS, Callers, Scenario
from bench.stack import (
    App,
    Project,
    Server,
    create_database,
    drop_database,
    migrate_and_seed,
    render_and_install,
    send,
    server_version,
    serving,
)

FLAVOURS = ("async", "sync")
PACKAGES = {
    "async": ("fastapi", "starlette", "pydantic", "sqlalchemy", "asyncpg", "uvicorn", "uvloop"),
    "sync": ("psycopg2-binary", "httptools", "anyio"),
}


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=4, help="seconds per run (4)")
    parser.add_argument("--repetitions", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--warmup", type=float, default=1, help="seconds per app and scenario")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=[scenario.key for scenario in SCENARIOS],
        help="run only these scenarios",
    )
    parser.add_argument(
        "--flavours", nargs="+", choices=FLAVOURS, default=FLAVOURS, help="both by default"
    )
    parser.add_argument(
        "--ref", default="HEAD", help="git ref of the template to render (HEAD: working tree)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the rendered projects")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for every app, e.g. DB_POOL_SIZE=5",
    )
    return parser.parse_args(argv)


# The floor apps serve only the reads: FastAPI on a raw driver, nothing else.
READS = frozenset({"read-64", "read-200", "list-64", "list-200"})
# Only the services log in: the raw apps have no login to compare with.
NOT_LOGIN = frozenset(scenario.key for scenario in SCENARIOS if not scenario.needs_login)


def build_apps(projects: Mapping[str, Project]) -> list[App]:
    apps = []
    if "async" in projects:
        project = projects["async"]
        apps += [
            App("raw asyncpg", "raw_asyncpg", project, only=NOT_LOGIN),
            App("FastAPI+asyncpg", "fastapi_asyncpg", project, "raw asyncpg", only=READS),
            App("async service", "service_async", project, baseline="raw asyncpg"),
        ]
    if "sync" in projects:
        project = projects["sync"]
        apps += [
            App("raw psycopg2", "raw_psycopg2", project, only=NOT_LOGIN),
            App("FastAPI+psycopg2", "fastapi_psycopg2", project, "raw psycopg2", only=READS),
            App("sync service", "service_sync", project, baseline="raw psycopg2"),
        ]
    return apps


def pool_settings(project: Project, database_url: str) -> dict[str, str]:
    """The service's own pool defaults, so the raw apps get exactly as many connections."""
    output = project.run_python(
        "-c",
        f"from {project.package}.core.config import Settings; "
        f"s = Settings(database_url={database_url!r}); "
        "print(s.db_pool_size, s.db_max_overflow)",
    )
    size, overflow = output.split()
    return {"DB_POOL_SIZE": size, "DB_MAX_OVERFLOW": overflow}


def versions(projects: Mapping[str, Project]) -> dict[str, str]:
    found: dict[str, str] = {}
    for flavour, project in projects.items():
        script = (
            "import importlib.metadata as m, json, platform; "
            f"names = {PACKAGES[flavour]!r}; "
            "print(json.dumps({'Python': platform.python_version()} | "
            "{n: m.version(n) for n in names}))"
        )
        found |= json.loads(project.run_python("-c", script))
    return found


def check_every_scenario(
    apps: Sequence[App],
    servers: Mapping[str, Server],
    scenarios: Sequence[Scenario],
    callers: Callers,
) -> None:
    """Each app answers each scenario's request with a 2xx before any load.

    With authentication, each also refuses the reads without a token (401) and with
    a token that gives no right to them (403): every app does the check it is timed on.
    """
    for app in apps:
        url = servers[app.name].url
        for scenario in (s for s in scenarios if app.serves(s.key)):
            request = scenario.sample(callers, uuid.uuid4().hex[:8])
            status, body = send(url, request.method, request.path, request.body, request.headers)
            if not 200 <= status < 300:
                answer = f"{status}: {body[:300]!r}"
                raise SystemExit(f"{app.name} answered {scenario.key} with {answer}")
            for refused, expected in scenario.refused_samples(callers):
                status, body = send(url, refused.method, refused.path, None, refused.headers)
                if status != expected:
                    answer = f"{status} (not {expected}): {body[:300]!r}"
                    raise SystemExit(f"{app.name} answered a refused {scenario.key} with {answer}")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(
    apps: Sequence[App],
    servers: Mapping[str, Server],
    scenarios: Sequence[Scenario],
    scripts: Mapping[str, Path],
    arguments: argparse.Namespace,
    wrk: str,
) -> dict[tuple[str, str], list[RunResult]]:
    """Warm up, then interleave: every app runs every scenario once per repetition."""

    def load(app: App, scenario: Scenario, seconds: float) -> RunResult:
        return run_wrk(
            wrk,
            servers[app.name],
            scenario,
            scripts[scenario.key],
            seconds,
            tag=uuid.uuid4().hex[:10],
            seed=uuid.uuid4().int % 2**31,
        )

    for scenario in scenarios:
        for app in apps:
            if app.serves(scenario.key):
                load(app, scenario, arguments.warmup)
    results: dict[tuple[str, str], list[RunResult]] = {}
    for repetition in range(arguments.repetitions):
        # Rotate the order so no app always runs first (or right after another).
        order = [*apps[repetition % len(apps) :], *apps[: repetition % len(apps)]]
        for scenario in scenarios:
            for app in (app for app in order if app.serves(scenario.key)):
                result = load(app, scenario, arguments.duration)
                results.setdefault((scenario.key, app.name), []).append(result)
                progress(
                    f"[{repetition + 1}/{arguments.repetitions}] {scenario.key:9} "
                    f"{app.name:16} {result.requests_per_second:8,.0f} req/s "
                    f"p99 {result.p99_ms:7.1f} ms  errors {result.errors} "
                    f"timeouts {result.timeouts}  CPU {_ms(result.cpu_ms_per_request)} ms/req"
                )
    return results


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def table_rows(
    apps: Sequence[App],
    scenarios: Sequence[Scenario],
    results: Mapping[tuple[str, str], list[RunResult]],
) -> list[Row]:
    rows = []
    for scenario in scenarios:
        for app in (app for app in apps if app.serves(scenario.key)):
            runs = results[scenario.key, app.name]
            baseline_runs = results.get((scenario.key, app.baseline or ""), [])
            rows.append(Row(scenario, app.name, app.baseline, runs, baseline_runs))
    return rows


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fastapi-template-bench-"))
    try:
        yield path
    finally:
        if keep:
            progress(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    started = time.monotonic()
    wrk = ensure_wrk()
    scenarios = [s for s in SCENARIOS if not arguments.scenarios or s.key in arguments.scenarios]
    with workspace(arguments.keep) as workdir:
        progress(f"rendering and installing {', '.join(arguments.flavours)} in {workdir}")
        projects = {
            flavour: render_and_install(workdir / flavour, flavour, arguments.ref)
            for flavour in arguments.flavours
        }
        database_url = create_database()
        try:
            any_project = next(iter(projects.values()))
            callers = migrate_and_seed(any_project, database_url)
            if not callers.authenticated:  # a project from before authentication
                scenarios = [s for s in scenarios if not s.needs_login]
            settings = pool_settings(any_project, database_url)
            settings |= dict(setting.split("=", 1) for setting in arguments.setting)
            scripts = {}
            for scenario in scenarios:
                scripts[scenario.key] = workdir / f"{scenario.key}.lua"
                scripts[scenario.key].write_text(scenario.lua(callers))
            apps = build_apps(projects)
            results: dict[tuple[str, str], list[RunResult]] = {}
            # One flavour at a time: its three apps hold a full pool of connections each,
            # and both flavours at once would pass PostgreSQL's default 100.
            for project in projects.values():
                group = [app for app in apps if app.project is project]
                with ExitStack() as stack:
                    servers = {
                        app.name: stack.enter_context(
                            serving(app, database_url, workdir / f"{app.module}.log", **settings)
                        )
                        for app in group
                    }
                    check_every_scenario(group, servers, scenarios, callers)
                    progress(f"{project.flavour}: every app answers every scenario; measuring")
                    results |= measure(group, servers, scenarios, scripts, arguments, wrk)
            facts = {
                "Date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                **machine_facts(),
                **versions(projects),
                "PostgreSQL": f"{server_version()} on the same machine (loopback)",
                "Load generator": f"{wrk_version(wrk)}, 1 thread, {TIMEOUT_SECONDS} s timeout",
                "Runs": (
                    f"{arguments.repetitions} interleaved repetitions of {arguments.duration:g} s "
                    f"after {arguments.warmup:g} s warm-up; medians; ratios paired per "
                    "repetition"
                ),
                "Template": "working tree" if arguments.ref == "HEAD" else arguments.ref,
                "Reads": (
                    "authenticated in every app: a bearer token (HS256) checked and the "
                    "caller looked up per request; each user reads itself, a superuser lists"
                    if callers.authenticated
                    else "anonymous in every app (this template has no authentication)"
                ),
                "CPU ms/req": "the app process's CPU time per request (not PostgreSQL's)",
                "Servers": "1 uvicorn worker each, uvloop + httptools, access log off",
                "Pool per app": ", ".join(f"{k}={v}" for k, v in settings.items()),
            }
        finally:
            drop_database(database_url)
    print(format_facts(facts))
    print()
    print(format_table(table_rows(apps, scenarios, results)))
    progress(f"finished in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
