"""The README's two commands work exactly as written, and a generated project's README
tells the truth about its settings, its commands and its job example."""

import json
import re
import shlex
import subprocess
import textwrap
from pathlib import Path

import yaml

from tests.support import PACKAGE, ROOT, Project, project_environment, run, uv

README = (ROOT / "README.md").read_text()


def console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_generate_command_renders_a_project(tmp_path: Path) -> None:
    [command] = [c for c in console_commands() if c.startswith("uvx copier copy")]
    args = shlex.split(command)
    assert args[-1] == "../acme-service"
    destination = tmp_path / "acme-service"  # the same command, written elsewhere

    run(*args[:-1], str(destination), cwd=ROOT)

    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    assert (answers["project_name"], answers["flavour"]) == ("Acme Service", "async")
    assert (destination / "src" / "acme_service" / "main.py").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    [command] = [c for c in console_commands() if c.endswith("pytest")]
    ci_script = (ROOT / ".ci" / "run").read_text()

    assert command in ci_script.splitlines()


# --- The generated project's README --------------------------------------------------


def generated_readme(project: Project) -> str:
    return (project.path / "README.md").read_text()


def settings_table(readme: str) -> dict[str, str]:
    """The "Configuration" table: {variable: its Default cell}."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| (.*?) \|", section, re.MULTILINE))


def test_generated_readme_lists_every_setting_with_its_default(project: Project) -> None:
    script = (
        "import json\n"
        f"from {PACKAGE}.core.config import Settings\n"
        "print(json.dumps({name.upper(): (field.default if isinstance(field.default,"
        " (bool, int, float, str)) else None) for name, field in"
        " Settings.model_fields.items()}))\n"
    )
    defaults = json.loads(project.run("uv", "run", "python", "-c", script).stdout)
    table = settings_table(generated_readme(project))
    example = (project.path / ".env.example").read_text()
    in_example = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))

    assert not defaults.keys() - table.keys(), "settings missing from README 'Configuration'"
    assert not table.keys() - defaults.keys(), "README 'Configuration' names no such setting"
    assert not in_example - defaults.keys(), ".env.example names no such setting"
    for name, default in defaults.items():
        shown = re.match(r"`([^`]*)`", table[name])
        if default is None or shown is None:
            continue  # computed or secret: described in words
        if isinstance(default, bool):
            assert shown[1] == str(default).lower(), name
        elif isinstance(default, int | float):
            assert float(shown[1]) == default, name
        else:
            assert shown[1] == default, name


def test_generated_readme_commands_exist(project: Project) -> None:
    readme = generated_readme(project)
    blocks = re.findall(r"```console\n(.*?)```", readme, re.DOTALL)
    commands = [shlex.split(line, comments=True) for b in blocks for line in b.splitlines()]
    module_prefix = ["uv", "run", "python", "-m", PACKAGE]
    subcommands = set()
    for command in commands:
        while command and re.match(r"\w+=", command[0]):
            command = command[1:]  # VARIABLE=value before the command
        if command[:5] == module_prefix:
            subcommands.add(command[5])
    usage = project.run("uv", "run", "python", "-m", PACKAGE, "--help").stdout
    found = re.search(r"\{([\w,-]+)\}", usage)
    assert found, usage
    choices = found[1]
    compose = yaml.safe_load((project.path / "compose.yaml").read_text())["services"]

    assert {"create-superuser", "worker"} <= subcommands
    assert subcommands <= set(choices.split(",")), usage
    # Compose's worker runs the command the README gives, in the image (no uv there).
    assert ["uv", "run", *compose["worker"]["command"]] == [*module_prefix, "worker"]


def test_generated_readme_job_example_runs_in_its_flavour(project: Project) -> None:
    """The example of "Add a job of your own", as written: the service and the task
    import, register the task on the job app with its queue, and are `def` or
    `async def` as the flavour wants; the queue call binds to JobQueue.defer; and
    both pass the project's ruff, as the files the README names."""
    blocks = re.findall(r"```python\n(.*?)```", generated_readme(project), re.DOTALL)
    [service] = [textwrap.dedent(b) for b in blocks if "class ReportService" in b]
    [task] = [textwrap.dedent(b) for b in blocks if "@job_app.task" in b]
    script = textwrap.dedent(
        f"""
        import inspect, sys, types

        module = types.ModuleType("{PACKAGE}.services.reports")
        sys.modules[module.__name__] = module
        exec(sys.argv[1], module.__dict__)
        namespace = {{}}
        exec(sys.argv[2], namespace)

        from {PACKAGE}.jobs.app import job_app
        from {PACKAGE}.repositories.jobs import JobQueue

        task = job_app.tasks[module.SEND_REPORT_TASK]
        assert task.queue == module.REPORTS_QUEUE, task.queue
        inspect.signature(JobQueue.defer).bind(
            None, module.SEND_REPORT_TASK, module.REPORTS_QUEUE, [{{"user_id": "x"}}]
        )
        functions = [
            task.func,
            module.ReportService.request,
            module.ReportService.send,
        ]
        print(sorted({{inspect.iscoroutinefunction(function) for function in functions}}))
        """
    )

    result = project.run("uv", "run", "python", "-c", script, service, task)

    assert result.stdout.strip() == str([project.flavour == "async"])
    for module, code in (("services/reports.py", service), ("jobs/reports.py", task)):
        path = f"src/{PACKAGE}/{module}"
        for check in (["check"], ["format", "--check"]):
            ruff = subprocess.run(
                [uv(), "run", "ruff", *check, "--stdin-filename", path, "-"],
                cwd=project.path,
                input=code,
                capture_output=True,
                text=True,
                env=project_environment(),
                check=False,
            )
            assert ruff.returncode == 0, f"ruff {check[0]} {path}:\n{ruff.stdout}{ruff.stderr}"
