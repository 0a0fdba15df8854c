"""Fixtures that render projects from this working tree and run their own tools."""

from collections.abc import Callable, Iterator

import pytest

from tests.support import FLAVOURS, Project, create_database, drop_database, render


@pytest.fixture(scope="session")
def get_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Project]:
    """Each flavour rendered with default answers and installed once per session."""
    projects: dict[str, Project] = {}

    def get(flavour: str) -> Project:
        if flavour not in projects:
            parent = tmp_path_factory.mktemp(f"{flavour}-project")
            project = render(parent / "acme-service", flavour=flavour)
            project.run("uv", "sync")
            projects[flavour] = project
        return projects[flavour]

    return get


@pytest.fixture(scope="session", params=FLAVOURS)
def project(request: pytest.FixtureRequest, get_project: Callable[[str], Project]) -> Project:
    return get_project(request.param)


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A fresh, empty database on the test server; dropped afterwards."""
    url = create_database("template_test")
    yield url
    drop_database(url)
