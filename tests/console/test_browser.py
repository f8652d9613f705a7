"""The console in a real browser: Debian's Chromium driven by Playwright against a real local server.

Signs in, switches tenants as an agency admin, is refused another tenant as a
shop's user, switches a flow on, creates and schedules a campaign, opens a
contact and erases it, sees the
charts render; keeps a screenshot of each main page at 1280 and 390 px wide in
``artifacts/console/`` (ignored by git). Skipped when /usr/bin/chromium or
Playwright is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from core.console.accounts import Role, hash_password
from core.console.store.users import add_user
from relance.wsgi import web_app
from tests.conftest import NOW, make_tenant
from tests.console.conftest import PASSWORD, Clock, make_runtime, seed_contact

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def site(sqlite_engine, tmp_path) -> Iterator[dict[str, Any]]:
    engine = sqlite_engine
    alpha = make_tenant(
        engine, "alpha", credentials={"consumer_key": "ck_0123456789", "consumer_secret": "cs_secret_987654"}
    )
    beta = make_tenant(engine, "beta")
    with engine.begin() as conn:
        hashed = hash_password(PASSWORD)
        add_user(conn, "admin", Role.AGENCY_ADMIN, None, hashed, NOW)
        add_user(conn, "owner-b", Role.OWNER, beta.id, hashed, NOW)
    contacts = {
        "marie": seed_contact(engine, alpha, "marie@example.fr", days_ago=2),
        "jean": seed_contact(engine, alpha, "jean@example.fr", days_ago=6),
        "paul": seed_contact(engine, beta, "paul@example.com", days_ago=3),
    }
    from core.attribution.attribute import recompute

    for tenant in (alpha, beta):
        recompute(engine, tenant, NOW)  # the orders credited to the messages clicked before them
    runtime = make_runtime(engine, tmp_path, Clock(NOW))
    server = make_server("127.0.0.1", 0, web_app(runtime), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    runtime.settings = replace(runtime.settings, base_url=url)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield {"browser": browser, "url": url, "contacts": contacts, "engine": engine}
        finally:
            browser.close()
            server.shutdown()


def _sign_in(site: dict[str, Any], name: str, width: str = "desktop") -> Any:
    w, h = WIDTHS[width]
    page = site["browser"].new_context(viewport={"width": w, "height": h}).new_page()
    page.goto(site["url"] + "/console/")
    assert "/console/login" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_an_agency_admin_works_through_the_console(site):
    page = _sign_in(site, "admin")
    assert page.url.endswith("/console/")
    assert page.locator("table.tenants tbody tr").count() == 2
    bars = page.locator("#overview-chart svg rect.bar")
    assert bars.count() == 30
    box = page.locator("#overview-chart svg").bounding_box()
    assert box and box["width"] > 500 and box["height"] > 100  # the chart is drawn at full width

    # switch tenants
    page.select_option("#tenant-switch", "beta")
    page.click("form.switch button")
    page.wait_for_url("**/console/t/beta/")
    page.select_option("#tenant-switch", "alpha")
    page.click("form.switch button")
    page.wait_for_url("**/console/t/alpha/")
    assert page.locator("#revenue-chart svg polyline").count() == 1
    assert page.locator("#revenue-chart svg polyline").bounding_box()["width"] > 100

    # switch a flow on
    page.click("nav.tabs >> text=Flows")
    card = page.locator("#flow-win_back")
    assert card.locator(".badge").get_attribute("data-state") == "off"
    card.locator("button[name=toggle]").click()
    page.wait_for_load_state()
    assert page.locator("#flow-win_back .badge").get_attribute("data-state") == "on"

    # a flow's previews render in a sandboxed frame
    page.goto(site["url"] + "/console/t/alpha/flows/abandoned_cart")
    frame = page.frame_locator("iframe.preview").first
    assert frame.locator("body").inner_text(timeout=10_000).strip()

    # create a campaign from a segment and schedule it
    page.click("nav.tabs >> text=Campaigns")
    assert "segment: loyal_customer" in page.input_value("textarea[name=yaml]")
    page.click("button[name=create]")
    page.wait_for_load_state()
    card = page.locator("#campaign-spring")
    assert card.locator(".badge").get_attribute("data-state") == "draft"
    card.locator("input[name=at]").fill("2026-12-10T10:00")
    card.locator("button[name=schedule]").click()
    page.wait_for_load_state()
    assert page.locator("#campaign-spring .badge").get_attribute("data-state") == "scheduled"
    assert "2026-12-10 09:00 UTC" in page.inner_text("#campaign-spring")  # 10:00 in the shop's zone (Paris)

    # open a contact and erase it
    page.click("nav.tabs >> text=Contacts")
    page.fill("input[name=q]", "marie@")
    page.click("form[role=search] button")
    page.wait_for_load_state()
    assert "jean@example.fr" not in page.inner_text("table.contacts")
    page.click("text=marie@example.fr")
    assert "email_opened" in page.locator(".timeline").last.inner_text()
    page.fill("#erase-confirm", "ERASE")
    page.click("#erase-button")
    page.wait_for_url("**/console/t/alpha/contacts")
    assert "The contact was erased." in page.inner_text("main")
    assert "marie@example.fr" not in page.inner_text("table.contacts")
    assert "jean@example.fr" in page.inner_text("table.contacts")


def test_a_shop_user_is_refused_another_tenant(site):
    page = _sign_in(site, "owner-b")
    assert page.url.endswith("/console/t/beta/")
    assert page.locator("#tenant-switch").count() == 0  # no switcher for a shop's user
    response = page.goto(site["url"] + "/console/t/alpha/")
    assert response.status == 404
    response = page.goto(site["url"] + f"/console/t/alpha/contacts/{site['contacts']['marie']}")
    assert response.status == 404
    assert "marie@example.fr" not in page.content()


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_screenshots_of_each_main_page(site, width):
    page = _sign_in(site, "admin", width)
    pages = {
        "overview": "/console/",
        "dashboard": "/console/t/alpha/",
        "flows": "/console/t/alpha/flows",
        "flow": "/console/t/alpha/flows/abandoned_cart",
        "campaigns": "/console/t/alpha/campaigns",
        "contacts": "/console/t/alpha/contacts",
        "contact": f"/console/t/alpha/contacts/{site['contacts']['jean']}",
        "deliveries": "/console/t/alpha/deliveries",
        "settings": "/console/t/alpha/settings",
    }
    for name, path in pages.items():
        response = page.goto(site["url"] + path)
        assert response.status == 200, path
        # nothing wider than the screen: the page works on a phone without sideways scrolling
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a {width} screen"
        target = ARTIFACTS / f"{name}-{WIDTHS[width][0]}.png"
        page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 5000
    page.goto(site["url"] + "/console/login")  # the login page too (signed out)
    fresh = site["browser"].new_context(viewport=dict(zip(("width", "height"), WIDTHS[width], strict=True))).new_page()
    fresh.goto(site["url"] + "/console/login")
    fresh.screenshot(path=str(ARTIFACTS / f"login-{WIDTHS[width][0]}.png"))
