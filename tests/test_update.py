"""`copier update` from one release to the next keeps every owner edit, for both flavours.

Releases are built from this working tree in throwaway repositories with real tags:
1.0.0 is the tree as it is, 1.1.0 adds a template change (a setting, a README section, a
new module), 2.0.0 renames a service module the owner is likely to have edited, with the
`_migrations` entry that carries the owner's edits to the new name. A project generated
from the last commit before authentication is updated to this working tree, with a
database full of users.
"""

import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import copier
import httpx2
import psycopg2
import pytest
import yaml
from copier.errors import UnsafeTemplateError

from tests.releases import (
    TemplateRepository,
    become_working_tree,
    content,
    git,
    leftovers,
    release_tags,
    replace_in,
)
from tests.support import (
    FLAVOURS,
    PACKAGE,
    ROOT,
    Project,
    create_superuser,
    load_module,
    log_in,
    project_environment,
    serving,
)

PACKAGE_TEMPLATE = Path("template", "src", "{{package_name}}")
FIRST, FEATURE, RENAME = "1.0.0", "1.1.0", "2.0.0"
SERVICE = f"src/{PACKAGE}/services/users.py"
RENAMED_SERVICE = f"src/{PACKAGE}/services/accounts.py"
CARRY_HOOK = ROOT / "hooks" / "carry_renamed_file.py"


# The template changes each synthetic release makes.


def add_request_timeout_setting(template: Path) -> None:
    replace_in(
        template / PACKAGE_TEMPLATE / "core" / "config.py.jinja",
        "    db_connect_timeout: float = Field(default=5.0, gt=0)\n",
        "    db_connect_timeout: float = Field(default=5.0, gt=0)\n"
        "    request_timeout_seconds: float = Field(default=30.0, gt=0)\n",
    )


def add_support_section_to_readme(template: Path) -> None:
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\n## Support\n\nAsk the platform team.\n")


def add_release_module(template: Path) -> None:
    (template / PACKAGE_TEMPLATE / "core" / "release.py").write_text(
        '"""The template release this project was last updated to."""\n\n'
        'TEMPLATE_RELEASE = "1.1.0"\n'
    )


def rename_user_service(template: Path) -> None:
    services = template / PACKAGE_TEMPLATE / "services"
    (services / "users.py.jinja").rename(services / "accounts.py.jinja")
    importers = []
    for path in (template / "template").rglob("*.py*"):
        text = path.read_text()
        renamed = text.replace(".services.users import", ".services.accounts import")
        renamed = renamed.replace(
            ".services import users\n", ".services import accounts as users\n"
        )
        if renamed != text:
            path.write_text(renamed)
            importers.append(path)
    assert template / PACKAGE_TEMPLATE / "api" / "dependencies.py.jinja" in importers
    # The documented form of a rename: one migration per release, `old new` pairs.
    replace_in(
        template / "copier.yml",
        "_migrations: []\n",
        "_migrations:\n"
        '  - version: "2.0.0"\n'
        "    command:\n"
        '      - "{{ _copier_python }}"\n'
        '      - "{{ _copier_conf.src_path }}/hooks/carry_renamed_file.py"\n'
        '      - "src/{{ package_name }}/services/users.py"\n'
        '      - "src/{{ package_name }}/services/accounts.py"\n',
    )


FEATURE_CHANGES = (add_request_timeout_setting, add_support_section_to_readme, add_release_module)


def assert_feature_release_applied(project: Path) -> None:
    config = (project / "src" / PACKAGE / "core" / "config.py").read_text()
    assert "request_timeout_seconds: float" in config
    assert "## Support" in (project / "README.md").read_text()
    assert (project / "src" / PACKAGE / "core" / "release.py").is_file()


# What an owner does to a generated project.

OWNER_README_LINE = "Owned by the payments team; on call: #payments-oncall."
OWNER_SETTING = "    payments_enabled: bool = False\n"
OWNER_MODULE = f"src/{PACKAGE}/core/greetings.py"
OWNER_TEST = "tests/test_greetings.py"


def owner_service_method(flavour: str) -> str:
    async_, await_ = ("async ", "await ") if flavour == "async" else ("", "")
    return (
        f"\n    {async_}def count_users(self) -> int:\n"
        f'        """How many users there are, for the dashboard."""\n'
        f"        return {await_}self.users.count()\n"
    )


def edit_as_owner(project: Project) -> None:
    """Edits in a service, the README, the settings, and new modules of the owner's."""
    root = project.path
    replace_in(
        root / "README.md",
        "\nA FastAPI service.\n",
        f"\nA FastAPI service.\n\n{OWNER_README_LINE}\n",
    )
    replace_in(
        root / "src" / PACKAGE / "core" / "config.py",
        '= "development"\n',
        f'= "development"\n{OWNER_SETTING}',
    )
    with (root / SERVICE).open("a") as service:
        service.write(owner_service_method(project.flavour))
    (root / OWNER_MODULE).write_text(
        '"""Greetings for the dashboard."""\n\n\n'
        "def greet(name: str) -> str:\n"
        '    return f"Hello, {name}!"\n'
    )
    (root / OWNER_TEST).write_text(
        f'"""The greeting."""\n\nfrom {PACKAGE}.core.greetings import greet\n\n\n'
        "def test_greets_by_name() -> None:\n"
        '    assert greet("Ada") == "Hello, Ada!"\n'
    )
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "-m", "Owner's edits", cwd=root)


def owner_edits(project: Project, service: str = SERVICE) -> dict[str, str]:
    """Each owner edit: the file it should be in -> the text it added."""
    return {
        "README.md": OWNER_README_LINE,
        f"src/{PACKAGE}/core/config.py": OWNER_SETTING,
        service: owner_service_method(project.flavour),
        OWNER_MODULE: "def greet(name: str) -> str:",
        OWNER_TEST: "def test_greets_by_name() -> None:",
    }


def assert_owner_edits_kept(project: Project, service: str = SERVICE) -> None:
    for relative, added in owner_edits(project, service).items():
        assert added in (project.path / relative).read_text(), f"{relative} lost {added!r}"


def assert_nothing_left_to_resolve(project: Project) -> None:
    assert leftovers(project.path) == []


def assert_generated_suite_passes(project: Project) -> None:
    project.run("uv", "sync", "--quiet")
    result = project.run("uv", "run", "pytest", "-q", "-p", "no:cacheprovider")
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), result.stdout
    assert not re.search(r"skipped|xfail|xpass|deselected|error", summary), summary


# The releases, built once per session.


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepository:
    repository = TemplateRepository.from_working_tree(
        tmp_path_factory.mktemp("releases") / "template"
    )
    repository.release(FIRST)
    repository.release(FEATURE, *FEATURE_CHANGES)
    repository.release(RENAME, rename_user_service)
    return repository


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fresh(releases: TemplateRepository, tmp_path: Path) -> Callable[..., dict[str, bytes]]:
    """What a fresh copy of a release with the given answers contains."""

    def copy(tag: str, **answers: str) -> dict[str, bytes]:
        destination = tmp_path / f"fresh-{tag}-{'-'.join(answers.values())}"
        return content(releases.copy(destination, tag, commit=False, **answers).path)

    return copy


def test_untouched_project_updated_equals_a_fresh_copy(
    releases: TemplateRepository,
    fresh: Callable[..., dict[str, bytes]],
    tmp_path: Path,
    flavour: str,
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST, flavour=flavour)

    releases.update(project, FEATURE, trust=False)  # no migration on the way: no --trust

    assert content(project.path) == fresh(FEATURE, flavour=flavour)
    assert_feature_release_applied(project.path)


@pytest.mark.generated_suite
def test_edited_project_updated_keeps_every_owner_edit(
    releases: TemplateRepository, tmp_path: Path, flavour: str
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST, flavour=flavour)
    edit_as_owner(project)

    releases.update(project, FEATURE)

    assert_owner_edits_kept(project)
    assert_feature_release_applied(project.path)
    assert_nothing_left_to_resolve(project)
    assert_generated_suite_passes(project)


# Either conflict mode: with `rej`, Copier's failed patch of the old file leaves a .rej
# that the migration clears once the edits are carried.
@pytest.mark.generated_suite
@pytest.mark.parametrize(("flavour", "conflict"), [("sync", "inline"), ("async", "rej")])
def test_renamed_file_carries_the_owner_edits(
    releases: TemplateRepository, tmp_path: Path, flavour: str, conflict: str
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST, flavour=flavour)
    edit_as_owner(project)

    releases.update(project, RENAME, conflict=conflict)

    assert not (project.path / SERVICE).exists()
    assert_owner_edits_kept(project, service=RENAMED_SERVICE)
    assert "class UserService" in (project.path / RENAMED_SERVICE).read_text()
    assert_feature_release_applied(project.path)
    assert_nothing_left_to_resolve(project)
    carried = content(project.path)
    run_carry_hook(project, SERVICE, RENAMED_SERVICE)  # again: changes nothing
    assert content(project.path) == carried
    assert_generated_suite_passes(project)


def run_carry_hook(project: Project, *paths: str) -> None:
    project.run(sys.executable, str(CARRY_HOOK), *paths)


def test_rename_hook_marks_colliding_edits_as_conflicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = load_module(CARRY_HOOK)
    previous_release = tmp_path / "previous"
    previous_release.mkdir()
    (previous_release / "old.py").write_text("A = 1\nB = 2\nC = 3\n")
    project = tmp_path / "project"
    project.mkdir()
    git("init", "--quiet", cwd=project)
    (project / "old.py").write_text("A = 1\nB = 20  # the owner's\nC = 3\n")
    git("add", "old.py", cwd=project)
    git("commit", "--quiet", "-m", "Owner's edit", cwd=project)
    # What Copier leaves: OLD removed, NEW as the new release renders it.
    (project / "old.py").unlink()
    (project / "new.py").write_text("A = 1\nB = 200  # the template's\nC = 3\n")
    monkeypatch.chdir(project)
    old, new = PurePosixPath("old.py"), PurePosixPath("new.py")

    outcome = hook.carry(old, new, previous_release)
    merged = (project / "new.py").read_text()
    again = hook.carry(old, new, previous_release)

    assert outcome == "old.py -> new.py: edits carried, 1 conflict(s) to resolve in new.py"
    assert merged == (
        "A = 1\n<<<<<<< before updating\nB = 20  # the owner's\n=======\n"
        "B = 200  # the template's\n>>>>>>> after updating\nC = 3\n"
    )
    assert again == "new.py: already carried, conflicts await resolution"
    assert (project / "new.py").read_text() == merged
    assert not (project / "old.py").exists()


def test_untouched_renamed_file_is_the_new_release(
    releases: TemplateRepository,
    fresh: Callable[..., dict[str, bytes]],
    tmp_path: Path,
    flavour: str,
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST, flavour=flavour)

    releases.update(project, RENAME)

    assert content(project.path) == fresh(RENAME, flavour=flavour)


def test_generating_from_a_release_with_migrations_needs_no_trust(
    releases: TemplateRepository, tmp_path: Path
) -> None:
    project = releases.copy(tmp_path / "acme-service", RENAME)  # no unsafe=True

    assert (project.path / RENAMED_SERVICE).is_file()


def test_updating_across_a_rename_asks_for_trust(
    releases: TemplateRepository, tmp_path: Path
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST)

    with pytest.raises(UnsafeTemplateError, match="migrations"):
        copier.run_update(project.path, vcs_ref=RENAME, defaults=True, overwrite=True, quiet=True)
    assert git("status", "--porcelain", cwd=project.path) == ""


def other(flavour: str) -> str:
    return "async" if flavour == "sync" else "sync"


def test_answer_changes_on_untouched_project_equal_fresh_copies(
    releases: TemplateRepository,
    fresh: Callable[..., dict[str, bytes]],
    tmp_path: Path,
    flavour: str,
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST, flavour=flavour)
    description = "Payments for Acme."

    releases.update(project, FEATURE, flavour=other(flavour), project_description=description)
    assert content(project.path) == fresh(
        FEATURE, flavour=other(flavour), project_description=description
    )
    git("add", "--all", cwd=project.path)
    git("commit", "--quiet", "-m", "Switch flavour", cwd=project.path)

    releases.update(project, FEATURE, flavour=flavour)  # and back
    assert content(project.path) == fresh(FEATURE, flavour=flavour, project_description=description)


@pytest.mark.parametrize(
    ("flavour", "conflict", "to_resolve"),
    [("sync", "inline", "README.md"), ("async", "rej", "README.md.rej")],
)
def test_flavour_switch_on_edited_project_never_loses_an_edit_silently(
    releases: TemplateRepository, tmp_path: Path, flavour: str, conflict: str, to_resolve: str
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST, flavour=flavour)
    edit_as_owner(project)

    releases.update(project, FEATURE, conflict=conflict, flavour=other(flavour))

    # The README line the owner added next to the flavour's paragraph is a conflict;
    # every other edit is kept as it was.
    assert leftovers(project.path) == [to_resolve]
    for relative, added in owner_edits(project).items():
        kept = added in (project.path / relative).read_text()
        assert kept or relative == "README.md", relative
    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert answers["flavour"] == other(flavour)
    driver = "asyncpg" if other(flavour) == "async" else "psycopg2-binary"
    assert driver in (project.path / "pyproject.toml").read_text()
    assert_feature_release_applied(project.path)


def test_generated_readme_update_commands_work(
    releases: TemplateRepository, tmp_path: Path
) -> None:
    project = releases.copy(tmp_path / "acme-service", FIRST)
    readme = (project.path / "README.md").read_text()
    [update] = re.findall(r"^(uvx copier update --defaults)\s+#", readme, re.MULTILINE)
    trusted = "uvx copier update --defaults --trust"
    assert f"`{trusted}`" in readme

    # The newest release, 2.0.0, renames a file: Copier asks for --trust first.
    refused = subprocess.run(
        shlex.split(update),
        cwd=project.path,
        env=project_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "potentially unsafe feature: migrations" in refused.stderr
    assert git("status", "--porcelain", cwd=project.path) == ""
    project.run(*shlex.split(trusted))

    assert (project.path / RENAMED_SERVICE).is_file()
    assert not (project.path / SERVICE).exists()
    assert_feature_release_applied(project.path)
    assert_nothing_left_to_resolve(project)


def rehearse_update_to_head(
    template: Path, previous: str, destination: Path, flavour: str
) -> Project:
    """Generate from the previous release, then update it to the template's HEAD."""
    repository = TemplateRepository(template)
    project = repository.copy(destination, previous, flavour=flavour)
    repository.update(project, "HEAD")
    return project


def test_update_from_previous_release_tag_to_head(
    releases: TemplateRepository, tmp_path: Path, flavour: str
) -> None:
    tags = release_tags(ROOT)
    head_tags = git("tag", "--points-at", "HEAD", cwd=ROOT).split()
    earlier = [tag for tag in tags if tag not in head_tags]
    if earlier:
        template, previous = ROOT, earlier[-1]
    else:
        # No earlier release yet: the tag listing is empty up to HEAD, and the same
        # rehearsal runs against the synthetic releases (previous 1.1.0, HEAD 2.0.0).
        assert set(tags) <= set(head_tags)
        assert release_tags(releases.path) == [FIRST, FEATURE, RENAME]
        template, previous = releases.path, FEATURE

    project = rehearse_update_to_head(template, previous, tmp_path / "acme-service", flavour)

    assert_nothing_left_to_resolve(project)
    answers = yaml.safe_load((project.path / ".copier-answers.yml").read_text())
    assert answers["flavour"] == flavour
    fresh_head = TemplateRepository(template).copy(
        tmp_path / "fresh", "HEAD", commit=False, flavour=flavour
    )
    assert content(project.path) == content(fresh_head.path)


# --- From the template before authentication (issue 11) to this working tree ---------

# The last commit of `main` before authentication, pinned: after the merge, `main` moves
# on, and this rehearsal must still start from a project that has no login at all.
PRE_AUTH = "abcc339cfb07fe92c3cf1c3a67a0128345c5b1b4"
PRE_AUTH_RELEASE, AUTH_RELEASE = "1.0.0", "1.1.0"
EXISTING_USERS = {"ada@example.com": "ada's long password", "bob@example.com": "bob's password"}


@pytest.fixture(scope="session")
def pre_auth_releases(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepository:
    """1.0.0: the template at PRE_AUTH; 1.1.0: this working tree."""
    repository = TemplateRepository.from_commit(
        tmp_path_factory.mktemp("pre-auth") / "template", PRE_AUTH
    )
    repository.release(PRE_AUTH_RELEASE)
    repository.release(AUTH_RELEASE, become_working_tree)
    return repository


@pytest.mark.generated_suite
def test_project_from_before_authentication_updates_with_its_users(
    pre_auth_releases: TemplateRepository, tmp_path: Path, flavour: str, empty_database: str
) -> None:
    environment = project_environment(DATABASE_URL=empty_database)
    project = pre_auth_releases.copy(tmp_path / "acme-service", PRE_AUTH_RELEASE, flavour=flavour)
    project.run("uv", "sync", "--quiet")  # creates uv.lock, which the owner commits
    edit_as_owner(project)
    # In production before the update: the schema migrated, users signed up.
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)
    with serving(project, "uvicorn", empty_database, tmp_path / "before.log") as running:
        for email, password in EXISTING_USERS.items():
            response = httpx2.post(
                f"{running.url}/api/v1/users", json={"email": email, "password": password}
            )
            assert response.status_code == 201, response.text
    assert git("status", "--porcelain", cwd=project.path) == ""

    pre_auth_releases.update(project, AUTH_RELEASE)

    assert_nothing_left_to_resolve(project)
    assert_owner_edits_kept(project)
    # What the CHANGELOG tells the owner to do: install, migrate, create a superuser.
    project.run("uv", "sync", "--quiet")
    project.run("uv", "run", "alembic", "upgrade", "head", env=environment)
    heads = project.run("uv", "run", "alembic", "heads", env=environment).stdout.split()[0]
    assert existing_users(empty_database) == {email: (False, 0) for email in EXISTING_USERS}, (
        "migrated users: (is_superuser, password_version)"
    )
    assert database_revision(empty_database) == heads
    promoted = create_superuser(project, empty_database, "ADA@example.com", "not used")
    assert "is a superuser now; its password is unchanged" in promoted
    # Passwords hashed before the update log in after it.
    log = tmp_path / "after.log"
    with (
        serving(project, "uvicorn", empty_database, log) as running,
        httpx2.Client(base_url=running.url) as client,
    ):
        ada, bob = (log_in(client, email, password) for email, password in EXISTING_USERS.items())
        page = client.get("/api/v1/users", headers=ada)
        assert page.status_code == 200, page.text
        assert {user["email"]: user["is_superuser"] for user in page.json()["items"]} == {
            "ada@example.com": True,
            "bob@example.com": False,
        }
        assert client.get("/api/v1/users", headers=bob).status_code == 403
        assert client.get("/api/v1/users").status_code == 401
    assert "Traceback" not in log.read_text()
    assert_generated_suite_passes(project)


def existing_users(database_url: str) -> dict[str, tuple[bool, int]]:
    rows = query(database_url, "SELECT email, is_superuser, password_version FROM users")
    return {email: (is_superuser, version) for email, is_superuser, version in rows}


def database_revision(database_url: str) -> str:
    [(revision,)] = query(database_url, "SELECT version_num FROM alembic_version")
    return str(revision)


def query(database_url: str, statement: str) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall()
    finally:
        connection.close()
