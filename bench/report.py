"""Turning runs into the published tables: medians, paired ratios, targets, facts."""

import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.load import RunResult
from bench.scenarios import READS, Scenario


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    app: str
    runs: Sequence[RunResult]
    # Other apps' runs of the same scenario in the same repetitions, paired run by run:
    # the raw-driver baseline's and the FastAPI floor's (empty where there is none).
    raw_runs: Sequence[RunResult] = ()
    floor_runs: Sequence[RunResult] = ()
    # The same app's runs with one worker: an earlier phase, too far apart in time to
    # pair run by run, so compared by medians.
    one_worker_runs: Sequence[RunResult] = ()

    @property
    def requests_per_second(self) -> float:
        return statistics.median(run.requests_per_second for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def cpu_ms_per_request(self) -> float | None:
        values = [run.cpu_ms_per_request for run in self.runs]
        measured = [value for value in values if value is not None]
        return statistics.median(measured) if measured else None

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    @property
    def timeouts(self) -> int:
        return sum(run.timeouts for run in self.runs)

    def throughput_ratio(self, others: Sequence[RunResult]) -> float | None:
        """Median over repetitions of (this app's req/s ÷ the other's, same repetition)."""
        pairs = list(zip(self.runs, others, strict=False))
        ratios = [
            run.requests_per_second / other.requests_per_second
            for run, other in pairs
            if other.requests_per_second > 0
        ]
        return statistics.median(ratios) if ratios else None

    def p99_ratio(self, others: Sequence[RunResult]) -> float | None:
        """Median over repetitions of (this app's p99 ÷ the other's, same repetition)."""
        pairs = list(zip(self.runs, others, strict=False))
        ratios = [run.p99_ms / other.p99_ms for run, other in pairs if other.p99_ms > 0]
        return statistics.median(ratios) if ratios else None

    def scaling(self) -> float | None:
        """This app's median req/s ÷ its median req/s with one worker."""
        if not self.one_worker_runs:
            return None
        one_worker = statistics.median(run.requests_per_second for run in self.one_worker_runs)
        return self.requests_per_second / one_worker if one_worker > 0 else None


MEASURED_COLUMNS = ("Scenario", "Conns", "App", "req/s", "p50 ms", "p99 ms", "errors", "timeouts")
# With one worker the raw apps run too; with more they do not (PostgreSQL's
# connections), and the app is compared with itself on one worker instead.
ONE_WORKER_COLUMNS = ("req/s vs raw", "p99 vs raw")
MULTI_WORKER_COLUMNS = ("req/s vs 1 worker",)
# Last, so the columns before them stay where older tables have them.
FLOOR_COLUMNS = ("req/s vs floor", "p99 vs floor")


def format_table(rows: Sequence[Row], workers: int = 1) -> str:
    """One phase's table: every app with `workers` uvicorn workers."""
    phase_columns = ONE_WORKER_COLUMNS if workers == 1 else MULTI_WORKER_COLUMNS
    header = (*MEASURED_COLUMNS, *phase_columns, "CPU ms/req", *FLOOR_COLUMNS)
    lines = [_markdown_row(header), "|" + "---|" * len(header)]
    for row in rows:
        if workers == 1:
            phase_cells = [
                _ratio(row.throughput_ratio(row.raw_runs)),
                _ratio(row.p99_ratio(row.raw_runs)),
            ]
        else:
            phase_cells = [_ratio(row.scaling())]
        cells = [
            *_measured_cells(row),
            *phase_cells,
            _ratio(row.cpu_ms_per_request),
            _ratio(row.throughput_ratio(row.floor_runs)),
            _ratio(row.p99_ratio(row.floor_runs)),
        ]
        lines.append(_markdown_row(cells))
    return "\n".join(lines)


def _measured_cells(row: Row) -> list[str]:
    return [
        row.scenario.title,
        str(row.scenario.connections),
        row.app,
        f"{row.requests_per_second:,.0f}",
        f"{row.p50_ms:.1f}",
        f"{row.p99_ms:.1f}",
        str(row.errors),
        str(row.timeouts),
    ]


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


# The project's targets, set against the FastAPI floor: a service built on FastAPI
# cannot beat FastAPI alone on the same driver.
MIN_THROUGHPUT_VS_FLOOR = 0.6
MAX_P99_VS_FLOOR = 3.0
MIN_SYNC_VS_ASYNC_READ = 0.8
TIMES = "\N{MULTIPLICATION SIGN}"  # spelled out: ruff takes the sign itself for an x


def format_summary(tables: Mapping[int, Sequence[Row]], services: Mapping[str, str]) -> str:
    """The targets as a checklist, after the tables.

    tables: each phase's rows by worker count; services: each flavour's service app.
    """
    lines = [
        "**Targets** on the reads (one user and a page, at 64 and 200 connections): each "
        f"service ≥ {MIN_THROUGHPUT_VS_FLOOR}{TIMES} its FastAPI floor's req/s and p99 ≤ "
        f"{MAX_P99_VS_FLOOR:g}{TIMES} the floor's (paired per repetition); no timeouts or errors; "
        f"sync read ≥ {MIN_SYNC_VS_ASYNC_READ}{TIMES} async read",
        "",
    ]
    for flavour, service in services.items():
        for workers, rows in tables.items():
            checks = [_floor_check(row) for row in rows if _is_target(row, service)]
            if checks:
                lines.append(f"- {flavour} service, {_workers(workers)}: {'; '.join(checks)}")
    lines.append(_failures_check(tables, services.values()))
    if {"sync", "async"} <= services.keys():
        for workers, rows in tables.items():
            checks = _sync_read_checks(rows, services["sync"], services["async"])
            if checks:
                lines.append(f"- sync read ÷ async read, {_workers(workers)}: {'; '.join(checks)}")
    return "\n".join(lines)


def _is_target(row: Row, service: str) -> bool:
    return row.app == service and row.scenario.key in READS and bool(row.floor_runs)


def _floor_check(row: Row) -> str:
    throughput = row.throughput_ratio(row.floor_runs)
    p99 = row.p99_ratio(row.floor_runs)
    throughput_met = throughput is not None and throughput >= MIN_THROUGHPUT_VS_FLOOR
    p99_met = p99 is not None and p99 <= MAX_P99_VS_FLOOR
    return (
        f"{row.scenario.key} {_times(throughput)} {_mark(throughput_met)}, "
        f"p99 {_times(p99)} {_mark(p99_met)}"
    )


def _failures_check(tables: Mapping[int, Sequence[Row]], services: Iterable[str]) -> str:
    """Timeouts and errors of the services (a baseline's own are in its rows)."""
    names = tuple(services)
    failing = [
        f"{row.app} {row.scenario.key} ({_workers(workers)}): "
        f"timeouts {row.timeouts}, errors {row.errors}"
        for workers, rows in tables.items()
        for row in rows
        if row.app.startswith(names) and (row.timeouts or row.errors)
    ]
    if not failing:
        return f"- Services' timeouts and errors: none in any scenario {_mark(True)}"
    return f"- Services' timeouts and errors {_mark(False)}: {'; '.join(failing)}"


def _sync_read_checks(rows: Sequence[Row], sync_service: str, async_service: str) -> list[str]:
    """Per one-user read scenario, the sync service's median req/s ÷ the async one's."""
    async_medians = {
        row.scenario.key: row.requests_per_second for row in rows if row.app == async_service
    }
    checks = []
    for row in rows:
        async_median = async_medians.get(row.scenario.key, 0.0)
        if row.app == sync_service and row.scenario.script == "read.lua" and async_median > 0:
            ratio = row.requests_per_second / async_median
            checks.append(
                f"{row.scenario.key} {_times(ratio)} {_mark(ratio >= MIN_SYNC_VS_ASYNC_READ)}"
            )
    return checks


def _times(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}{TIMES}"


def _mark(met: bool) -> str:
    return "✓" if met else "✗"


def _workers(count: int) -> str:
    return "1 worker" if count == 1 else f"{count} workers"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def format_facts(facts: Mapping[str, str]) -> str:
    return "\n".join(f"- {name}: {value}" for name, value in facts.items())


def machine_facts() -> dict[str, str]:
    return {
        "CPU": f"{os.cpu_count()} cores, {cpu_model()}",
        "OS": f"{platform.system()} {platform.release()}",
    }
