"""The engine: evaluate a batch of due runs, step by step, and record what they decide.

``process_runs`` is what the RQ step job and the simulation call. In one
transaction it locks the runs (and their contacts), evaluates each from its
current step until it must wait or ends, writes the outbox and the runs, and
records the events the flows emit. Runs of one contact are evaluated highest
priority first, so that when several flows want the contact the right one
goes. Idempotent: a run no longer due is skipped, and a message is keyed by
run and step.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from core import normalize
from core.coupons.store.coupons import coupon_for, request_coupon
from core.flows import registry
from core.flows.content import NEEDS_PRODUCTS, content
from core.flows.dates import greeting_time
from core.flows.model import Action, Condition, Definition, RunState, Send, Split, Test, TriggerKind, Wait
from core.flows.rules import Entry, Ledger, after_quiet_hours, compare, consent_given, next_local_time, zone
from core.flows.settings import tenant_flows
from core.flows.splits import pick_variant, variant_send, winner
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.hooks import add_hook
from core.flows.store.lifecycle import did_any_since, latest_event
from core.flows.store.outbox import DROPPED, HELD, SCHEDULED, Outbox, Planned
from core.flows.store.queries import did_since
from core.flows.store.runs import save_runs
from core.holdouts import HOLDOUT, held_out
from core.messages.store.consents import note_detail
from core.messages.store.suppression import suppress
from core.model import Channel, ContactInfo, Event, EventType
from core.pipeline import ingest
from core.reports.store.variants import variant_results
from core.segments.store.membership import is_member
from core.store.tenants import Tenant

log = logging.getLogger(__name__)

#: A run whose evaluation failed is looked at again after this long.
RETRY_FAILED = timedelta(hours=1)


@dataclass
class StepReport:
    """What a batch did: runs looked at, steps executed, messages to send, outcomes by kind."""

    runs: int = 0
    steps: int = 0
    sends: list[tuple[int, datetime]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    #: unique coupons asked for (a job makes them in the shop)
    coupons: int = 0


class Evaluator:
    def __init__(self, batch: Batch, outbox: Outbox, report: StepReport) -> None:
        self.batch = batch
        self.outbox = outbox
        self.report = report
        self.now = batch.now
        self.settings = batch.flows.settings
        self.emitted: list[Event] = []
        #: event message id -> how a choice a flow made was made (kept with the consent proof)
        self.details: dict[str, str] = {}
        #: run id -> the events its conditions looked at (name -> properties), for the owner's notification
        self.looked: dict[int, dict[str, Any]] = {}
        self.coupons_requested = 0
        #: flow name -> its A/B test's winner, if any (looked up once per batch)
        self.winners: dict[str, str | None] = {}

    # -- the run ---------------------------------------------------------------------
    def evaluate(self, run: RunRow) -> None:
        definition = self.batch.definition(run)
        contact = self.batch.contacts.get(run.contact_id)
        if definition is None:
            return self._end(run, RunState.CANCELLED, "flow_switched_off")
        if contact is None:
            return self._end(run, RunState.CANCELLED, "contact_gone")
        reason = self._exit_reason(definition, run, contact)
        if reason:
            return self._end(run, RunState.EXITED, reason)
        position, step_due, resumed = run.position, run.step_due_at, True
        for _ in range(len(definition.steps) + 1):
            if position >= len(definition.steps):
                return self._end(run, RunState.DONE, None)
            step = definition.steps[position]
            self.report.steps += 1
            if isinstance(step, Wait):
                target, why = self._wait_end(definition, run, step, contact, resumed)
                if target is None:
                    return self._end(run, RunState.CANCELLED, why)
                if target > self.now:
                    return self._park(run, position, target, target)
                step_due, position = target, position + 1
            elif isinstance(step, Condition):
                chosen = step.then if self._test(step.test, run, contact) else step.otherwise
                position = definition.index_of(chosen, position)
            elif isinstance(step, Split):
                delay = self._split(definition, run, step)
                position += 1
                if delay:
                    target = self.now + delay
                    return self._park(run, position, target, target)
            elif isinstance(step, Send):
                hold = self._send(definition, run, step, contact, step_due or self.now, resumed)
                if hold is not None:
                    return self._park(run, position, hold, step_due)
                position += 1
            else:
                self._act(definition, run, step, position, contact)
                position += 1
            resumed = False
        return self._end(run, RunState.CANCELLED, "too_many_steps")

    def _park(self, run: RunRow, position: int, due: datetime, step_due: datetime | None) -> None:
        run.position, run.due_at, run.step_due_at, run.changed = position, due, step_due, True

    def _end(self, run: RunRow, state: RunState, reason: str | None) -> None:
        run.state, run.end_reason, run.due_at, run.changed = state.value, reason, None, True
        if state is not RunState.DONE:
            self.outbox.drop_held(run.id, reason or state.value)
        self.report.outcomes[f"run_{state.value}"] += 1

    # -- facts about the run -------------------------------------------------------------
    def _exit_reason(self, definition: Definition, run: RunRow, contact: ContactFacts) -> str | None:
        kind = definition.trigger.kind
        if kind is TriggerKind.SHOP:
            flow = registry.builtin(definition.name)
            if flow is not None and flow.exit_reason is not None:
                return flow.exit_reason(self.batch, run, contact)
        elif kind is TriggerKind.DATE and contact.birthday is None:
            return "birthday_removed"
        return None

    def _anchor(self, definition: Definition, run: RunRow, contact: ContactFacts) -> tuple[datetime | None, str]:
        kind = definition.trigger.kind
        if kind is TriggerKind.SHOP:
            flow = registry.builtin(definition.name)
            if flow is not None and flow.anchor is not None:
                return flow.anchor(self.batch, run, contact)
        elif kind is TriggerKind.DATE:
            year = int(run.context.get("year", run.trigger_at.year))
            at = definition.trigger.at
            assert at is not None
            tenant_tz = self.batch.tenant.config.timezone
            return greeting_time(contact.birthday, year, at, contact.timezone, tenant_tz), "birthday_removed"
        return run.trigger_at, ""

    def _wait_end(
        self, definition: Definition, run: RunRow, step: Wait, contact: ContactFacts, resumed: bool
    ) -> tuple[datetime | None, str]:
        if step.until_event and did_since(self.batch.conn, self.batch.tenant.id, contact.id, step.until_event,
                                          run.trigger_at):  # fmt: skip
            return self.now, ""  # what the wait was for happened: go on at once
        if step.from_anchor:
            anchor, why = self._anchor(definition, run, contact)
            if anchor is None:
                return None, why
            target = anchor + step.delay
        elif resumed and run.step_due_at is not None:
            return run.step_due_at, ""  # armed when the run reached the step
        else:
            target = self.now + step.delay
        if step.until_local is not None:
            target = next_local_time(
                target, step.until_local, zone(contact.timezone, self.batch.tenant.config.timezone)
            )
        return target, ""

    def _test(self, test: Test, run: RunRow, contact: ContactFacts) -> bool:
        result: bool
        conn, tenant_id = self.batch.conn, self.batch.tenant.id
        if test.kind == "tagged":
            result = test.name in (contact.attributes.get("tags") or [])
        elif test.kind == "property":
            if test.name.startswith("attributes."):
                value = contact.attributes.get(test.name.split(".", 1)[1])
            else:
                value = getattr(contact, test.name, None) if test.name != "birthday" else contact.birthday
                value = contact.fields.get(test.name, value)
            result = compare(test.op, value, test.value)
        elif test.kind == "event":
            name, _, key = test.name.partition(".")
            properties = latest_event(conn, tenant_id, contact.id, name, run.trigger_at)
            if properties is not None:
                self.looked.setdefault(run.id, {})[name] = properties
            value = None if properties is None else (properties.get(key) if key else True)
            result = compare(test.op, value, test.value)
        elif test.kind == "did":
            names = (test.name, *(test.value or ())) if isinstance(test.value, list | tuple) else (test.name,)
            result = did_any_since(conn, tenant_id, contact.id, names, run.trigger_at)
        elif test.kind == "segment":
            result = bool(is_member(self.batch.conn, self.batch.tenant.id, contact.id, test.name))
        else:  # consent
            result = consent_given(Channel(test.name), contact.email_consent, contact.sms_consent)
        return not result if test.negate else result

    # -- A/B split ---------------------------------------------------------------------------
    def _split(self, definition: Definition, run: RunRow, split: Split) -> timedelta:
        """Give the run its variant (once); return the variant's own delay."""
        chosen = split.variant(run.context.get("variant"))
        if chosen is None:
            winner = self._winner(definition, split)
            chosen = split.variant(winner) if winner else None
            if chosen is None:
                chosen = pick_variant(split, self.batch.tenant.id, definition.name, run.contact_id)
            run.context["variant"] = chosen.name
            run.context_changed = run.changed = True
            self.report.outcomes[f"variant:{chosen.name}"] += 1
        return chosen.delay

    def _winner(self, definition: Definition, split: Split) -> str | None:
        """The variant every new run gets once the test has a winner (looked up once per batch and flow)."""
        if split.winner is None:
            return None
        if definition.name not in self.winners:
            results = variant_results(self.batch.conn, self.batch.tenant.id, definition.name)
            self.winners[definition.name] = winner(split, results)
        return self.winners[definition.name]

    # -- sending -------------------------------------------------------------------------
    def _send(
        self, definition: Definition, run: RunRow, step: Send, contact: ContactFacts, step_due: datetime, resumed: bool
    ) -> datetime | None:
        """Record the message; return the time to try again when pressure holds it back."""
        now = self.now
        deadline = step_due + step.expires if step.expires else None
        context = content(self.batch, definition, run, step, contact)
        if deadline is not None:
            context["expires_at"] = normalize.isoformat(deadline)
        split = definition.split or self.settings.splits.get(definition.name)
        if split is not None and definition.split is None and "variant" not in run.context:
            self._split(definition, run, split)  # a built-in flow's test: the variant is given at its first send
        variant = split.variant(run.context.get("variant")) if split else None
        if variant is not None:  # the sends after the split follow the run's variant
            step = variant_send(step, variant)
            if variant.subject:
                context["subject"] = variant.subject
        address = contact.email if step.channel is Channel.EMAIL else contact.phone
        message = Planned(
            contact_id=contact.id,
            flow=definition.name,
            run_id=run.id,
            step=step.number,
            variant=None if variant is None else variant.name,
            channel=step.channel.value,
            marketing=step.marketing,
            template=step.template,
            context=context,
            dedupe_key=f"run:{run.id}:step:{step.number}",
            status=SCHEDULED,
            due_at=now,
            to_address=address,
            from_held=resumed,
        )
        if deadline is not None and now > deadline:
            return self._record(message, DROPPED, "expired")
        if step.content in NEEDS_PRODUCTS and not context["products"]:
            return self._record(message, DROPPED, "no_products")
        if not address:
            return self._record(message, DROPPED, "no_address")
        if not step.marketing:
            return self._record(message, SCHEDULED, None)
        if not consent_given(step.channel, contact.email_consent, contact.sms_consent):
            return self._record(message, DROPPED, "consent")
        percent = self.settings.holdouts.get(definition.name, 0.0)
        if percent and held_out(self.batch.tenant.id, definition.name, contact.id, percent):
            return self._record(message, HOLDOUT, "holdout")  # recorded for the report, never sent
        if step.unique_coupon is not None:
            wait = self._coupon(definition, run, step, contact, message)
            if wait is not None:
                self._record(message, HELD, "coupon", wait)
                return wait
        ledger = self.batch.ledger(contact)
        quiet = self.settings.quiet_hours
        earliest = after_quiet_hours(now, quiet, ledger.tz)
        if deadline is not None and earliest > deadline:
            return self._record(message, DROPPED, "quiet_hours")
        rank = self.settings.rank(definition.name)
        slot = ledger.find_slot(now, rank, now, self.settings.pressure, quiet)
        if slot is None or (deadline is not None and slot.when > deadline):
            return self._record(message, DROPPED, "pressure")
        if slot.when > earliest:
            self._record(message, HELD, "pressure", slot.when)
            return slot.when
        self._record(message, SCHEDULED, "quiet_hours" if slot.when > now else None, slot.when)
        ledger.add(Entry(slot.when, rank, None, slot.when > now, deadline, definition.name, ref=message))
        for entry in slot.bumped:  # after taking the slot, so that they look for another one
            self._bump(ledger, entry)
        return None

    def _coupon(
        self, definition: Definition, run: RunRow, step: Send, contact: ContactFacts, message: Planned
    ) -> datetime | None:
        """Put the contact's own code in the message; return until when it waits for the code, if it must.

        Without write access to the shop (``flows.coupons.create``), or once the code could not be made or
        took longer than the step's ``wait``, the message carries the step's fixed code.
        """
        spec = step.unique_coupon
        assert spec is not None
        if not self.settings.create_coupons:
            return None
        conn, tenant = self.batch.conn, self.batch.tenant
        found = coupon_for(conn, tenant.id, message.dedupe_key)
        if found is None:
            request_coupon(conn, tenant.id, contact.id, definition.name, run.id, message.dedupe_key, spec,
                           tenant.config.currency, self.now)  # fmt: skip
            self.coupons_requested += 1
            return self.now + spec.wait
        if found.status == "created" and found.code:
            message.context["coupon"] = found.code
            message.context["coupon_expires_at"] = normalize.isoformat(found.expires_at)
            return None
        if found.status == "pending" and self.now < found.created_at + spec.wait:
            return found.created_at + spec.wait
        return None  # failed, skipped or late: the fixed code (if any) goes instead

    def _record(self, message: Planned, status: str, reason: str | None, due: datetime | None = None) -> None:
        message.status, message.reason, message.due_at = status, reason, due or self.now
        self.outbox.add(message)
        self.report.outcomes[f"{status}:{reason}" if reason else status] += 1

    def _bump(self, ledger: Ledger, entry: Entry) -> None:
        """Move a lower-priority message out of the slot a higher-priority one takes."""
        ledger.remove(entry)
        slot = ledger.find_slot(
            entry.when, entry.rank, self.now, self.settings.pressure, self.settings.quiet_hours, False
        )
        if slot is None or (entry.expires_at is not None and slot.when > entry.expires_at):
            status, due = DROPPED, entry.when
        else:
            status, due = SCHEDULED, slot.when
            ledger.add(Entry(due, entry.rank, entry.message_id, True, entry.expires_at, entry.flow, entry.ref))
        self.report.outcomes[f"{status}:pressure"] += 1
        if isinstance(entry.ref, Planned):
            entry.ref.status, entry.ref.due_at, entry.ref.reason = status, due, "pressure"
        elif entry.message_id is not None:
            self.outbox.move(entry.message_id, status, due, "pressure")

    # -- actions -------------------------------------------------------------------------
    def _act(self, definition: Definition, run: RunRow, step: Action, position: int, contact: ContactFacts) -> None:
        message_id = f"flow:{run.id}:{position}"
        if step.kind == "notify":
            return self._notify(definition, run, step, position, contact)
        if step.kind == "webhook":
            return self._webhook(definition, run, step, position, contact)
        if step.kind == "suppress":
            return self._suppress(definition, run, step, contact)
        identity = ContactInfo(email=contact.email) if contact.email else ContactInfo(phone=contact.phone)
        if not (contact.email or contact.phone):
            return
        if step.kind == "unsubscribe":
            return self._unsubscribe(definition, run, step, message_id, contact, identity)
        if step.kind == "emit":
            self.emitted.append(
                Event(
                    EventType.TRACK,
                    message_id,
                    self.now,
                    identity,
                    event=step.name,
                    properties={"flow": definition.name},
                    source="relance",
                )
            )
            return
        tags = list(contact.attributes.get("tags") or [])
        if step.kind == "tag" and step.name not in tags:
            tags.append(step.name)
        elif step.kind == "untag" and step.name in tags:
            tags.remove(step.name)
        changes: dict[str, Any] = {"tags": tags} if step.kind in ("tag", "untag") else {step.name: step.value}
        contact.attributes.update(changes)
        info = ContactInfo(email=identity.email, phone=identity.phone, attributes=changes)
        self.emitted.append(Event(EventType.IDENTIFY, message_id, self.now, info, source="relance"))

    def _notify(self, definition: Definition, run: RunRow, step: Action, position: int, contact: ContactFacts) -> None:
        """A transactional email to the shop owner (``notify_owner``): the text, the contact, what the run saw."""
        sender = self.batch.tenant.config.sender
        to = step.value or self.settings.notify_email or (sender.email if sender else None)
        context: dict[str, Any] = {
            "flow": definition.name,
            "text": step.name,
            "contact_id": contact.id,
            "products": [],
            "events": self.looked.get(run.id, {}),
        }
        if run.context.get("order") is not None:
            context["order_id"] = run.context["order"]
        note = Planned(
            contact_id=contact.id,
            flow=definition.name,
            run_id=run.id,
            step=0,
            channel=Channel.EMAIL.value,
            marketing=False,
            template="notify_owner/1",
            context=context,
            dedupe_key=f"run:{run.id}:notify:{position}",
            status=SCHEDULED,
            due_at=self.now,
            to_address=to,
        )
        self._record(note, SCHEDULED if to else DROPPED, None if to else "no_address")

    def _webhook(self, definition: Definition, run: RunRow, step: Action, position: int, contact: ContactFacts) -> None:
        """Record a signed POST about the run, for the delivery job (``core.flows.hooks``)."""
        payload = {
            "type": "flow.step",
            "tenant": self.batch.tenant.name,
            "flow": definition.name,
            "run_id": run.id,
            "step": position,
            "trigger": run.trigger_key,
            "at": normalize.isoformat(self.now),
            "contact": {
                "id": contact.id,
                "email": contact.email,
                "phone": contact.phone,
                "first_name": contact.first_name,
                "tags": list(contact.attributes.get("tags") or []),
            },
            "events": self.looked.get(run.id, {}),
        }
        add_hook(self.batch.conn, self.batch.tenant.id, contact.id, definition.name, run.id,
                 f"run:{run.id}:hook:{position}", step.name, payload, self.now)  # fmt: skip
        self.report.outcomes["webhook"] += 1

    def _suppress(self, definition: Definition, run: RunRow, step: Action, contact: ContactFacts) -> None:
        """Put the contact's addresses on the suppression list (no marketing message goes there again)."""
        wanted = {"email": [Channel.EMAIL], "sms": [Channel.SMS]}.get(step.name, [Channel.EMAIL, Channel.SMS])
        for channel in wanted:
            address = contact.email if channel is Channel.EMAIL else contact.phone
            if address:
                detail = f"flow {definition.name}, run {run.id}"
                suppress(self.batch.conn, self.batch.tenant.id, channel.value, address, "flow", self.now, detail)
                self.report.outcomes[f"suppressed:{channel.value}"] += 1

    def _unsubscribe(
        self,
        definition: Definition,
        run: RunRow,
        step: Action,
        message_id: str,
        contact: ContactFacts,
        identity: ContactInfo,
    ) -> None:
        """Opt the contact out (an event with the consent withdrawn: the store keeps it as proof)."""
        channels = {"email": [Channel.EMAIL], "sms": [Channel.SMS]}.get(step.name, [Channel.EMAIL, Channel.SMS])
        reason = str(step.value or definition.name)
        who = ContactInfo(email=identity.email, phone=identity.phone, consent={c: False for c in channels})
        name = "newsletter_unsubscribed" if Channel.EMAIL in channels else None
        properties = {"list": "marketing", "reason": reason, "flow": definition.name,
                      "channels": sorted(c.value for c in channels)}  # fmt: skip
        kind = EventType.TRACK if name else EventType.IDENTIFY
        self.emitted.append(Event(kind, message_id, self.now, who, event=name, properties=properties, source="relance"))
        self.details[message_id] = f"{reason}: unsubscribed by flow {definition.name} (run {run.id})"
        for channel in channels:
            if channel is Channel.EMAIL:
                contact.email_consent = False
            else:
                contact.sms_consent = False
        self.report.outcomes["unsubscribed"] += 1


def process_runs(conn: Connection, tenant: Tenant, run_ids: list[int], now: datetime) -> StepReport:
    """Evaluate the due runs among ``run_ids`` (one tenant's) and record their messages."""
    flows = tenant_flows(tenant.config.flows)
    batch = Batch(conn, tenant, flows, now)
    report = StepReport()
    runs = batch.load(run_ids)
    outbox = Outbox(conn, tenant.id, now)
    evaluator = Evaluator(batch, outbox, report)
    rank = flows.settings.rank
    for run in sorted(runs, key=lambda r: (r.contact_id, rank(r.flow), r.step_due_at or r.trigger_at, r.id)):
        try:
            evaluator.evaluate(run)
        except SQLAlchemyError:
            raise  # the transaction is lost: the job fails and RQ retries the batch
        except Exception:
            # one run that cannot be evaluated (a bad setting, a bug) must not hold back the batch:
            # it is logged and looked at again later
            log.exception("flows: tenant %s: run %s (%s) failed; retried in an hour", tenant.id, run.id, run.flow)
            run.state, run.due_at, run.changed = RunState.WAITING.value, now + RETRY_FAILED, True
            report.outcomes["run_error"] += 1
    report.runs = len(runs)
    save_runs(conn, tenant.id, runs, now)
    report.sends = outbox.flush()
    if evaluator.emitted:
        for event in evaluator.emitted:
            ingest(conn, tenant, event, now)
    for event_id, detail in evaluator.details.items():
        note_detail(conn, tenant.id, event_id, detail)
    report.coupons = evaluator.coupons_requested
    return report
