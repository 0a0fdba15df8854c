"""Benchmark both generated flavours against raw-driver and FastAPI apps; print the tables.

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
from dataclasses import dataclass
from pathlib import Path

from bench.load import TIMEOUT_SECONDS, RunResult, ensure_wrk, run_wrk, wrk_version
from bench.report import (
    TIMES,
    Row,
    format_facts,
    format_summary,
    format_table,
    machine_facts,
)
from bench.scenarios import READS, SCENARIOS, Callers, Scenario
from bench.stack import (
    App,
    Project,
    Server,
    connection_limit,
    create_database,
    drop_database,
    migrate_and_seed,
    render_and_install,
    send,
    server_version,
    serving,
)

FLAVOURS = ("async", "sync")
DRIVERS = {"async": "asyncpg", "sync": "psycopg2"}
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
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also run each flavour's service rendered from this git ref (a release, a "
        "commit), interleaved with the others: a before/after paired per repetition "
        "(one-worker phase only)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the rendered projects")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for every app (every worker), e.g. DB_POOL_SIZE=5",
    )
    parser.add_argument(
        "--workers",
        nargs="+",
        type=worker_count,
        default=[1, 2],
        metavar="N",
        help="uvicorn workers per app, a phase and a table per count (1 2); "
        "with more than 1 the raw apps do not run",
    )
    return parser.parse_args(argv)


def worker_count(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a worker count")
    return count


# The generated service's default DB_POOL_SIZE: what the multi-worker phases are sized for.
DEFAULT_POOL_SIZE = 20
# Only the services log in: the raw apps have no login to compare with.
NOT_LOGIN = frozenset(scenario.key for scenario in SCENARIOS if not scenario.needs_login)


# The name of a service rendered from --before: "sync service before".
BEFORE = " before"


def build_apps(
    projects: Mapping[str, Project], before: Mapping[str, Project] | None = None
) -> list[App]:
    """Per flavour: the raw app, the FastAPI floor, the service (and its --before)."""
    apps = []
    for flavour, project in sorted(projects.items()):  # async first, then sync
        raw, floor = f"raw {DRIVERS[flavour]}", f"FastAPI+{DRIVERS[flavour]}"
        service = f"{flavour} service"
        apps += [
            App(raw, f"raw_{DRIVERS[flavour]}", project, only=NOT_LOGIN),
            App(floor, f"fastapi_{DRIVERS[flavour]}", project, raw, only=READS),
            App(service, f"service_{flavour}", project, raw, floor=floor),
        ]
        if before is not None:
            module = f"service_{flavour}"
            apps.append(App(service + BEFORE, module, before[flavour], raw, floor=floor))
    return apps


def phase_apps(apps: Sequence[App], workers: int) -> list[App]:
    """The apps a phase runs: all with 1 worker; with more, the services and floors.

    Each worker has its own pool: with 2 workers, a flavour's three apps would hold
    3 x 2 x 20 = 120 connections, more than PostgreSQL's default 100. The raw apps and
    the --before services go; the floor stays, since the targets are set against it.
    """
    if workers == 1:
        return list(apps)
    return [app for app in apps if not app.is_raw and not is_before(app)]


def is_before(app: App) -> bool:
    """A service rendered from --before: compared in the one-worker phase only."""
    return app.name.endswith(BEFORE)


def connections_per_worker(settings: Mapping[str, str]) -> int:
    """A full pool: every process, every worker of a server, has one of its own."""
    return int(settings["DB_POOL_SIZE"]) + int(settings.get("DB_MAX_OVERFLOW", "0"))


def connections_needed(apps: Sequence[App], workers: int, settings: Mapping[str, str]) -> int:
    """The most connections a phase holds at once: one flavour's apps, all pools full."""
    per_worker = connections_per_worker(settings)
    flavours = {app.project.flavour for app in apps}
    return max(
        len([app for app in phase_apps(apps, workers) if app.project.flavour == flavour])
        * workers
        * per_worker
        for flavour in flavours
    )


def check_connections(
    apps: Sequence[App], worker_counts: Sequence[int], settings: Mapping[str, str]
) -> None:
    """Stop before any load if a phase would run out of connections (the pools fill up)."""
    limit = connection_limit()
    for workers in worker_counts:
        needed = connections_needed(apps, workers, settings)
        if needed > limit:
            raise SystemExit(
                f"{workers} workers per app need {needed} connections, and PostgreSQL "
                f"allows {limit}: fewer --workers, or a smaller --setting DB_POOL_SIZE"
            )


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


Results = dict[tuple[str, str], list[RunResult]]  # (scenario key, app name): its runs


def measure(
    apps: Sequence[App],
    servers: Mapping[str, Server],
    scenarios: Sequence[Scenario],
    scripts: Mapping[str, Path],
    arguments: argparse.Namespace,
    wrk: str,
) -> Results:
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
    results: Results = {}
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
    results: Results,
    one_worker_results: Results | None = None,
) -> list[Row]:
    """One phase's rows; one_worker_results: the 1-worker phase's, for a later phase."""
    rows = []
    for scenario in scenarios:
        for app in (app for app in apps if app.serves(scenario.key)):
            rows.append(
                Row(
                    scenario,
                    app.name,
                    results[scenario.key, app.name],
                    raw_runs=results.get((scenario.key, app.baseline or ""), []),
                    floor_runs=results.get((scenario.key, app.floor or ""), []),
                    one_worker_runs=(one_worker_results or {}).get((scenario.key, app.name), []),
                )
            )
    return rows


def phase_tables(
    apps: Sequence[App], scenarios: Sequence[Scenario], results: Mapping[int, Results]
) -> dict[int, list[Row]]:
    """Each phase's rows by worker count, later phases with their 1-worker runs."""
    return {
        workers: table_rows(
            phase_apps(apps, workers),
            scenarios,
            phase_results,
            results.get(1) if workers > 1 else None,
        )
        for workers, phase_results in results.items()
    }


def phase_facts(workers: int, settings: Mapping[str, str], with_one_worker: bool) -> dict[str, str]:
    """What the facts say of one phase's servers (with 1 worker: what they always said)."""
    pool = ", ".join(f"{name}={value}" for name, value in settings.items())
    if workers == 1:
        return {
            "CPU ms/req": "the app process's CPU time per request (not PostgreSQL's)",
            "Servers": "1 uvicorn worker each, uvloop + httptools, access log off",
            "Pool per app": pool,
        }
    per_worker = connections_per_worker(settings)
    facts = {
        "CPU ms/req": (
            "the CPU time of the app's uvicorn master and all its worker processes per "
            "request (not PostgreSQL's)"
        ),
        "Servers": (
            f"{workers} uvicorn workers each (--workers={workers}; the generated Dockerfile "
            "runs 2, WEB_CONCURRENCY=2), uvloop + httptools, access log off"
        ),
        "Pool per worker": f"{pool}: {workers * per_worker} connections per app",
        "Apps": (
            "per flavour, the service and its FastAPI floor (the reads only); the raw apps "
            f"run with 1 worker only, as 3 apps {TIMES} {workers} workers {TIMES} "
            f"{DEFAULT_POOL_SIZE} connections (the default pool) would pass PostgreSQL's "
            "default 100"
        ),
    }
    if with_one_worker:
        facts["req/s vs 1 worker"] = (
            "the app's median req/s over its median with 1 worker, same scenario (an "
            "earlier phase: not paired per repetition)"
        )
    return facts


@dataclass(frozen=True)
class Setup:
    """What every phase shares: the database, the apps' settings, scenarios and scripts."""

    database_url: str
    settings: Mapping[str, str]
    scenarios: Sequence[Scenario]
    scripts: Mapping[str, Path]
    callers: Callers
    workdir: Path


def run_phase(
    apps: Sequence[App], workers: int, setup: Setup, arguments: argparse.Namespace, wrk: str
) -> Results:
    """Every app of the phase with `workers` uvicorn workers, one flavour at a time.

    One flavour at a time: its apps hold a full pool of connections each (per worker),
    and both flavours at once would pass PostgreSQL's default 100.
    """
    results: Results = {}
    for flavour in dict.fromkeys(app.project.flavour for app in apps):
        group = [app for app in apps if app.project.flavour == flavour]
        with ExitStack() as stack:
            servers = {
                app.name: stack.enter_context(
                    serving(
                        app,
                        setup.database_url,
                        setup.workdir / log_name(app, workers),
                        workers,
                        **setup.settings,
                    )
                )
                for app in group
            }
            check_every_scenario(group, servers, setup.scenarios, setup.callers)
            progress(
                f"{flavour}, {workers} worker(s) per app: every app answers every scenario; "
                "measuring"
            )
            results |= measure(group, servers, setup.scenarios, setup.scripts, arguments, wrk)
    return results


def log_name(app: App, workers: int) -> str:
    """By the app's name: a service and its --before run the same module."""
    name = app.name.replace(" ", "-").replace("+", "-")
    return f"{name}.log" if workers == 1 else f"{name}-{workers}-workers.log"


def print_tables(
    facts: Mapping[str, str],
    tables: Mapping[int, Sequence[Row]],
    settings: Mapping[str, str],
    services: Mapping[str, str],
) -> None:
    """The facts and the first phase's table, each later phase's, then the targets.

    With --workers 1 that is the table as it always was (plus the floor columns), then
    the targets.
    """
    for index, (workers, rows) in enumerate(tables.items()):
        own_facts = phase_facts(workers, settings, with_one_worker=1 in tables)
        if index == 0:
            print(format_facts({**facts, **own_facts}))
        else:
            print(f"\n**{workers} uvicorn workers per app**\n")
            print(format_facts(own_facts))
        print()
        print(format_table(rows, workers))
    print()
    print(format_summary(tables, services))


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
        before = None
        if arguments.before:
            before = {
                flavour: render_and_install(
                    workdir / f"{flavour}-before", flavour, arguments.before
                )
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
            apps = build_apps(projects, before)
            worker_counts = sorted(set(arguments.workers))  # 1 first: later ones compare
            check_connections(apps, worker_counts, settings)
            setup = Setup(database_url, settings, scenarios, scripts, callers, workdir)
            results = {
                workers: run_phase(phase_apps(apps, workers), workers, setup, arguments, wrk)
                for workers in worker_counts
            }
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
                "Template": ("working tree" if arguments.ref == "HEAD" else arguments.ref)
                + (
                    f'; each "<flavour> service{BEFORE}" is the service rendered from '
                    f"{arguments.before}, run with 1 worker"
                    if arguments.before
                    else ""
                ),
                "Reads": (
                    "authenticated in every app: a bearer token (HS256) checked and the "
                    "caller looked up per request; each user reads itself, a superuser lists"
                    if callers.authenticated
                    else "anonymous in every app (this template has no authentication)"
                ),
            }
        finally:
            drop_database(database_url)
    services = {
        app.project.flavour: app.name
        for app in apps
        if app.floor is not None and not is_before(app)
    }
    print_tables(facts, phase_tables(apps, scenarios, results), settings, services)
    progress(f"finished in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
