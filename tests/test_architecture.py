"""The import rules of docs/architecture.md hold (``python -m tools.archcheck``), and the checker can fail."""

from __future__ import annotations

import ast
from pathlib import Path

from tools import archcheck


def test_every_import_follows_the_rules():
    assert archcheck.check() == []


def _problems_with(tmp_path: Path, monkeypatch, files: dict[str, str]) -> list[str]:
    """Run the checker on a tree of made-up modules."""
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    for package in archcheck.LAYERS:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    monkeypatch.setattr(archcheck, "ROOT", tmp_path)
    return archcheck.check()


def test_an_import_going_up_is_refused(tmp_path, monkeypatch):
    problems = _problems_with(
        tmp_path, monkeypatch, {"core/a.py": "def f():\n    from jobs import x\n", "jobs/x.py": ""}
    )
    assert problems == ["core/a.py:2: core imports jobs.x (jobs is not below core)"]


def test_webhooks_and_jobs_never_import_each_other(tmp_path, monkeypatch):
    problems = _problems_with(tmp_path, monkeypatch, {"webhooks/a.py": "import jobs.b\n", "jobs/b.py": ""})
    assert problems == ["webhooks/a.py:1: webhooks imports jobs.b (jobs is not below webhooks)"]


def test_a_circle_is_refused_even_through_a_dotted_name(tmp_path, monkeypatch):
    files = {"core/a.py": "from core import b\n", "core/b.py": 'NAME = "core.a.thing"\n'}
    problems = _problems_with(tmp_path, monkeypatch, files)
    assert problems == ["import circle: core.a -> core.b (see docs/architecture.md, 'No circles')"]


def test_sql_outside_a_store_module_and_the_environment_outside_relance_are_refused(tmp_path, monkeypatch):
    files = {
        "core/flows/engine.py": "from sqlalchemy import Connection, select\nimport os\nX = os.environ['A']\n",
        "core/flows/store/runs.py": "from sqlalchemy import select\n",
        "relance/settings.py": "import os\nX = os.environ['A']\n",
    }
    problems = _problems_with(tmp_path, monkeypatch, files)
    assert len(problems) == 2
    assert problems[0].startswith("core/flows/engine.py:1: imports Connection, select from sqlalchemy; SQL lives")
    assert problems[1].startswith("core/flows/engine.py:3: reads the environment")


def test_the_checker_parses_every_module_it_checks():
    modules = list(archcheck.sources())
    assert len(modules) > 150
    assert all(isinstance(tree, ast.Module) for _, _, tree in modules)


def test_sql_in_an_outer_package_lives_in_its_named_store_modules(tmp_path, monkeypatch):
    files = {
        "webhooks/links.py": "from sqlalchemy import Connection, select\n",
        "inbound/deliveries.py": "from sqlalchemy import insert, select\n",
        "jobs/send.py": "from sqlalchemy import Engine\nfrom sqlalchemy.exc import DBAPIError\n",
        "relance/demo.py": "from sqlalchemy import func, select\n",
    }
    problems = _problems_with(tmp_path, monkeypatch, files)
    assert len(problems) == 1
    assert problems[0].startswith("webhooks/links.py:1: imports Connection, select from sqlalchemy; SQL lives")
