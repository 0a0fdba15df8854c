"""Every Copier question rejects a bad answer with a message a person can act on."""

import re
from pathlib import Path
from typing import Any

import copier
import pytest

from tests.support import ROOT, render

BAD_ANSWERS = [
    ({"project_name": ""}, "project_name is required"),
    ({"project_name": "   "}, "project_name is required"),
    ({"project_name": "42 Service"}, "project_name must start with a letter"),
    ({"project_name": "Acme <Service>"}, "project_name may contain only letters"),
    ({"project_name": "A" * 81}, "project_name is too long"),
    ({"package_name": "Acme-Service"}, "is not a valid package name"),
    ({"package_name": "9lives"}, "is not a valid package name"),
    ({"package_name": "class"}, "is a Python keyword"),
    ({"package_name": "fastapi"}, "would shadow a module the project imports"),
    ({"package_name": "tests"}, "would shadow a module the project imports"),
    ({"flavour": "trio"}, "'trio' is not in ['sync', 'async']"),
    ({"python_version": "3.9"}, "'3.9' is not in ['3.11', '3.12', '3.13']"),
    ({"author_email": "nobody"}, "is not an email address"),
    ({"author_name": 'Bob "The Builder"'}, "author_name must be one non-empty line"),
    ({"project_description": 'Say "hi"'}, "project_description must be one line"),
]


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS)
def test_bad_answer_is_refused_with_its_message(
    tmp_path: Path, answers: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render(tmp_path / "project", **answers)

    assert not (tmp_path / "project" / "src").exists()


def test_missing_project_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='Question "project_name" is required'):
        copier.run_copy(str(ROOT), tmp_path, defaults=True, vcs_ref="HEAD", quiet=True)
