"""Commit user changes through the project's own UserService, one transaction each.

Run by a rendered project's interpreter (bench/webhooks.py starts it), so it imports
only what the project installs. Each change renames one seeded user with
`UserService.update`, which records a `user.updated` delivery and queues its job in
the change's own transaction, exactly as a PATCH request does (no password: no
argon2). It prints one JSON line: when each change's COMMIT returned, on
CLOCK_MONOTONIC, which every process on the machine shares, and the full name it
set, which the webhook's body carries; the bench matches the two at its receiver.

    python user_changes.py --count 50 --interval 0.1 --tag run1 [--warmup 3]
"""

import argparse
import asyncio
import importlib
import json
import os
import time
from typing import Any

from sqlalchemy import text

_package = os.environ.get("BENCH_PACKAGE", "bench_service")
Settings: Any = importlib.import_module(f"{_package}.core.config").Settings
Database: Any = importlib.import_module(f"{_package}.core.database").Database
UserService: Any = importlib.import_module(f"{_package}.services.users").UserService
_schemas = importlib.import_module(f"{_package}.schemas.user")
UserRead: Any = _schemas.UserRead
UserUpdate: Any = _schemas.UserUpdate

_SUPERUSER = text("SELECT * FROM users WHERE is_superuser ORDER BY email LIMIT 1")
_USERS = text("SELECT id FROM users WHERE NOT is_superuser ORDER BY email")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True, help="measured changes")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between changes")
    parser.add_argument("--tag", required=True, help="in every full name set")
    parser.add_argument("--warmup", type=int, default=0, help="changes made first, not timed")
    parser.add_argument("--flavour", choices=("sync", "async"), required=True)
    return parser.parse_args()


def plan(arguments: argparse.Namespace, user_ids: list[Any]) -> list[tuple[Any, str]]:
    """(user id, new full name) per change: warm-ups first, users in turn."""
    names = [f"{arguments.tag} warmup {n}" for n in range(arguments.warmup)]
    names += [f"{arguments.tag} {n}" for n in range(arguments.count)]
    return [(user_ids[n % len(user_ids)], name) for n, name in enumerate(names)]


def report(arguments: argparse.Namespace, started: float, commits: list[list[Any]]) -> None:
    measured = commits[arguments.warmup :]
    print(
        json.dumps(
            {
                "started": started,
                "finished": time.monotonic(),
                # [full name, monotonic seconds before the change, after its COMMIT]
                "commits": measured,
            }
        )
    )


def run_sync(arguments: argparse.Namespace) -> None:
    database = Database(Settings())
    with database.session(read_only=True) as session:
        actor = UserRead.model_validate(session.execute(_SUPERUSER).one(), from_attributes=True)
        user_ids = list(session.scalars(_USERS).all())
    commits: list[list[Any]] = []
    started = time.monotonic()
    for user_id, name in plan(arguments, user_ids):
        before = time.monotonic()
        with database.session(read_only=False) as session:
            UserService(session).update(user_id, UserUpdate(full_name=name), actor)
            committed = time.monotonic()  # update() returns once its COMMIT has
        commits.append([name, before, committed])
        if arguments.interval:
            time.sleep(arguments.interval)
    report(arguments, started, commits)
    database.dispose()


async def run_async(arguments: argparse.Namespace) -> None:
    database = Database(Settings())
    async with database.session(read_only=True) as session:
        row = (await session.execute(_SUPERUSER)).one()
        actor = UserRead.model_validate(row, from_attributes=True)
        user_ids = list((await session.scalars(_USERS)).all())
    commits: list[list[Any]] = []
    started = time.monotonic()
    for user_id, name in plan(arguments, user_ids):
        before = time.monotonic()
        async with database.session(read_only=False) as session:
            await UserService(session).update(user_id, UserUpdate(full_name=name), actor)
            committed = time.monotonic()  # update() returns once its COMMIT has
        commits.append([name, before, committed])
        if arguments.interval:
            await asyncio.sleep(arguments.interval)
    report(arguments, started, commits)
    await database.dispose()


if __name__ == "__main__":
    arguments = parse_arguments()
    if arguments.flavour == "sync":
        run_sync(arguments)
    else:
        asyncio.run(run_async(arguments))
