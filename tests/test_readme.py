"""The README's two commands work exactly as written."""

import re
import shlex
from pathlib import Path

import yaml

from tests.support import ROOT, run

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
