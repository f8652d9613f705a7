"""Render a message template: MJML to responsive HTML with CSS inlined, or SMS text.

Every failure a template can have (syntax, a sandbox refusal, a missing value,
MJML that does not parse) comes out as one TemplateError naming the template.
"""

from __future__ import annotations

import html as htmlmod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import css_inline
from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import TemplateNotFound, TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from mjml import mjml2html

from core.messages import budget
from core.messages.budget import RenderBudgetError
from core.messages.environment import render_block
from core.messages.errors import TemplateError

_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False, keep_at_rules=True)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    #: The rendered MJML the HTML was made from (the plain-text part is read from it).
    source: str = ""


#: What a template can raise while rendering (RecursionError: a macro calling itself without end).
RENDER_ERRORS = (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError, RecursionError, MemoryError)


def _reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "macros call each other too deeply (a macro calling itself without end?)"
    if isinstance(exc, MemoryError):
        return "it needs more memory than there is; make its output smaller"
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox ({exc}); templates may only use the values they are given"
    if isinstance(exc, UndefinedError):
        return f"{exc} (use only the documented values, or guard optional ones with 'if')"
    if isinstance(exc, TemplateSyntaxError):
        where = f"line {exc.lineno}" + (f" of {exc.name}" if exc.name else "")
        return f"syntax error at {where}: {exc.message}"
    if isinstance(exc, TemplateNotFound):
        return f"template {exc.name} does not exist"
    return str(exc) or type(exc).__name__


def _one_line(text: str) -> str:
    return " ".join(htmlmod.unescape(text).split())


def render_email(env: ImmutableSandboxedEnvironment, name: str, variables: Mapping[str, Any]) -> RenderedEmail:
    """Render the MJML template ``name`` to HTML; raise TemplateError saying what is wrong."""
    try:
        template = env.get_template(name)
        if "subject" not in template.blocks:
            raise TemplateError(f"template {name} has no subject: add {{% block subject %}}...{{% endblock %}}")
        with budget.limit(budget.SEND_SECONDS):
            subject = _one_line(render_block(template, "subject", variables) or "")
            preheader = _one_line(render_block(template, "preheader", variables) or "")
            source = template.render(dict(variables))
    except RenderBudgetError as exc:
        raise RenderBudgetError(f"template {name}: {exc}") from exc
    except TemplateError:
        raise
    except RENDER_ERRORS as exc:
        raise TemplateError(f"template {name}: {_reason(exc)}") from exc
    if not subject:
        raise TemplateError(f"template {name}: the subject is empty")
    try:
        rendered = mjml2html(source)
    except ValueError as exc:
        raise TemplateError(f"template {name}: the MJML is not valid ({exc})") from exc
    try:
        inlined = _INLINER.inline(rendered)
    except ValueError as exc:  # css_inline.InlineError is a ValueError
        raise TemplateError(f"template {name}: its CSS could not be inlined ({exc})") from exc
    return RenderedEmail(subject=subject, preheader=preheader, html=inlined, source=source)


def render_text(env: ImmutableSandboxedEnvironment, name: str, variables: Mapping[str, Any]) -> str:
    """Render a plain-text (SMS) template, whitespace tidied; raise TemplateError on failure."""
    try:
        template = env.get_template(name)
        with budget.limit(budget.SEND_SECONDS):
            text = template.render(dict(variables))
    except RenderBudgetError as exc:
        raise RenderBudgetError(f"template {name}: {exc}") from exc
    except RENDER_ERRORS as exc:
        raise TemplateError(f"template {name}: {_reason(exc)}") from exc
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)
