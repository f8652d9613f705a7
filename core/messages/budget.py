"""The render budget: how much time and output a user template may take.

Agencies write templates, and Jinja's sandbox keeps them away from Python's
internals but not from a loop that never ends (``range(100000)`` nested in
another) nor from an output of gigabytes (``"x" * 10**9``). Every render runs
under a budget:

- **time**: CPU seconds of the rendering thread (the machine's other load does
  not count), checked at every loop iteration (every ``{% for %}`` of the
  template goes through ``iterate``), every call (macros, methods) and every
  ``*``, ``**`` and ``%``, so a template refused is stopped within milliseconds
  of its limit;
- **output**: characters, checked for each string a template builds (an
  operator, a filter, a ``namespace`` value) before or right after it is made,
  and for the rendered text as it is joined.

The limits: ``SEND_SECONDS`` at send time (a template may meet real data larger
than the samples), ``CHECK_SECONDS`` when a tenant file's templates are checked
on sample data at ``relance tenant apply`` (so that a runaway template is
refused in well under a second there), ``MAX_OUTPUT`` characters in both.
Exceeding either raises ``RenderBudgetError`` (a ``TemplateError``): the
tenant file is refused, or the message fails with reason ``template``.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2.utils import Namespace

from core.messages.errors import TemplateError

#: CPU seconds one message's template may take to render when the message is sent.
SEND_SECONDS = 1.0
#: CPU seconds one template may take to render on sample data when a tenant file is applied.
CHECK_SECONDS = 0.25
#: Characters a rendered template (and any string it builds) may have: ten times a large newsletter.
MAX_OUTPUT = 2_000_000
#: Largest exponent of ``**`` on integers (a 10**10**9 takes minutes of CPU in one operation).
MAX_EXPONENT = 1024
#: The clock is read every this many steps (a step costs well under a microsecond).
_CHECK_EVERY = 64
#: A width or precision in a format string that alone would exceed the output limit.
_HUGE_FIELD = re.compile(r"\d{7,}")


class RenderBudgetError(TemplateError):
    """A template went over its time or output budget."""


class Budget:
    """The time and output allowed to the renders running under it (``limit``)."""

    def __init__(self, seconds: float, max_output: int = MAX_OUTPUT) -> None:
        self.seconds = seconds
        self.max_output = max_output
        self.started = time.thread_time()
        self.steps = 0

    def step(self) -> None:
        """Count one step (an iteration, a call, an operator); read the clock now and then."""
        self.steps += 1
        if self.steps % _CHECK_EVERY == 0:
            self.check_time()

    def check_time(self) -> None:
        if time.thread_time() - self.started > self.seconds:
            raise RenderBudgetError(
                f"rendering took more than {self.seconds:g} s of CPU (a loop too long?); "
                "make its loops shorter (range() over a few items, no loops nested deeply)"
            )

    def check_size(self, size: int) -> None:
        if size > self.max_output:
            raise RenderBudgetError(
                f"it produces more than {self.max_output:,} characters; make the template's output smaller"
            )


_current: ContextVar[Budget | None] = ContextVar("relance_render_budget", default=None)


@contextmanager
def limit(seconds: float, max_output: int = MAX_OUTPUT) -> Iterator[Budget]:
    """Run the renders inside under a budget; a budget already running (an outer ``limit``) holds instead."""
    running = _current.get()
    if running is not None:
        yield running
        return
    budget = Budget(seconds, max_output)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current() -> Budget | None:
    return _current.get()


def step() -> None:
    budget = _current.get()
    if budget is not None:
        budget.step()


def _sized(value: Any) -> Any:
    """Return ``value`` after checking the size of a string (or list) against the running budget."""
    budget = _current.get()
    if budget is not None and isinstance(value, str | list | tuple):
        budget.check_size(len(value))
    return value


def iterate(iterable: Iterable[Any]) -> Iterable[Any]:
    """What a template's ``{% for %}`` loops over: the same items, each one a step of the budget."""
    budget = _current.get()
    if budget is None:
        return iterable
    return _stepping(iterable, budget)


def _stepping(iterable: Iterable[Any], budget: Budget) -> Iterator[Any]:
    for item in iterable:
        budget.step()
        yield item


def binop(name: str, left: Any, right: Any) -> Any:
    """``*``, ``**`` and ``%`` in a template, refused before they would exceed the budget."""
    step()
    budget = _current.get()
    max_output = budget.max_output if budget is not None else MAX_OUTPUT
    if name == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > max_output:
                raise RenderBudgetError(
                    f"it would produce more than {max_output:,} characters; make the template's output smaller"
                )
        return _sized(operator.mul(left, right))
    if name == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > MAX_EXPONENT:
            raise RenderBudgetError(f"an exponent larger than {MAX_EXPONENT} is refused in templates")
        return operator.pow(left, right)
    if name == "%":
        if isinstance(left, str):
            check_format(left)
        return _sized(operator.mod(left, right))
    raise RenderBudgetError(f"the operator {name} is not available in templates")


def check_format(fmt: str) -> None:
    """Refuse a format string whose width or precision alone exceeds the output budget."""
    if _HUGE_FIELD.search(fmt):
        raise RenderBudgetError("a format width or precision this large is refused in templates")


def guarded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """A Jinja filter whose integer arguments (widths, counts) and string result fit in the budget."""

    @wraps(func)  # keeps jinja_pass_arg (pass_context...) as it is
    def guarded(*args: Any, **kwargs: Any) -> Any:
        step()
        budget = _current.get()
        max_output = budget.max_output if budget is not None else MAX_OUTPUT
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and value > max_output:
                raise RenderBudgetError(f"a filter argument of {value} is refused in templates (too large)")
            if isinstance(value, str) and func.__name__ == "do_format":
                check_format(value)
        return _sized(func(*args, **kwargs))

    return guarded


class BudgetNamespace(Namespace):
    """Jinja's ``namespace()``, whose values are checked against the budget (a value doubled in a loop)."""

    def __setitem__(self, name: str, value: Any) -> None:
        step()
        super().__setitem__(name, _sized(value))


def concat(chunks: Iterable[str]) -> str:
    """Join a template's output, stepping the budget per chunk and checking the size as it grows.

    The template runs while its output is joined, so a render that no ``limit`` covers (a caller that
    renders with the environment directly) runs under the send budget from here.
    """
    budget = _current.get()
    if budget is None:
        with limit(SEND_SECONDS) as fresh:
            return _join(chunks, fresh)
    return _join(chunks, budget)


def _join(chunks: Iterable[str], budget: Budget) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        budget.step()
        size += len(chunk)
        budget.check_size(size)
        parts.append(chunk)
    return "".join(parts)
