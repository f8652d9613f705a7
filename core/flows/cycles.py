"""Refuse flows that can trigger each other in a loop nobody stops.

Flow A leads to flow B when a step of A can cause B's trigger: an ``emit``
step recording B's trigger event, a ``send`` step whose opens and clicks
(``email_opened`` / ``email_clicked``, property ``flow``) trigger B, or a step
that changes the contact (``tag``, ``untag``, ``set``, ``emit``) when B is
triggered by a segment entry (segments are defined on contact data).

A loop of flows is accepted only when a step guards it: in one of its flows,
every path to the step that leads on goes through a condition on a tag
(``if: {not_tagged: T}`` continuing where the tag is missing) and one of the
loop's flows sets that tag (``tag: T``). Then the loop goes round at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.flows.errors import FlowCycleError
from core.flows.model import Action, Condition, Definition, EventMatch, Send, Step, TriggerKind

EMAIL_EVENTS = ("email_opened", "email_clicked")
_PROFILE_ACTIONS = ("tag", "untag", "set", "emit")


def _static_match(match: EventMatch, name: str, flow: str) -> bool:
    """Could an event called ``name`` caused by ``flow`` match? Unknown properties might."""
    if match.name != name:
        return False
    return all(value == flow for key, value in match.where if key == "flow")


def _causing_steps(source: Definition, target: Definition) -> list[int]:
    """Indices of the steps of ``source`` that can start ``target``."""
    trigger = target.trigger
    found = []
    for index, step in enumerate(source.steps):
        if trigger.kind is TriggerKind.EVENT and trigger.event is not None:
            if (
                isinstance(step, Action)
                and step.kind == "emit"
                and _static_match(trigger.event, step.name, source.name)
            ):
                found.append(index)
            elif isinstance(step, Send) and any(_static_match(trigger.event, e, source.name) for e in EMAIL_EVENTS):
                found.append(index)
        elif trigger.kind is TriggerKind.SEGMENT and isinstance(step, Action) and step.kind in _PROFILE_ACTIONS:
            found.append(index)
    return found


def _successors(definition: Definition, index: int, step: Step, blocked_tag: str | None) -> list[int]:
    """Steps reachable in one move; with ``blocked_tag``, not along the branch taken when the tag is missing."""
    if not isinstance(step, Condition):
        return [index + 1]
    targets = {
        True: definition.index_of(step.then, index),
        False: definition.index_of(step.otherwise, index),
    }
    test = step.test
    if blocked_tag is not None and test.kind == "tagged" and test.name == blocked_tag:
        # the test is true when the tag is present unless negated
        missing_outcome = test.negate
        return [targets[not missing_outcome]]
    return sorted(set(targets.values()))


def _reachable(definition: Definition, goal: int, blocked_tag: str | None) -> bool:
    seen: set[int] = set()
    todo = [0]
    while todo:
        index = todo.pop()
        if index == goal:
            return True
        if index in seen or index >= len(definition.steps):
            continue
        seen.add(index)
        todo.extend(_successors(definition, index, definition.steps[index], blocked_tag))
    return False


def _guarded(definition: Definition, step_index: int, tags: set[str]) -> bool:
    """True when every path to the step passes a "tag missing" branch for a tag in ``tags``."""
    return any(not _reachable(definition, step_index, tag) for tag in sorted(tags))


def _tags_set(definitions: Iterable[Definition]) -> set[str]:
    return {
        step.name
        for definition in definitions
        for step in definition.steps
        if isinstance(step, Action) and step.kind == "tag"
    }


def _cycles(names: Sequence[str], edges: dict[str, list[str]], limit: int = 2000) -> list[list[str]]:
    """Elementary cycles, each starting at its smallest node (in ``names`` order)."""
    order = {name: i for i, name in enumerate(names)}
    found: list[list[str]] = []
    for start in names:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack and len(found) < limit:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, []), key=order.__getitem__, reverse=True):
                if nxt == start:
                    found.append(path + [start])
                elif order[nxt] > order[start] and nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return found


def check_cycles(definitions: Sequence[Definition]) -> None:
    """Raise FlowCycleError naming the first loop of flows that no step guards."""
    by_name = {d.name: d for d in definitions}
    names = [d.name for d in definitions]
    causes: dict[tuple[str, str], list[int]] = {}
    edges: dict[str, list[str]] = {}
    for source in definitions:
        for target in definitions:
            steps = _causing_steps(source, target)
            if steps:
                causes[(source.name, target.name)] = steps
                edges.setdefault(source.name, []).append(target.name)
    for cycle in _cycles(names, edges):
        members = [by_name[name] for name in cycle[:-1]]
        tags = _tags_set(members)
        guarded = any(
            all(_guarded(by_name[a], index, tags) for index in causes[(a, b)])
            for a, b in zip(cycle, cycle[1:], strict=False)
        )
        if not guarded:
            loop = " -> ".join(cycle)
            raise FlowCycleError(
                f"flows.custom: {loop} can trigger each other in a loop; guard it with a condition on a tag "
                "one of them sets (if: {not_tagged: T} before the step that starts the next flow, and tag: T), "
                "or change a trigger"
            )
