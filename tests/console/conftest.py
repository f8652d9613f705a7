"""Fixtures of the console tests: the web app (webhooks + console) on the test database, two tenants,
users of every role, and a signed-in test client per user."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from core.console.accounts import Role, hash_password
from core.console.store.users import add_user
from core.store.schema import consents, contact_identities, contacts, events, messages, orders
from core.store.tenants import Tenant
from relance.settings import Settings
from relance.wiring import Runtime
from relance.wsgi import web_app
from tests.conftest import NOW, make_tenant

PASSWORD = "correct horse battery"  # noqa: S105 - a test password
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_runtime(engine: Engine, tmp_path: Path, clock: Any, base_url: str = "http://relance.test") -> Runtime:
    settings = Settings(
        database_url=str(engine.url),
        redis_url="redis://127.0.0.1:1/0",  # nothing listens there: the console shows "Redis does not answer"
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789",
        base_url=base_url,
    )
    return Runtime(settings=settings, engine=engine, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def stage(engine: Engine, tmp_path: Path, clock: Clock) -> dict[str, Any]:
    """Two tenants (alpha with a secret, beta), users of each role, and the app."""
    alpha = make_tenant(
        engine, "alpha", credentials={"consumer_key": "ck_alpha_0123456789", "consumer_secret": "cs_alpha_secret_9876"}
    )
    beta = make_tenant(engine, "beta")
    with engine.begin() as conn:
        hashed = hash_password(PASSWORD)
        add_user(conn, "admin", Role.AGENCY_ADMIN, None, hashed, NOW)
        add_user(conn, "owner-a", Role.OWNER, alpha.id, hashed, NOW)
        add_user(conn, "viewer-a", Role.VIEWER, alpha.id, hashed, NOW)
        add_user(conn, "owner-b", Role.OWNER, beta.id, hashed, NOW)
    runtime = make_runtime(engine, tmp_path, clock)
    app = web_app(runtime, TESTING=True)
    return {"engine": engine, "app": app, "alpha": alpha, "beta": beta, "runtime": runtime, "clock": clock}


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(app: Any, name: str, password: str = PASSWORD) -> Any:
    """A test client signed in as ``name`` (its ``csrf`` attribute holds the session's CSRF token)."""
    client = app.test_client()
    response = client.post(
        "/console/login", data={"username": name, "password": password, "csrf_token": login_token(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    client.csrf = csrf_of(client.get("/console/t/" + _any_tenant(app, name) + "/settings").get_data(as_text=True))
    return client


def login_token(client: Any) -> str:
    return csrf_of(client.get("/console/login").get_data(as_text=True))


def _any_tenant(app: Any, name: str) -> str:
    return "beta" if name.endswith("-b") else "alpha"


def seed_contact(engine: Engine, tenant: Tenant, email: str = "marie@example.fr", days_ago: int = 2) -> int:
    """A contact with an identity, a consent, events, a sent message (opened, clicked) and an order after it."""
    sent_at = NOW - timedelta(days=days_ago)
    with engine.begin() as conn:
        contact_id = conn.execute(
            contacts.insert()
            .values(
                tenant_id=tenant.id,
                email=email,
                first_name="Marie",
                last_name="Dupont",
                attributes={},
                email_consent=True,
                created_at=NOW - timedelta(days=40),
                updated_at=NOW,
            )
            .returning(contacts.c.id)
        ).scalar_one()
        conn.execute(
            contact_identities.insert().values(
                tenant_id=tenant.id, kind="email", value=email, contact_id=contact_id, created_at=NOW
            )
        )
        conn.execute(
            consents.insert().values(
                tenant_id=tenant.id, contact_id=contact_id, channel="email", granted=True, at=NOW - timedelta(days=40),
                source="double_opt_in", detail="confirmed from 203.0.113.9",
            )
        )  # fmt: skip
        message_id = conn.execute(
            messages.insert()
            .values(
                tenant_id=tenant.id, contact_id=contact_id, flow="abandoned_cart", step=1, channel="email",
                marketing=True, template="abandoned_cart/1", context={}, dedupe_key=f"run:{email}:1",
                status="sent", due_at=sent_at, sent_at=sent_at, to_address=email, subject="Votre panier",
                attempts=1, created_at=sent_at, updated_at=sent_at,
            )
            .returning(messages.c.id)
        ).scalar_one()  # fmt: skip
        for number, name in enumerate(("email_opened", "email_clicked", "product_viewed")):
            conn.execute(
                events.insert().values(
                    tenant_id=tenant.id, message_id=f"{email}-{name}", type="track", name=name, contact_id=contact_id,
                    occurred_at=sent_at + timedelta(hours=number + 1), received_at=sent_at, source="relance",
                    properties={"message_id": message_id, "flow": "abandoned_cart", "step": 1},
                )
            )  # fmt: skip
        conn.execute(
            orders.insert().values(
                tenant_id=tenant.id, source="woocommerce", external_id=f"o-{email}", number="1001",
                contact_id=contact_id, status="paid", currency="EUR", total="59.90",
                created_at=sent_at + timedelta(hours=5), updated_at=sent_at + timedelta(hours=5),
                paid_at=sent_at + timedelta(hours=5), ingested_at=NOW,
            )
        )  # fmt: skip
    return contact_id


__all__ = ["NOW", "PASSWORD", "UTC", "csrf_of", "login_token", "seed_contact", "sign_in"]
