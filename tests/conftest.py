"""Fixtures that render projects from this working tree and run their own tools."""

from collections.abc import Callable, Iterator

import pytest

from tests.support import FLAVOURS, Project, create_database, drop_database, render


@pytest.hookimpl(trylast=True)  # after pytest groups the tests by their fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that run a generated project's whole suite go first.

    Each takes a minute or more. Run last, they keep one test process busy after the
    other has run out of work: it can take over the tests queued behind them, not the
    one running, nor the next.
    """
    items.sort(key=lambda item: item.get_closest_marker("generated_suite") is None)


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
