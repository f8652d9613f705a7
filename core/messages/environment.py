"""The sandboxed Jinja environment that renders every message template.

Agencies edit templates, so a template runs in Jinja's immutable sandbox: it
cannot reach Python internals (``__class__``, ``__globals__``, private
attributes) nor change the values it is given, and a missing value is an
error (``StrictUndefined``) rather than a silent blank. MJML templates are
autoescaped; SMS templates (``.txt``) are plain text.

Default templates live in ``core/messages/templates/`` (the layout, shared
components, double opt-in) and beside the built-in flows in
``core/flows/library/templates/`` (``<lang>/<flow>/<step>.mjml``); a
tenant's overrides (``messages.templates`` in its settings) are looked up
first, under the same names. Environments are cached by the overrides' content: the cache
holds no state that two processes would need to agree on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader, StrictUndefined, Template, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.flows.library import TEMPLATES_DIR as FLOW_TEMPLATES_DIR
from core.messages import budget

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
#: Where default templates are looked for, in order.
SEARCH_PATH = (TEMPLATES_DIR, FLOW_TEMPLATES_DIR)
#: Languages the default templates are written in.
DEFAULT_LANGUAGES = ("fr", "en")
EMAIL_SUFFIX = ".mjml"
SMS_SUFFIX = ".sms.txt"


@lru_cache(maxsize=64)
def babel_locale(name: str) -> Locale:
    """A parsed Babel locale (parsing one costs more than formatting with it)."""
    return Locale.parse(name)


def template_name(lang: str, name: str, channel: str) -> str:
    """The loader name of a message template: ``fr/abandoned_cart/1.mjml`` or ``fr/abandoned_cart/1.sms.txt``."""
    return f"{lang}/{name}{SMS_SUFFIX if channel == 'sms' else EMAIL_SUFFIX}"


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(".txt")


@pass_context
def _money(context: Context, amount: Any, currency: str | None = None) -> str:
    """``{{ 49.9 | money }}`` -> "49,90 €" in fr_FR, "€49.90" in en_IE (the message's locale)."""
    if amount is None or amount == "":
        return ""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    locale = babel_locale(context.get("locale") or "en")
    return format_currency(value, currency or context.get("currency") or "EUR", locale=locale)


@pass_context
def _number(context: Context, value: Any) -> str:
    return format_decimal(value, locale=babel_locale(context.get("locale") or "en"))


@pass_context
def _date(context: Context, value: Any, style: str = "long") -> str:
    """A date or datetime in the message's locale (and the contact's time zone for datetimes)."""
    if value is None or value == "":
        return ""
    locale = babel_locale(context.get("locale") or "en")
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        zone = ZoneInfo(context.get("timezone") or "UTC")
        if style in ("short", "medium", "long", "full"):
            return format_date(value.astimezone(zone).date(), style, locale=locale)
        return format_datetime(value, style, tzinfo=zone, locale=locale)
    return format_date(value, style, locale=locale)


class _BudgetedCodeGenerator(CodeGenerator):
    """Compiles every ``{% for %}`` to loop over ``environment.budget_iter(...)``: each iteration is a step
    of the render budget (``core.messages.budget``), whatever the template loops over."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        wrapped = isinstance(node.iter, nodes.Call) and isinstance(node.iter.node, nodes.EnvironmentAttribute)
        if not wrapped:
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("budget_iter"), [node.iter], [], None, None, lineno=node.lineno
            )
        super().visit_For(node, frame)


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the render budget: loops, calls, ``*``, ``**``, ``%``, filters,
    ``namespace`` values and the output all count (``core.messages.budget``)."""

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%"})
    budget_iter = staticmethod(budget.iterate)
    concat = staticmethod(budget.concat)  # type: ignore[assignment]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.pop("lipsum", None)  # generates text in bulk, of no use in a message
        self.globals["namespace"] = budget.BudgetNamespace

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return budget.binop(operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget.step()
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:  # "{:>1000000000}".format(...) would allocate before any check after it
            budget.check_format(str(value.__self__))
        return wrapped


def _build(overrides: Mapping[str, str]) -> ImmutableSandboxedEnvironment:
    loader = ChoiceLoader([DictLoader(dict(overrides)), FileSystemLoader([str(path) for path in SEARCH_PATH])])
    env = BudgetedEnvironment(
        loader=loader,
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["money"] = _money
    env.filters["number"] = _number
    env.filters["date"] = _date
    env.filters = {name: budget.guarded_filter(func) for name, func in env.filters.items()}
    return env


@lru_cache(maxsize=64)
def _cached(key: str) -> ImmutableSandboxedEnvironment:
    return _build(json.loads(key))


def environment(overrides: Mapping[str, str] | None = None) -> ImmutableSandboxedEnvironment:
    """The environment for a tenant's template overrides (loader name -> source)."""
    return _cached(json.dumps(dict(overrides or {}), sort_keys=True))


@lru_cache(maxsize=4096)
def exists(env: ImmutableSandboxedEnvironment, name: str) -> bool:
    """True when the environment can load the template ``name`` (override or default).

    Remembered per environment: an environment's overrides never change (a new
    tenant file makes a new one) and default templates change only with the code.
    """
    from jinja2 import TemplateNotFound

    assert env.loader is not None
    try:
        env.loader.get_source(env, name)  # no compiling: a broken template still "exists"
    except TemplateNotFound:
        return False
    return True


def render_block(template: Template, block: str, variables: Mapping[str, Any]) -> str | None:
    """Render one block of a template alone, or None when the template has no such block."""
    func = template.blocks.get(block)
    if func is None:
        return None
    return budget.concat(func(template.new_context(dict(variables))))
