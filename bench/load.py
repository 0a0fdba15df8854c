"""Running wrk: its installation, one load run, and the parsed summary."""

import dataclasses
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.scenarios import Scenario
from bench.stack import Server

RESULT_MARKER = "BENCH_RESULT "
# A request slower than this counts as a timeout (wrk's own default, stated here).
TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class RunResult:
    requests: int
    duration_us: int
    socket_errors: int  # connect, read and write errors
    non_2xx: int  # wrk counts responses with a status of 400 or more
    timeouts: int
    p50_ms: float
    p99_ms: float
    # CPU time the app's process used during the run (None where it cannot be read)
    cpu_seconds: float | None = None

    @property
    def cpu_ms_per_request(self) -> float | None:
        """The app's CPU time per request answered (not the database's, nor wrk's)."""
        if self.cpu_seconds is None or self.requests == 0:
            return None
        return self.cpu_seconds * 1000 / self.requests

    @property
    def requests_per_second(self) -> float:
        successes = self.requests - self.non_2xx
        return successes / (self.duration_us / 1_000_000)

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


def ensure_wrk() -> str:
    """wrk from Debian; installed here when missing, since nothing else installs it."""
    path = shutil.which("wrk")
    if path is not None:
        return path
    apt = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(apt, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
        installed = subprocess.run(apt, capture_output=True, text=True, check=False)
        if installed.returncode != 0:
            raise SystemExit(f"could not install wrk (run as root?):\n{installed.stderr}")
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is still not on PATH after apt-get install wrk")
    return path


def wrk_version(wrk: str) -> str:
    output = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return output.stdout.splitlines()[0].split(" [")[0] if output.stdout else "wrk"


def run_wrk(
    wrk: str,
    server: Server,
    scenario: Scenario,
    script: Path,
    seconds: float,
    tag: str,
    seed: int,
) -> RunResult:
    command = [
        wrk,
        "--threads=1",  # one wrk thread keeps up with one worker and spares a core
        f"--connections={scenario.connections}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={TIMEOUT_SECONDS}s",
        f"--script={script}",
        server.url + scenario.path,
        "--",
        tag,
        str(seed),
    ]
    cpu_before = server.cpu_seconds()
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu_after = server.cpu_seconds()
    result = parse_result(output.stdout + output.stderr)
    if cpu_before is None or cpu_after is None:
        return result
    return dataclasses.replace(result, cpu_seconds=cpu_after - cpu_before)


def parse_result(output: str) -> RunResult:
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            data = json.loads(line.removeprefix(RESULT_MARKER))
            return RunResult(
                requests=data["requests"],
                duration_us=data["duration_us"],
                socket_errors=data["connect"] + data["read"] + data["write"],
                non_2xx=data["status"],
                timeouts=data["timeout"],
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result:\n{output}")
