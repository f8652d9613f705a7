"""``post_purchase_survey``: ``after_days`` (7) days after an order is completed, a one-click 1-to-5 score.

The email carries five signed links (``core.flows.survey``); a click records
the score on a hosted page (``webhooks.survey``) as a ``survey_answered``
event, which wakes the run. A low score (``low_at_most``, 2) notifies the shop
(``notify_owner``, to ``notify_email``, else the flows' ``notify_email``, else
the sender) and tags the contact (``tag``); a high one (``high_at_least``, 4)
gets a review invitation when ``review_url`` is set. Without an answer within
``answer_days`` (14) the run ends. One run per order; the order cancelled or
refunded meanwhile ends it. Switched off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from core import normalize
from core.flows import values
from core.flows.model import (
    Action,
    Condition,
    Definition,
    Reentry,
    RunState,
    Send,
    Step,
    Test,
    Trigger,
    TriggerKind,
    Wait,
)
from core.flows.plugin import BuiltinFlow, Reaction
from core.flows.starting import begin
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.runs import end_runs
from core.model import REVENUE_STATUSES, Channel

NAME = "post_purchase_survey"
ANSWER = "survey_answered"


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    channel: Channel = Channel.EMAIL
    after_days: int = 7
    answer_days: int = 14
    low_at_most: int = 2
    high_at_least: int = 4
    review_url: str | None = None
    notify_email: str | None = None
    tag: str = "unhappy_customer"


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    keys = ("enabled", "channel", "after_days", "answer_days", "low_at_most", "high_at_least", "review_url",
            "notify_email", "tag")  # fmt: skip
    values.reject_unknown(given, keys, path)
    out = values.common(given, path)
    for key, low, high in (("after_days", 0, 90), ("answer_days", 1, 60), ("low_at_most", 1, 4),
                           ("high_at_least", 2, 5)):  # fmt: skip
        if key in given:
            out[key] = values.integer(given[key], f"{path}.{key}", low, high)
    if given.get("review_url") is not None:
        url = values.text(given["review_url"], f"{path}.review_url", 2000) or ""
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise values.fail(f"{path}.review_url", "must be an http(s) URL, such as https://g.page/r/your-shop/review")
        out["review_url"] = url
    if given.get("notify_email") is not None:
        try:
            out["notify_email"] = normalize.email(given["notify_email"])
        except ValueError as exc:
            raise values.fail(f"{path}.notify_email", f"{exc} (use owner@example.com)") from exc
    if "tag" in given:
        out["tag"] = values.text(given["tag"], f"{path}.tag", 100) or "unhappy_customer"
    settings = Settings(**out)
    if settings.low_at_most >= settings.high_at_least:
        raise values.fail(f"{path}.low_at_most", f"must be below high_at_least ({settings.high_at_least})")
    return settings


def define(settings: Settings) -> Definition:
    score = f"{ANSWER}.score"
    steps: list[Step] = [
        Wait(delay=timedelta(days=settings.after_days), from_anchor=True),
        Send(number=1, channel=settings.channel, template=f"{NAME}/1", content="survey", expires=timedelta(days=3)),
        Wait(delay=timedelta(days=settings.answer_days), until_event=ANSWER),
        Condition(Test("event", score, "exists", True)),  # no answer: the run ends here
        Wait(delay=timedelta(minutes=30)),  # time to add a comment on the page before the shop is told
        Condition(Test("event", score, "at_least", settings.high_at_least), then="next", otherwise="low"),
    ]
    if settings.review_url:
        steps.append(Send(number=2, channel=settings.channel, template=f"{NAME}/2", content="review",
                          expires=timedelta(days=3)))  # fmt: skip
    low = len(steps)
    steps += [
        Condition(Test("event", score, "at_most", settings.low_at_most), id="low"),
        Action("notify", "A customer gave a low score", settings.notify_email),
        Action("tag", settings.tag),
    ]
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="completed order"),
        steps=tuple(steps),
        reentry=Reentry.PER_OBJECT,
        horizon=timedelta(days=settings.after_days + 3),
        builtin=True,
        labels=(("low", low),),
    )


def react(r: Reaction) -> None:
    order_id = r.ingested.order_id
    if order_id is None or "order_status" not in r.effects:
        return
    order = r.order()
    if order is None or order.contact_id is None:
        return
    if order.status not in REVENUE_STATUSES and order.status != "pending":
        end_runs(r.conn, r.tenant.id, RunState.EXITED, "order_cancelled", r.now, flow=NAME, key=f"order:{order.id}")
        return
    if order.status != "completed" or not r.reachable(order.contact_id):
        return
    begin(r.conn, r.tenant, r.flows.by_name[NAME], order.contact_id, f"order:{order.id}", r.event.timestamp, r.now,
          context={"order": order.id})  # fmt: skip


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    order = batch.orders.get(run.context.get("order"))
    if order is None or order.status not in REVENUE_STATUSES:
        return "order_cancelled"
    return None


def survey(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The order asked about; ``survey`` asks the composer for the five signed score links."""
    return {"products": [], "survey": True, "order_id": run.context.get("order")}


def review(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The review invitation: where to leave one."""
    settings = batch.flows.settings.of(NAME)
    return {"products": [], "review_url": settings.review_url, "order_id": run.context.get("order")}


FLOW = BuiltinFlow(
    name=NAME,
    priority=45,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    exit_reason=exit_reason,
    contents={"survey": survey, "review": review},
    productless=frozenset({"survey", "review"}),
)
