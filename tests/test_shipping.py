"""Every generated project ships a Dockerfile, .dockerignore, compose file and CI
workflow, and the template has its own workflow: the ecosystem's static checkers pass
them, and the image's own install and start commands, replayed outside a container,
serve /health/live and migrate a database."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx2
import psycopg2
import pytest
import yaml

from tests.static_checks import (
    Image,
    actionlint,
    build_context,
    build_outside_container,
    context_files,
    parse_dockerfile,
    tool,
)
from tests.support import (
    PACKAGE,
    ROOT,
    Project,
    free_port,
    project_environment,
    run,
    server_url,
    wait_until_live,
    with_password,
)

# What a deployment sets: production refuses a key shorter than 32 characters.
SECRET_KEY = "a-random-secret-key-for-the-image-tests"
SHIPPING_FILES = ("Dockerfile", ".dockerignore", "compose.yaml", ".github/workflows/ci.yml")
WORKFLOW = ".github/workflows/ci.yml"
TEMPLATE_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
# `uses: owner/repo[/path]@<40-hex commit> # vX.Y.Z`: immutable, and readable.
PINNED = re.compile(
    r"\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w.-]+(?:/[\w.-]+)*)"
    r"@(?P<sha>[0-9a-f]{40})\s+#\s+(?P<version>v\d+\.\d+\.\d+)\s*"
)


# --- Static checks, per flavour ------------------------------------------------------


def test_shipping_files_are_rendered_for_the_answers(project: Project) -> None:
    for name in SHIPPING_FILES:
        assert (project.path / name).is_file(), name
    instructions = parse_dockerfile((project.path / "Dockerfile").read_text())
    bases = [i.arguments.split()[0] for i in instructions if i.keyword == "FROM"]
    python = f"python:{answers(project)['python_version']}-slim"

    assert [base for base in bases if base.startswith("python:")] == [python, python]
    assert (project.path / "Dockerfile").read_text().startswith("# syntax=docker/dockerfile:1\n")


def test_hadolint_passes_the_dockerfile(project: Project) -> None:
    run(
        tool("hadolint"),
        "--no-color",
        "--failure-threshold",
        "info",
        "Dockerfile",
        cwd=project.path,
    )


def test_actionlint_passes_the_workflow(project: Project) -> None:
    actionlint(project.path / WORKFLOW, cwd=project.path)


def test_zizmor_finds_nothing_in_the_workflow(project: Project) -> None:
    zizmor(project.path / WORKFLOW, cwd=project.path)


def test_workflow_matches_the_github_workflow_schema(project: Project) -> None:
    check_schema("vendor.github-workflows", project.path / WORKFLOW, cwd=project.path)


def test_compose_file_matches_the_compose_spec(project: Project) -> None:
    check_schema("vendor.compose-spec", project.path / "compose.yaml", cwd=project.path)


def test_workflow_runs_every_check_on_postgresql_with_least_privilege(project: Project) -> None:
    text = (project.path / WORKFLOW).read_text()
    workflow = yaml.safe_load(text)
    [job] = workflow["jobs"].values()
    steps = job["steps"]
    python_version = answers(project)["python_version"]

    assert_hardened(workflow, text)
    assert set(triggers(workflow)) == {"push", "pull_request"}
    assert job["services"]["postgres"]["image"] == "postgres:18"
    assert "127.0.0.1:5432" in job["env"]["DATABASE_URL"]
    assert step_with(steps, "actions/setup-python")["python-version"] == python_version
    assert step_with(steps, "astral-sh/setup-uv")["enable-cache"] is True
    assert [step["run"] for step in steps if "run" in step] == [
        "uv sync --locked",
        "uv run ruff check .",
        "uv run ruff format --check .",
        "uv run mypy",
        "uv run pytest",
    ]


def test_compose_migrates_before_serving_and_keeps_secrets_out(project: Project) -> None:
    text = (project.path / "compose.yaml").read_text()
    services = yaml.safe_load(text)["services"]
    app, migrate, worker, db = (services[name] for name in ("app", "migrate", "worker", "db"))
    port = dockerfile_port(project)

    assert set(services) == {"app", "migrate", "worker", "db"}, "no broker: jobs live in db"
    assert app["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    for service in (migrate, worker):
        assert (service["build"], service["image"]) == (app["build"], app["image"])
    assert app["ports"] == [f"{port}:{port}"]
    assert db["image"] == "postgres:18"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    [volume] = db["volumes"]
    assert volume.split(":")[0] in yaml.safe_load(text)["volumes"]
    # Secrets only ever come from the environment, and compose refuses to start without
    # them; the service's DATABASE_URL is built from the database's password. The
    # migration step validates the same production settings, so it gets both too.
    password, secret_key = "${POSTGRES_PASSWORD:?", "${SECRET_KEY:?"
    assert db["environment"]["POSTGRES_PASSWORD"].startswith(password)
    for service in (app, migrate, worker):
        assert password in service["environment"]["DATABASE_URL"]
        assert "@db:5432/" in service["environment"]["DATABASE_URL"]
        assert service["environment"]["SECRET_KEY"].startswith(secret_key)
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|KEY)\w*\s*:", line) and not line.lstrip().startswith("#"):
            assert re.search(r"\$\{\w+:\?[^}]+\}", line), (
                f"a secret is written in compose.yaml: {line}"
            )


def test_compose_runs_the_job_worker_after_migrating(project: Project) -> None:
    worker = yaml.safe_load((project.path / "compose.yaml").read_text())["services"]["worker"]
    settings = env_example(project)

    assert worker["command"] == ["python", "-m", PACKAGE, "worker"]
    assert worker["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
    }
    assert worker["restart"] == "unless-stopped"
    assert "ports" not in worker
    # It serves no HTTP: the image's HEALTHCHECK (/health/live) would call it unhealthy.
    assert worker["healthcheck"] == {"disable": True}
    # `docker compose stop` waits this long before SIGKILL: a delivery in flight, which
    # ends within WEBHOOK_TOTAL_TIMEOUT, finishes first.
    assert seconds(worker["stop_grace_period"]) > float(settings["WEBHOOK_TOTAL_TIMEOUT"])


def test_build_context_is_small_and_secret_free(project: Project, tmp_path: Path) -> None:
    source = tmp_path / "project"
    shutil.copytree(project.path, source, ignore=shutil.ignore_patterns(".venv"))
    planted = {
        ".env": "DATABASE_URL=postgresql://app:secret@db/app\n",
        ".env.production": "DATABASE_URL=postgresql://app:secret@db/app\n",
        ".venv/pyvenv.cfg": "home = /usr/bin\n",
        ".git/config": "[core]\n",
        ".postgres/PG_VERSION": "18\n",
        f"src/{PACKAGE}/__pycache__/main.cpython-311.pyc": "",
        ".pytest_cache/README.md": "",
        "dist/acme_service-0.1.0.tar.gz": "",
    }
    for name, content in planted.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(content)

    files = context_files(build_context(source, tmp_path / "context"))

    needed = {"pyproject.toml", "uv.lock", "README.md", "alembic.ini", "migrations/env.py"}
    assert needed | {f"src/{PACKAGE}/main.py"} <= files
    leaked = {name for name in planted if name in files}
    assert not leaked, f".dockerignore lets these into the image build: {leaked}"
    assert not [name for name in files if name.startswith(("tests/", ".github/"))]
    assert not [name for name in files if "__pycache__" in name]


def test_gitignore_ignores_no_shipping_file(project: Project, tmp_path: Path) -> None:
    shutil.copy(project.path / ".gitignore", tmp_path / ".gitignore")
    run("git", "init", "--quiet", cwd=tmp_path)

    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", *SHIPPING_FILES, "uv.lock"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1, f"git would ignore:\n{result.stdout}{result.stderr}"


# --- The template's own workflow -----------------------------------------------------


def test_template_workflow_passes_actionlint_zizmor_and_the_schema() -> None:
    actionlint(TEMPLATE_WORKFLOW, cwd=ROOT)
    zizmor(TEMPLATE_WORKFLOW, cwd=ROOT)
    check_schema("vendor.github-workflows", TEMPLATE_WORKFLOW, cwd=ROOT)


def test_template_workflow_runs_ci_run_beside_a_postgresql_service() -> None:
    text = TEMPLATE_WORKFLOW.read_text()
    workflow = yaml.safe_load(text)
    [job] = workflow["jobs"].values()
    postgres = job["services"]["postgres"]

    assert_hardened(workflow, text)
    assert set(triggers(workflow)) == {"push", "pull_request"}
    assert step_with(job["steps"], "actions/setup-python")["python-version"] == "3.11"
    assert [step["run"] for step in job["steps"] if "run" in step] == ["bash .ci/run"]
    assert postgres["ports"] == ["127.0.0.1:5432:5432"]
    assert postgres["env"] == {"POSTGRES_HOST_AUTH_METHOD": "trust"}
    assert job["env"]["CI_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/postgres"


def test_both_workflows_pin_an_action_to_the_same_commit(project: Project) -> None:
    generated = pins((project.path / WORKFLOW).read_text())
    template = pins(TEMPLATE_WORKFLOW.read_text())

    shared = generated.keys() & template.keys()
    assert shared >= {"actions/checkout", "actions/setup-python"}
    assert {action: generated[action] for action in shared} == {
        action: template[action] for action in shared
    }


def test_checkers_reject_broken_files(tmp_path: Path) -> None:
    """Each checker above fails on a file with a known fault, so its passes mean something."""
    (tmp_path / "Dockerfile").write_text("FROM python\nCMD uvicorn app:app\n")
    workflow = tmp_path / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.nope }}\n"
    )
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    imagee: x\n")
    checks = {
        "hadolint": [tool("hadolint"), "Dockerfile"],
        "zizmor": [tool("zizmor"), "--offline", "--strict-collection", str(workflow)],
        "check-jsonschema": [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            "compose.yaml",
        ],
    }
    for name, command in checks.items():
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, check=False)
        assert result.returncode != 0, f"{name} accepted a broken file"
    with pytest.raises(pytest.fail.Exception, match=r"github\.nope|property"):
        actionlint(workflow, cwd=tmp_path)


# --- The image's commands, replayed outside a container ------------------------------


@pytest.fixture(scope="session")
def image(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The final stage of the project's Dockerfile, built by its own uv commands."""
    workspace = tmp_path_factory.mktemp(f"{project.flavour}-image")
    context = build_context(project.path, workspace / "context")
    environment = project_environment(UV_PYTHON_DOWNLOADS="never")
    environment.pop("UV_PROJECT_ENVIRONMENT", None)
    # The lock the owner commits after their first `uv sync` (the Dockerfile needs it).
    run("uv", "lock", cwd=context, env=environment)
    return build_outside_container(project.path / "Dockerfile", context, workspace, environment)


def test_image_is_built_by_the_dockerfiles_uv_commands(image: Image) -> None:
    dependencies, project_install = image.ran
    assert dependencies.startswith("uv sync --frozen --no-dev")
    assert "--no-install-project" in dependencies
    assert project_install.startswith("uv sync --frozen --no-dev")
    assert "--no-install-project" not in project_install
    # Only the service user's creation is not replayed here.
    assert all(re.match(r"groupadd .*&& useradd ", command) for command in image.skipped)


def test_image_holds_the_service_and_no_dev_dependencies(project: Project, image: Image) -> None:
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    dev = [re.split(r"[\[<>=!~; ]", name)[0] for name in pyproject["dependency-groups"]["dev"]]
    script = (
        "import importlib.metadata as m, importlib.util as u, json, sys\n"
        "def version(name):\n"
        "    try:\n        return m.version(name)\n"
        "    except m.PackageNotFoundError:\n        return None\n"
        "print(json.dumps({'versions': {n: version(n) for n in sys.argv[1:]},"
        f" 'module': u.find_spec('{PACKAGE}').origin}}))\n"
    )
    python = shutil.which("python", path=container_environment(image)["PATH"])
    assert python is not None
    assert Path(python).is_relative_to(image.root), python

    result = run(
        "python",
        "-c",
        script,
        pyproject["project"]["name"],
        "fastapi",
        "uvicorn",
        "alembic",
        *dev,
        cwd=image.workdir,
        env=container_environment(image),
    )

    found = json.loads(result.stdout)
    versions = found["versions"]
    installed_dev = [name for name in dev if versions[name]]
    assert not installed_dev, f"dev dependencies in the image: {installed_dev}"
    assert versions[pyproject["project"]["name"]] == pyproject["project"]["version"]
    assert all(versions[name] for name in ("fastapi", "uvicorn", "alembic"))
    # Installed as a package, not an editable link to sources the image does not have.
    assert Path(found["module"]).is_relative_to(image.workdir / ".venv"), found["module"]
    assert sorted(os.listdir(image.workdir)) == [".venv", "alembic.ini", "migrations"]
    assert image.user.split(":")[0] not in {"root", "0"}
    assert image.environment["ENVIRONMENT"] == "production"
    assert not {"SECRET_KEY", "DATABASE_URL"} & image.environment.keys(), "a secret baked in"


def test_image_command_serves_health_live_and_its_healthcheck_agrees(
    project: Project, image: Image, tmp_path: Path
) -> None:
    command, healthcheck = image.cmd, image.healthcheck
    assert command[:2] == ["uvicorn", f"{PACKAGE}.main:app"]
    assert {"--no-access-log", "--proxy-headers"} <= set(command)
    assert option(command, "--host") == "0.0.0.0"  # reachable from outside the container
    image_port = option(command, "--port")
    assert image_port == dockerfile_port(project)
    assert f":{image_port}/health/live" in healthcheck[-1]
    port = str(free_port())
    command = [port if arg == image_port else arg for arg in command]
    healthcheck = [*healthcheck[:-1], healthcheck[-1].replace(f":{image_port}/", f":{port}/")]
    # What production settings require; the image bakes in neither.
    environment = container_environment(
        image,
        DATABASE_URL=with_password(server_url()),
        SECRET_KEY=SECRET_KEY,
    )
    log = tmp_path / "server.log"

    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            cwd=image.workdir,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # uvicorn's workers are in the same process group
        )
        try:
            wait_until_live(f"http://127.0.0.1:{port}", server, log)
            # Every worker the image asks for (WEB_CONCURRENCY) starts its application.
            workers = int(image.environment["WEB_CONCURRENCY"])
            wait_for_log(log, "Application startup complete.", workers, server)
            response = httpx2.get(f"http://127.0.0.1:{port}/health/live")
            up = subprocess.run(healthcheck, env=environment, cwd=image.workdir, check=False)
        finally:
            stop(server)
    down = subprocess.run(
        healthcheck, env=environment, cwd=image.workdir, capture_output=True, check=False
    )

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert up.returncode == 0, log.read_text()
    assert down.returncode != 0, "the healthcheck passes with no server"
    assert log.read_text().count("Started server process") == workers, log.read_text()
    assert "Traceback" not in log.read_text()


def test_image_migrates_a_database_as_compose_does(
    project: Project, image: Image, empty_database: str
) -> None:
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())
    command = compose["services"]["migrate"]["command"]

    run(
        *command,
        cwd=image.workdir,
        env=container_environment(
            image, DATABASE_URL=with_password(empty_database), SECRET_KEY=SECRET_KEY
        ),
    )

    connection = psycopg2.connect(empty_database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('users') IS NOT NULL")
            assert cursor.fetchone() == (True,)
    finally:
        connection.close()


def test_image_runs_the_job_worker_as_compose_does(
    project: Project, image: Image, empty_database: str, tmp_path: Path
) -> None:
    """Compose's worker command, in the image's environment (production settings):
    it registers with the job queue, and SIGTERM stops it cleanly."""
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())["services"]
    environment = container_environment(
        image, DATABASE_URL=with_password(empty_database), SECRET_KEY=SECRET_KEY
    )
    run(*compose["migrate"]["command"], cwd=image.workdir, env=environment)
    log = tmp_path / "worker.log"

    with log.open("w") as output:
        worker = subprocess.Popen(
            compose["worker"]["command"],
            cwd=image.workdir,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while registered_workers(empty_database) < 1:
                if worker.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the worker never started:\n{log.read_text()}", pytrace=False)
                time.sleep(0.2)
            worker.send_signal(signal.SIGTERM)
            status = worker.wait(timeout=30)
        finally:
            stop(worker)

    assert status == 0, log.read_text()
    assert registered_workers(empty_database) == 0, "it left without unregistering"
    assert "Traceback" not in log.read_text()


# --- Helpers -------------------------------------------------------------------------


def registered_workers(database_url: str) -> int:
    """Job workers alive in procrastinate's table of workers."""
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procrastinate_workers")
            [(count,)] = cursor.fetchall()
            return int(count)
    finally:
        connection.close()


def env_example(project: Project) -> dict[str, str]:
    lines = (project.path / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def seconds(duration: str) -> float:
    """A compose duration such as `30s`, `1m30s` or `1m`, in seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?", duration)
    assert duration, "an empty compose duration"
    assert parts, f"not a compose duration: {duration!r}"
    hours, minutes, whole, milliseconds = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + whole + milliseconds / 1000


def zizmor(workflow: Path, cwd: Path) -> None:
    """zizmor's default persona, offline; a file it cannot parse is a failure too.

    Its pedantic persona adds one finding, on purpose: service containers are pinned
    to a major version (postgres:18), not a digest, so that they get security fixes.
    """
    run(
        tool("zizmor"),
        "--offline",
        "--strict-collection",
        "--no-progress",
        "--color=never",
        str(workflow),
        cwd=cwd,
    )


def check_schema(schema: str, path: Path, cwd: Path) -> None:
    run(tool("check-jsonschema"), "--builtin-schema", schema, str(path), cwd=cwd)


def answers(project: Project) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    return loaded


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    events: dict[str, Any] = workflow.get("on", workflow.get(True))
    return events


def step_with(steps: list[dict[str, Any]], action: str) -> dict[str, Any]:
    [step] = [step for step in steps if step.get("uses", "").startswith(f"{action}@")]
    inputs: dict[str, Any] = step.get("with", {})
    return inputs


def pins(text: str) -> dict[str, tuple[str, str]]:
    """Every action a workflow uses, as {action: (commit, version)}; all must be pinned."""
    found = {}
    for line in text.splitlines():
        if re.match(r"\s*(?:-\s+)?uses:", line):
            pinned = PINNED.fullmatch(line)
            assert pinned, f"not pinned to a commit SHA with its version in a comment: {line}"
            found[pinned["action"]] = (pinned["sha"], pinned["version"])
    return found


def assert_hardened(workflow: dict[Any, Any], text: str) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    assert pins(text)
    for job in workflow["jobs"].values():
        assert "permissions" not in job  # nothing beyond the read-only default
        assert job["timeout-minutes"] <= 60
        assert step_with(job["steps"], "actions/checkout")["persist-credentials"] is False


def dockerfile_port(project: Project) -> str:
    instructions = parse_dockerfile((project.path / "Dockerfile").read_text())
    [exposed] = [i.arguments for i in instructions if i.keyword == "EXPOSE"]
    return exposed


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def container_environment(image: Image, **overrides: str) -> dict[str, str]:
    """What the container's process sees: the image's ENV, not this machine's."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(image.root),
        "LANG": "C.UTF-8",
        **image.environment,
        **overrides,
    }


def wait_for_log(log: Path, text: str, count: int, server: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + 60
    while log.read_text().count(text) < count:
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{count} x {text!r} never appeared:\n{log.read_text()}", pytrace=False)
        time.sleep(0.1)


def stop(server: "subprocess.Popen[bytes]") -> None:
    """Stop the server and its workers: the process group this test started."""
    signal_group(server, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    finally:
        signal_group(server, signal.SIGKILL)  # any worker left behind
        server.wait(timeout=10)


def signal_group(server: "subprocess.Popen[bytes]", number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, number)
