"""Rotating RELANCE_SECRET_KEY: links signed with a former key keep working while it is in RELANCE_OLD_SECRET_KEYS."""

from __future__ import annotations

from dataclasses import replace

from core.messages.links import click_url
from webhooks.app import create_app

OLD = "the-former-secret-key-0123456789"
NEW = "the-current-secret-key-0123456789"
BASE = "http://relance.test"


def _client(runtime, **settings):
    runtime.settings = replace(runtime.settings, **settings)
    return create_app(runtime, TESTING=True).test_client()


def test_a_link_signed_with_a_former_key_works_while_the_key_is_kept(engine, shop, runtime):
    path = click_url(BASE, OLD, shop.id, 42, "https://shop.example.com/p/93").removeprefix(BASE)
    kept = _client(runtime, secret_key=NEW, old_secret_keys=(OLD,)).get(path)
    assert kept.status_code == 302 and kept.headers["Location"] == "https://shop.example.com/p/93"
    dropped = _client(runtime, secret_key=NEW, old_secret_keys=()).get(path)
    assert dropped.status_code == 404 and "not valid" in dropped.get_data(as_text=True)
    current = click_url(BASE, NEW, shop.id, 42, "https://shop.example.com/p/7").removeprefix(BASE)
    assert _client(runtime, secret_key=NEW, old_secret_keys=(OLD,)).get(current).status_code == 302
    forged = click_url(BASE, "someone-elses-key-0123456789", shop.id, 42, "https://evil.example").removeprefix(BASE)
    assert _client(runtime, secret_key=NEW, old_secret_keys=(OLD,)).get(forged).status_code == 404
