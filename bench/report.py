"""Turning runs into the published table: medians, paired ratios, machine facts."""

import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.load import RunResult
from bench.scenarios import Scenario


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    app: str
    baseline: str | None
    runs: Sequence[RunResult]
    # The same repetitions of the baseline, paired run by run.
    baseline_runs: Sequence[RunResult] = ()

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

    def throughput_ratio(self) -> float | None:
        """Median over repetitions of (this app's req/s ÷ its baseline's, same repetition)."""
        pairs = list(zip(self.runs, self.baseline_runs, strict=False))
        ratios = [
            run.requests_per_second / base.requests_per_second
            for run, base in pairs
            if base.requests_per_second > 0
        ]
        return statistics.median(ratios) if ratios else None

    def p99_ratio(self) -> float | None:
        pairs = list(zip(self.runs, self.baseline_runs, strict=False))
        ratios = [run.p99_ms / base.p99_ms for run, base in pairs if base.p99_ms > 0]
        return statistics.median(ratios) if ratios else None


HEADER = (
    "| Scenario | Conns | App | req/s | p50 ms | p99 ms | errors | timeouts "
    "| req/s vs raw | p99 vs raw | CPU ms/req |"
)


def format_table(rows: Sequence[Row]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for row in rows:
        ratio = row.throughput_ratio()
        p99_ratio = row.p99_ratio()
        lines.append(
            f"| {row.scenario.title} | {row.scenario.connections} | {row.app} "
            f"| {row.requests_per_second:,.0f} | {row.p50_ms:.1f} | {row.p99_ms:.1f} "
            f"| {row.errors} | {row.timeouts} "
            f"| {_ratio(ratio)} | {_ratio(p99_ratio)} | {_ratio(row.cpu_ms_per_request)} |"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


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
