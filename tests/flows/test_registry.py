"""The built-in flows' registry: every flow module listed, every template it sends shipped, no flow named elsewhere."""

from __future__ import annotations

import ast
import pkgutil
from dataclasses import replace
from pathlib import Path

import pytest

import core.flows
import core.flows.library
from core.flows import registry
from core.flows.model import Send
from core.messages.environment import DEFAULT_LANGUAGES, environment, exists, template_name
from core.model import CONTACT_FIELDS, Channel

FLOWS_DIR = Path(core.flows.__file__).parent
#: The generic machinery: it runs every flow and must name none.
GENERIC_MODULES = ("engine.py", "simulation.py", "triggers.py", "content.py", "starting.py", "dates.py",
                   "store/facts.py", "store/runs.py", "store/outbox.py", "store/queries.py")  # fmt: skip


def test_every_module_of_the_library_is_registered():
    modules = {info.name for info in pkgutil.iter_modules(core.flows.library.__path__)}
    assert modules == {flow.name for flow in registry.BUILTIN}
    assert len(set(registry.DEFAULT_PRIORITIES)) == len(registry.BUILTIN)


def _sends(flow: registry.BuiltinFlow) -> list[Send]:
    """The send steps of the flow on every channel (a flow sends email or SMS by its settings)."""
    found: list[Send] = []
    for channel in Channel:
        settings = replace(flow.defaults(), channel=channel)
        found.extend(step for step in flow.define(settings).steps if isinstance(step, Send))
    return found


@pytest.mark.parametrize("flow", registry.BUILTIN, ids=lambda f: f.name)
def test_every_template_a_builtin_flow_sends_ships_in_every_language(flow):
    env = environment()
    missing = [
        template_name(lang, step.template, step.channel.value)
        for step in _sends(flow)
        for lang in DEFAULT_LANGUAGES
        if not exists(env, template_name(lang, step.template, step.channel.value))
    ]
    assert missing == [], f"{flow.name} sends templates that do not ship: {missing}"


def test_a_missing_template_is_caught(monkeypatch):
    flow = registry.BUILTIN[0]
    broken = replace(flow, define=lambda s: replace(flow.define(s), steps=(Send(9, Channel.EMAIL, f"{flow.name}/9"),)))
    env = environment()
    assert not all(exists(env, template_name("fr", step.template, "email")) for step in _sends(broken))


def _flow_mentions(path: Path) -> set[str]:
    """Flow names written as strings in a module, and flow modules it imports.

    A contact field that shares a flow's name ("birthday", the date the birthday flow reads) is a
    field, not the flow: the generic date trigger reads it for every flow triggered by a date.
    """
    tree = ast.parse(path.read_text())
    found = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in registry.BY_NAME
    } - set(CONTACT_FIELDS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("core.flows.library"):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("module", GENERIC_MODULES)
def test_the_generic_machinery_names_no_flow(module):
    mentioned = _flow_mentions(FLOWS_DIR / module)
    assert mentioned == set(), f"core/flows/{module} names {sorted(mentioned)}: move it into the flow's module"


def test_a_flow_named_in_the_generic_machinery_is_caught(tmp_path):
    module = tmp_path / "engine.py"
    module.write_text('if definition.name == "cross_sell":\n    pass\nfrom core.flows.library import replenishment\n')
    assert _flow_mentions(module) == {"cross_sell", "replenishment"}
