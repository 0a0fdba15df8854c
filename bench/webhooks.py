"""Webhook deliveries per flavour: one worker's throughput, and commit-to-receipt latency.

Run from the template repository's root:  uv run python -m bench.webhooks  (--help for options)

For each flavour it renders and installs the project (as `python -m bench` does),
migrates a throwaway database, seeds users, and subscribes one webhook to user events
at a local receiver (bench/receiver.py, whose own capacity it measures first with wrk).
Users are changed with the project's own `UserService.update` (bench/apps/
user_changes.py), which queues each delivery in the change's transaction. Then:

- throughput: with no worker running, N changes are committed; one worker process
  (`python -m <package> worker`) is started, and the receiver's clock gives the
  deliveries per second from the first request to the N-th; the worker's CPU time
  and that of its PostgreSQL backends per delivery come from /proc; the database
  must then say that all N are `delivered`;
- latency: with a worker running and idle, single changes are committed one at a
  time, and each one's time from its COMMIT to the receiver's receipt is taken.
"""

import argparse
import datetime
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from bench.__main__ import progress, workspace
from bench.load import RunResult, ensure_wrk, run_wrk, wrk_version
from bench.report import format_facts, machine_facts
from bench.scenarios import Callers, Scenario
from bench.stack import (
    APPS,
    ROOT,
    Project,
    Server,
    create_database,
    drop_database,
    free_port,
    migrate_and_seed,
    project_environment,
    render_and_install,
    server_version,
)

FLAVOURS = ("sync", "async")
PACKAGES = ("procrastinate", "httpx2", "sqlalchemy", "psycopg", "asyncpg", "psycopg2-binary")
CHANGES = APPS / "user_changes.py"
# The webhook's signing secret (Standard Webhooks form); the receiver does not check
# signatures, but the worker signs every delivery with it as it would in production.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENTS = ["user.created", "user.updated", "user.deleted"]
# The receiver's capacity is measured at these connection counts (the worker's HTTP
# client opens at most WEBHOOK_MAX_CONNECTIONS, 20 by default).
RECEIVER_CONNECTIONS = (10, 50)
RECEIVER_SECONDS = 3
LATENCY_CONCURRENCY = 10  # the default WORKER_CONCURRENCY
WARMUP_CHANGES = 5  # before the timed ones, not timed


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument(
        "--flavours", nargs="+", choices=FLAVOURS, default=FLAVOURS, help="both by default"
    )
    parser.add_argument(
        "--deliveries", type=int, default=2000, help="queued per throughput run (2000)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 10, 50],
        help="WORKER_CONCURRENCY values for throughput (1 10 50)",
    )
    parser.add_argument(
        "--latency-changes", type=int, default=50, help="timed single changes per run (50)"
    )
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between them (0.1)")
    parser.add_argument("--repetitions", type=int, default=3, help="rounds (3)")
    parser.add_argument(
        "--ref", default="HEAD", help="git ref of the template to render (HEAD: working tree)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the projects and logs")
    parser.add_argument(
        "--quiet",
        type=float,
        metavar="PERCENT",
        help="before each run, wait (up to 2 minutes) until the machine is less busy than this",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting for every worker, e.g. LOG_LEVEL=WARNING",
    )
    arguments = parser.parse_args(argv)
    if arguments.deliveries < 2:
        parser.error("--deliveries must be at least 2")
    return arguments


# --- The receiver ---------------------------------------------------------------


@dataclass(frozen=True)
class Receiver:
    server: Server  # its URL and process, for wrk and /proc

    @property
    def hook_url(self) -> str:
        return f"{self.server.url}/hook"

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.server.url + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def count(self) -> int:
        count: int = self._call("GET", "/count")["count"]
        return count

    def connections(self) -> int:
        """The TCP connections that hooks came on since the last reset."""
        connections: int = self._call("GET", "/count")["connections"]
        return connections

    def records(self) -> list[tuple[float, str]]:
        """(CLOCK_MONOTONIC seconds at arrival, body) of every hook, in arrival order."""
        return [(moment, body) for moment, body in self._call("GET", "/records?from=0")]

    def reset(self) -> None:
        self._call("POST", "/reset")

    def wait_for(self, count: int, timeout: float, poll: float = 0.05) -> int:
        deadline = time.monotonic() + timeout
        while (seen := self.count()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the receiver got {seen} of {count} hooks in {timeout:g} s")
            time.sleep(poll)
        return seen


@contextmanager
def receiving(log: Path) -> Iterator[Receiver]:
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", f"--port={port}"],
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )
        receiver = Receiver(Server(f"http://127.0.0.1:{port}", process.pid))
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    receiver.count()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"receiver did not start:\n{log.read_text()}") from None
                    time.sleep(0.1)
            yield receiver
        finally:
            process.terminate()
            process.wait(timeout=10)


def receiver_capacity(wrk: str, receiver: Receiver, workdir: Path) -> dict[int, RunResult]:
    """What the receiver answers per second under wrk, and its CPU per request."""
    capacity = {}
    callers = Callers([])
    for connections in RECEIVER_CONNECTIONS:
        scenario = Scenario(
            f"receiver-{connections}", "receiver", connections, "webhook.lua", "/hook"
        )
        script = workdir / f"{scenario.key}.lua"
        script.write_text(scenario.lua(callers))
        run_wrk(wrk, receiver.server, scenario, script, 1, tag="warmup", seed=0)
        capacity[connections] = run_wrk(
            wrk, receiver.server, scenario, script, RECEIVER_SECONDS, tag="run", seed=0
        )
        receiver.reset()
    return capacity


# --- CPU accounting from /proc ----------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far, all its threads (0 once it is gone)."""
    return Server("", pid).cpu_seconds() or 0.0


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all the machine's cores since boot."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def busy_share(seconds: float = 1.0) -> float:
    """How busy all the machine's cores were over the next `seconds`, 0 to 1."""
    busy, total = machine_jiffies()
    time.sleep(seconds)
    busy_after, total_after = machine_jiffies()
    return (busy_after - busy) / max(1, total_after - total)


def wait_for_quiet(percent: float | None, max_wait: float = 120) -> None:
    """On a shared machine: until others' work leaves the cores mostly idle."""
    if percent is None:
        return
    deadline = time.monotonic() + max_wait
    while (share := busy_share()) * 100 >= percent:
        if time.monotonic() > deadline:
            progress(f"the machine is still {share:.0%} busy after {max_wait:g} s; going on")
            return


@dataclass(frozen=True)
class Snapshot:
    at: float
    worker: float
    receiver: float
    backends: Mapping[int, float]
    machine: tuple[int, int]


def backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving our database (the worker's connections)."""
    name = database_url.rsplit("/", 1)[1]
    with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        return [row[0] for row in cursor.fetchall()]


def snapshot(worker: int, receiver: Receiver, pids: Sequence[int]) -> Snapshot:
    return Snapshot(
        at=time.monotonic(),
        worker=cpu_seconds(worker),
        receiver=cpu_seconds(receiver.server.pid),
        backends={pid: cpu_seconds(pid) for pid in pids},
        machine=machine_jiffies(),
    )


# --- The database and the worker ------------------------------------------------


def execute(database_url: str, *statements: str, autocommit: bool = False) -> list[Any]:
    with closing(psycopg2.connect(database_url)) as connection:
        connection.autocommit = autocommit
        with connection.cursor() as cursor:
            rows: list[Any] = []
            for statement in statements:
                cursor.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
        if not autocommit:
            connection.commit()
        return rows


def subscribe(database_url: str, url: str) -> None:
    with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks (id, url, events, secret) VALUES (gen_random_uuid(), %s, %s, %s)",
            (url, EVENTS, SECRET),
        )
        connection.commit()


def empty_queue(database_url: str) -> None:
    """No deliveries and no jobs: every run starts from the same tables."""
    execute(database_url, "TRUNCATE webhook_deliveries, procrastinate_jobs CASCADE")
    execute(
        database_url,
        "VACUUM ANALYZE users, webhook_deliveries, procrastinate_jobs",
        autocommit=True,
    )


def delivery_statuses(database_url: str) -> dict[str, int]:
    rows = execute(database_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY 1")
    return {status: count for status, count in rows}


def server_clock(database_url: str) -> datetime.datetime:
    moment: datetime.datetime = execute(database_url, "SELECT clock_timestamp()")[0][0]
    return moment


def wait_until_registered(database_url: str, since: datetime.datetime, log: Path) -> None:
    """Until the worker has registered itself (its first heartbeat row)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with closing(psycopg2.connect(database_url)) as connection, connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat >= %s",
                (since,),
            )
            if cur.fetchone()[0]:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the worker did not register in 60 s:\n{log.read_text()[-3000:]}")


@contextmanager
def running_worker(
    project: Project, database_url: str, concurrency: int, log: Path, settings: Mapping[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    environment = project_environment(
        DATABASE_URL=database_url, WORKER_CONCURRENCY=str(concurrency), **settings
    )
    with log.open("w") as output:
        process = subprocess.Popen(
            [project.python, "-m", project.package, "worker"],
            cwd=project.path,
            env=environment,
            stdout=output,
            stderr=output,
        )
        try:
            yield process
        finally:
            process.terminate()  # SIGTERM: running jobs finish, then it exits
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def change_users(
    project: Project,
    database_url: str,
    *,
    count: int,
    tag: str,
    interval: float = 0.0,
    warmup: int = 0,
) -> dict[str, Any]:
    """Commit `count` user changes through the project's UserService (after `warmup`)."""
    output = project.run_python(
        str(CHANGES),
        f"--count={count}",
        f"--interval={interval}",
        f"--tag={tag}",
        f"--warmup={warmup}",
        f"--flavour={project.flavour}",
        env=project_environment(DATABASE_URL=database_url, BENCH_PACKAGE=project.package),
    )
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def full_name(body: str) -> str:
    name: str = json.loads(body)["data"]["full_name"]
    return name


# --- The two measurements ---------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    flavour: str
    concurrency: int
    deliveries: int
    per_second: float  # from the first request at the receiver to the N-th
    queue_seconds: float  # committing the N changes, with no worker running
    first_after: float  # seconds from the worker's start to the first request
    worker_cpu_ms: float  # per delivery
    backends_cpu_ms: float  # per delivery: the worker's PostgreSQL server processes
    receiver_cpu_ms: float  # per delivery
    machine_busy: float  # share of all cores busy during the run, anyone's work
    others_busy: float  # ... of which not the worker, its backends or the receiver
    statuses: Mapping[str, int]
    received: int
    duplicates: int
    connections: int  # that the worker's requests came on

    @property
    def all_delivered(self) -> bool:
        return self.statuses == {"delivered": self.deliveries}


def measure_throughput(
    project: Project,
    database_url: str,
    receiver: Receiver,
    concurrency: int,
    deliveries: int,
    log: Path,
    settings: Mapping[str, str],
) -> Throughput:
    empty_queue(database_url)
    receiver.reset()
    tag = f"throughput {uuid.uuid4().hex[:8]}"
    queued = change_users(project, database_url, count=deliveries, tag=tag)
    if (statuses := delivery_statuses(database_url)) != {"pending": deliveries}:
        raise RuntimeError(f"expected {deliveries} pending deliveries, found {statuses}")
    with running_worker(project, database_url, concurrency, log, settings) as worker:
        started = time.monotonic()
        try:
            first_count = receiver.wait_for(1, timeout=60, poll=0.005)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{log.read_text()[-3000:]}") from None
        pids = backend_pids(database_url)
        before = snapshot(worker.pid, receiver, pids)
        receiver.wait_for(deliveries, timeout=max(120, deliveries / 5))
        deadline = time.monotonic() + 60
        while (statuses := delivery_statuses(database_url)).get("delivered") != deliveries:
            if time.monotonic() > deadline or worker.poll() is not None:
                break
            time.sleep(0.05)
        after = snapshot(worker.pid, receiver, backend_pids(database_url))
    records = receiver.records()
    times = [moment for moment, _ in records]
    names = {full_name(body) for _, body in records}
    counted = deliveries - first_count + 1  # deliveries made in the window, about
    busy = after.machine[0] - before.machine[0]
    total = after.machine[1] - before.machine[1]
    wall = after.at - before.at
    worker_cpu = after.worker - before.worker
    receiver_cpu = after.receiver - before.receiver
    backends_cpu = sum(
        seconds - before.backends.get(pid, 0.0) for pid, seconds in after.backends.items()
    )
    cores = os.cpu_count() or 1
    ours = (worker_cpu + receiver_cpu + backends_cpu) / (wall * cores)
    machine_busy = busy / total if total else 0.0
    return Throughput(
        flavour=project.flavour,
        concurrency=concurrency,
        deliveries=deliveries,
        per_second=(deliveries - 1) / (times[deliveries - 1] - times[0]),
        queue_seconds=queued["finished"] - queued["started"],
        first_after=times[0] - started,
        worker_cpu_ms=worker_cpu * 1000 / counted,
        backends_cpu_ms=backends_cpu * 1000 / counted,
        receiver_cpu_ms=receiver_cpu * 1000 / counted,
        machine_busy=machine_busy,
        others_busy=max(0.0, machine_busy - ours),
        statuses=statuses,
        received=len(records),
        duplicates=len(records) - len(names),
        connections=receiver.connections(),
    )


@dataclass(frozen=True)
class Latency:
    flavour: str
    seconds: Sequence[float]  # commit to receipt, one per change
    commit_seconds: Sequence[float]  # the change itself: UserService.update and COMMIT


def measure_latency(
    project: Project,
    database_url: str,
    receiver: Receiver,
    changes: int,
    interval: float,
    log: Path,
    settings: Mapping[str, str],
) -> Latency:
    receiver.reset()
    tag = f"latency {uuid.uuid4().hex[:8]}"
    since = server_clock(database_url)
    with running_worker(project, database_url, LATENCY_CONCURRENCY, log, settings):
        wait_until_registered(database_url, since, log)
        time.sleep(1)  # its listener is up by now; the warm-up changes make sure
        result = change_users(
            project, database_url, count=changes, tag=tag, interval=interval, warmup=WARMUP_CHANGES
        )
        receiver.wait_for(changes + WARMUP_CHANGES, timeout=60)
    arrivals = {full_name(body): moment for moment, body in receiver.records()}
    commits = result["commits"]
    return Latency(
        flavour=project.flavour,
        seconds=[arrivals[name] - committed for name, _, committed in commits],
        commit_seconds=[committed - before for _, before, committed in commits],
    )


# --- Reporting ----------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def spread(values: Sequence[float], digits: int = 0) -> str:
    """Median, and the range when there is more than one value."""
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def format_receiver(capacity: Mapping[int, RunResult]) -> str:
    lines = ["| Connections | req/s | p99 ms | errors | CPU ms/req |", "|---|---|---|---|---|"]
    for connections, run in capacity.items():
        cpu = run.cpu_ms_per_request
        lines.append(
            f"| {connections} | {run.requests_per_second:,.0f} | {run.p99_ms:.1f} "
            f"| {run.errors} | {'?' if cpu is None else f'{cpu:.3f}'} |"
        )
    return "\n".join(lines)


def format_throughput(runs: Sequence[Throughput]) -> str:
    lines = [
        "| Flavour | WORKER_CONCURRENCY | deliveries/s | worker CPU ms/delivery "
        "| PostgreSQL CPU ms/delivery | receiver CPU ms/delivery | machine busy % "
        "| others' share % | all delivered |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, int], list[Throughput]] = {}
    for run in runs:
        groups.setdefault((run.flavour, run.concurrency), []).append(run)
    for (flavour, concurrency), group in groups.items():
        delivered = sum(run.all_delivered for run in group)
        lines.append(
            f"| {flavour} | {concurrency} "
            f"| {spread([run.per_second for run in group])} "
            f"| {spread([run.worker_cpu_ms for run in group], 2)} "
            f"| {spread([run.backends_cpu_ms for run in group], 2)} "
            f"| {spread([run.receiver_cpu_ms for run in group], 3)} "
            f"| {spread([run.machine_busy * 100 for run in group])} "
            f"| {spread([run.others_busy * 100 for run in group])} "
            f"| {delivered}/{len(group)} runs |"
        )
    return "\n".join(lines)


def format_latency(runs: Sequence[Latency]) -> str:
    lines = [
        "| Flavour | changes | p50 ms | p90 ms | p99 ms | max ms | p50 per run ms "
        "| change+COMMIT p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[Latency]] = {}
    for run in runs:
        groups.setdefault(run.flavour, []).append(run)
    for flavour, group in groups.items():
        pooled = [seconds * 1000 for run in group for seconds in run.seconds]
        per_run = [statistics.median(run.seconds) * 1000 for run in group]
        commits = [seconds * 1000 for run in group for seconds in run.commit_seconds]
        lines.append(
            f"| {flavour} | {len(pooled)} | {percentile(pooled, 0.5):.1f} "
            f"| {percentile(pooled, 0.9):.1f} | {percentile(pooled, 0.99):.1f} "
            f"| {max(pooled):.1f} | {', '.join(f'{value:.1f}' for value in per_run)} "
            f"| {statistics.median(commits):.1f} |"
        )
    return "\n".join(lines)


def versions(project: Project) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json, platform; "
        f"names = {PACKAGES!r}; "
        "print(json.dumps({'Python': platform.python_version()} | "
        "{n: m.version(n) for n in names if n in {d.metadata['Name'] for d in m.distributions()}}))"
    )
    found: dict[str, str] = json.loads(project.run_python("-c", script))
    return found


def worker_settings(project: Project, database_url: str) -> str:
    output = project.run_python(
        "-c",
        f"from {project.package}.core.config import Settings; "
        f"s = Settings(database_url={database_url!r}); "
        "print(s.db_pool_size, s.db_max_overflow, s.webhook_max_connections, s.log_level)",
    )
    pool, overflow, connections, log_level = output.split()
    return (
        f"DB_POOL_SIZE={pool}, DB_MAX_OVERFLOW={overflow}, "
        f"WEBHOOK_MAX_CONNECTIONS={connections}, LOG_LEVEL={log_level} (defaults)"
    )


@dataclass
class Flavour:
    project: Project
    database_url: str
    throughput: list[Throughput] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    # SIGTERM unwinds like Ctrl-C: the worker stops and the databases are dropped.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    settings = dict(setting.split("=", 1) for setting in arguments.setting)
    started = time.monotonic()
    wrk = ensure_wrk()
    load_before = load_average()
    flavours: dict[str, Flavour] = {}
    with workspace(arguments.keep) as workdir, receiving(workdir / "receiver.log") as receiver:
        progress(f"receiver at {receiver.hook_url}; measuring its capacity with wrk")
        capacity = receiver_capacity(wrk, receiver, workdir)
        for connections, run in capacity.items():
            progress(f"receiver, {connections} connections: {run.requests_per_second:,.0f} req/s")
        progress(f"rendering and installing {', '.join(arguments.flavours)} in {workdir}")
        try:
            for name in arguments.flavours:
                project = render_and_install(workdir / name, name, arguments.ref)
                database_url = create_database()
                flavours[name] = Flavour(project, database_url)
                migrate_and_seed(project, database_url)
                subscribe(database_url, receiver.hook_url)
            for repetition in range(arguments.repetitions):
                # Rotate the order so no flavour always runs first.
                names = list(flavours)
                names = names[repetition % len(names) :] + names[: repetition % len(names)]
                for name in names:
                    flavour = flavours[name]
                    for concurrency in arguments.concurrency:
                        log = workdir / f"worker-{name}-{concurrency}-{repetition}.log"
                        wait_for_quiet(arguments.quiet)
                        run = measure_throughput(
                            flavour.project,
                            flavour.database_url,
                            receiver,
                            concurrency,
                            arguments.deliveries,
                            log,
                            settings,
                        )
                        flavour.throughput.append(run)
                        progress(
                            f"[{repetition + 1}/{arguments.repetitions}] {name:5} "
                            f"concurrency {concurrency:3}: {run.per_second:7,.1f} deliveries/s, "
                            f"worker {run.worker_cpu_ms:.2f} ms CPU each, PostgreSQL "
                            f"{run.backends_cpu_ms:.2f} ms, machine {run.machine_busy:.0%} busy "
                            f"(others {run.others_busy:.0%}); queued in "
                            f"{run.queue_seconds:.1f} s; first after {run.first_after:.1f} s; "
                            f"{dict(run.statuses)}; received {run.received}, "
                            f"{run.duplicates} twice, on {run.connections} connections"
                        )
                    log = workdir / f"worker-{name}-latency-{repetition}.log"
                    wait_for_quiet(arguments.quiet)
                    latency = measure_latency(
                        flavour.project,
                        flavour.database_url,
                        receiver,
                        arguments.latency_changes,
                        arguments.interval,
                        log,
                        settings,
                    )
                    flavour.latency.append(latency)
                    milliseconds = [seconds * 1000 for seconds in latency.seconds]
                    progress(
                        f"[{repetition + 1}/{arguments.repetitions}] {name:5} latency: "
                        f"p50 {percentile(milliseconds, 0.5):.1f} ms, "
                        f"p99 {percentile(milliseconds, 0.99):.1f} ms, "
                        f"max {max(milliseconds):.1f} ms"
                    )
            any_flavour = next(iter(flavours.values()))
            facts = {
                "Date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                **machine_facts(),
                **versions(any_flavour.project),
                "PostgreSQL": f"{server_version()} on the same machine (loopback)",
                "Load average (1, 5, 15 min)": f"{load_before} before, {load_average()} after",
                "Template": "working tree" if arguments.ref == "HEAD" else arguments.ref,
                "Worker": (
                    f"one `python -m {any_flavour.project.package} worker` process; "
                    + worker_settings(any_flavour.project, any_flavour.database_url)
                    + "".join(f", {k}={v}" for k, v in settings.items())
                ),
                "Receiver": (
                    f"bench/receiver.py, one asyncio process answering 204 at once; "
                    f"{wrk_version(wrk)} capacity below"
                ),
                "Throughput runs": (
                    f"{arguments.deliveries:,} deliveries queued by as many committed "
                    "UserService.update calls, then one worker started; deliveries/s from "
                    f"the receiver's first request to its {arguments.deliveries:,}th; "
                    f"{arguments.repetitions} repetitions, median (min-max)"
                ),
                "Latency runs": (
                    f"{arguments.latency_changes} single changes {arguments.interval:g} s "
                    f"apart per repetition to an idle worker (WORKER_CONCURRENCY="
                    f"{LATENCY_CONCURRENCY}), after {WARMUP_CHANGES} warm-up changes; COMMIT "
                    "returned to request received, both on CLOCK_MONOTONIC; percentiles of all "
                    "runs pooled"
                ),
            }
        finally:
            for flavour in flavours.values():
                drop_database(flavour.database_url)
    runs = [run for flavour in flavours.values() for run in flavour.throughput]
    latencies = [run for flavour in flavours.values() for run in flavour.latency]
    print(format_facts(facts))
    print()
    print(format_receiver(capacity))
    print()
    print(format_throughput(runs))
    print()
    print(format_latency(latencies))
    progress(f"finished in {time.monotonic() - started:.0f} s")
    if not all(run.all_delivered for run in runs):
        raise SystemExit("some throughput run did not end with every delivery delivered")


if __name__ == "__main__":
    main()
