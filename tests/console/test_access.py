"""Who may see and change what: sign-in, cookies, CSRF, the login rate limit, and tenant isolation on every route."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.console.store.schema import audit, sessions
from core.store.tenants import get_tenant
from tests.console.conftest import PASSWORD, login_token, seed_contact, sign_in

#: Every GET page of a tenant ({t}: the tenant, {c}: one of its contacts).
TENANT_PAGES = (
    "/console/t/{t}/",
    "/console/t/{t}/flows",
    "/console/t/{t}/flows/abandoned_cart",
    "/console/t/{t}/flows/abandoned_cart/preview/1",
    "/console/t/{t}/campaigns",
    "/console/t/{t}/campaigns/spring/preview",
    "/console/t/{t}/contacts",
    "/console/t/{t}/contacts/{c}",
    "/console/t/{t}/contacts/{c}/export.json",
    "/console/t/{t}/deliveries",
    "/console/t/{t}/settings",
    "/console/t/{t}/settings.yaml",
    "/console/switch?tenant={t}",
)
#: Every change of a tenant, with the form it takes.
TENANT_CHANGES = (
    ("/console/t/{t}/flows/abandoned_cart/toggle", {}),
    ("/console/t/{t}/flows/abandoned_cart", {"yaml": "enabled: true\n"}),
    ("/console/t/{t}/contacts/{c}/erase", {"confirm": "ERASE"}),
    ("/console/t/{t}/deliveries/999999/replay", {}),
    ("/console/t/{t}/campaigns", {"yaml": "name: other\nsegment: loyal_customer\nsubject: Hello\n"}),
    ("/console/t/{t}/campaigns/spring/schedule", {"at": "2026-12-10T10:00"}),
    ("/console/t/{t}/campaigns/spring/test", {"to": "me@example.com"}),
    ("/console/t/{t}/campaigns/spring/cancel", {}),
    ("/console/t/{t}/settings", {"yaml": "name: {t}\n"}),
)
#: Console routes that are not a tenant's (tested on their own below).
OTHER_ROUTES = {
    "/console/",
    "/console/audit",
    "/console/login",
    "/console/logout",
    "/console/lang/<code>",
    "/console/static/<path:filename>",
}


def _urls(stage, tenant, contacts):
    return [page.format(t=tenant, c=contacts[tenant]) for page in TENANT_PAGES]


@pytest.fixture
def contacts(stage):
    from core.campaigns.api import create_campaign

    with stage["engine"].begin() as conn:
        for tenant in (stage["alpha"], stage["beta"]):
            create_campaign(
                conn, tenant, {"name": "spring", "segment": "loyal_customer", "subject": "Hello"}, stage["clock"]()
            )
    return {
        "alpha": seed_contact(stage["engine"], stage["alpha"], "marie@example.fr"),
        "beta": seed_contact(stage["engine"], stage["beta"], "paul@example.com"),
    }


def test_every_console_route_is_covered_by_the_access_tests(stage):
    routes = {rule.rule for rule in stage["app"].url_map.iter_rules() if rule.endpoint.startswith("console.")}
    covered = {p.split("?")[0] for p in TENANT_PAGES} | {p for p, _ in TENANT_CHANGES} | OTHER_ROUTES
    normalised = {
        r.replace("<tenant>", "{t}").replace("<int:contact_id>", "{c}").replace("<flow>", "abandoned_cart")
        .replace("<int:step>", "1").replace("<int:delivery_id>", "999999").replace("<name>", "spring")
        for r in routes
    }  # fmt: skip
    assert normalised <= covered, f"routes without an access test: {sorted(normalised - covered)}"


def test_signed_out_every_page_redirects_to_the_login_and_every_change_is_refused(stage, contacts):
    client = stage["app"].test_client()
    for url in [*_urls(stage, "alpha", contacts), "/console/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/console/login" in response.headers["Location"]
    for url, form in TENANT_CHANGES:
        response = client.post(url.format(t="alpha", c=contacts["alpha"]), data=form)
        assert response.status_code in (400, 401), url


@pytest.mark.parametrize("name", ["owner-a", "viewer-a"])
def test_a_shop_user_sees_their_tenant_and_never_another(stage, contacts, name):
    client = sign_in(stage["app"], name)
    for url in _urls(stage, "alpha", contacts):
        # a viewer sees a contact's profile but may not take their data away (the export is an owner's act)
        expected = (403,) if name == "viewer-a" and url.endswith("export.json") else (200, 302)
        assert client.get(url).status_code in expected, url
    for url in _urls(stage, "beta", contacts):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"paul@example.com" not in response.data
    # another tenant's contact id under their own tenant's name is not found either
    assert client.get(f"/console/t/alpha/contacts/{contacts['beta']}").status_code == 404
    assert client.get(f"/console/t/alpha/contacts/{contacts['beta']}/export.json").status_code in (403, 404)
    # the agency overview is not theirs: they land on their own dashboard
    response = client.get("/console/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/t/alpha/")


def test_a_shop_user_changes_nothing_of_another_tenant(stage, contacts):
    client = sign_in(stage["app"], "owner-a")
    before = _tenant_config(stage, "beta")
    for url, form in TENANT_CHANGES:
        body = {k: v.format(t="beta") for k, v in form.items()} | {"csrf_token": client.csrf}
        response = client.post(url.format(t="beta", c=contacts["beta"]), data=body)
        assert response.status_code == 404, url
    assert client.post(f"/console/t/alpha/contacts/{contacts['beta']}/erase", data={"confirm": "ERASE", "csrf_token": client.csrf}).status_code == 404  # fmt: skip
    assert _tenant_config(stage, "beta") == before
    with stage["engine"].connect() as conn:
        from core.store.schema import contacts as table

        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 2


def test_a_search_never_reaches_another_tenant(stage, contacts):
    client = sign_in(stage["app"], "viewer-a")
    mine = client.post("/console/t/alpha/contacts", data={"q": "example", "csrf_token": client.csrf})
    assert mine.status_code == 200
    assert b"marie@example.fr" in mine.data and b"paul@example.com" not in mine.data
    other = client.post("/console/t/beta/contacts", data={"q": "example", "csrf_token": client.csrf})
    assert other.status_code == 404 and b"paul@example.com" not in other.data


def test_a_viewer_sees_but_changes_nothing(stage, contacts):
    client = sign_in(stage["app"], "viewer-a")
    before = _tenant_config(stage, "alpha")
    for url, form in TENANT_CHANGES:
        body = {k: v.format(t="alpha") for k, v in form.items()} | {"csrf_token": client.csrf}
        assert client.post(url.format(t="alpha", c=contacts["alpha"]), data=body).status_code == 403, url
    assert client.get(f"/console/t/alpha/contacts/{contacts['alpha']}/export.json").status_code == 403
    assert _tenant_config(stage, "alpha") == before


def test_the_whole_audit_log_is_for_agency_admins_only(stage, contacts):
    admin = sign_in(stage["app"], "admin")
    sign_in(stage["app"], "owner-b")
    page = admin.get("/console/audit").get_data(as_text=True)
    assert "owner-b" in page and "login" in page
    for name in ("owner-a", "viewer-a"):
        assert sign_in(stage["app"], name).get("/console/audit").status_code == 404
    assert stage["app"].test_client().get("/console/audit").status_code == 302


def test_an_agency_admin_sees_every_tenant(stage, contacts):
    client = sign_in(stage["app"], "admin")
    overview = client.get("/console/").get_data(as_text=True)
    assert "alpha" in overview and "beta" in overview and "<svg" in overview
    for tenant in ("alpha", "beta"):
        for url in _urls(stage, tenant, contacts):
            assert client.get(url).status_code in (200, 302), url
    assert client.get("/console/switch?tenant=beta").headers["Location"].endswith("/console/t/beta/")
    assert client.get("/console/t/nosuch/").status_code == 404


def test_every_form_needs_the_session_csrf_token(stage, contacts):
    client = sign_in(stage["app"], "owner-a")
    before = _tenant_config(stage, "alpha")
    for url, form in TENANT_CHANGES:
        target = url.format(t="alpha", c=contacts["alpha"])
        assert client.post(target, data=form).status_code == 400, url
        assert client.post(target, data={**form, "csrf_token": "forged"}).status_code == 400, url
    other = sign_in(stage["app"], "admin")  # another session's token is not this one's
    assert (
        client.post("/console/t/alpha/flows/abandoned_cart/toggle", data={"csrf_token": other.csrf}).status_code == 400
    )
    assert client.post("/console/logout", data={}).status_code == 400
    assert _tenant_config(stage, "alpha") == before


def test_the_login_form_needs_its_token(stage):
    client = stage["app"].test_client()
    client.get("/console/login")
    response = client.post("/console/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400


def test_the_session_cookie_is_httponly_samesite_and_scoped(stage):
    client = stage["app"].test_client()
    response = client.post(
        "/console/login", data={"username": "admin", "password": PASSWORD, "csrf_token": login_token(client)}
    )
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("relance_console="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http in the test; https below
    with stage["engine"].connect() as conn:
        stored = conn.execute(select(sessions.c.token_hash)).scalars().all()
    token = cookie.split(";")[0].split("=", 1)[1]
    assert stored and token not in stored  # only its hash is kept


def test_the_cookie_is_secure_over_https(stage):
    client = stage["app"].test_client()
    token = csrf = None
    page = client.get("/console/login", base_url="https://relance.test")
    from tests.console.conftest import csrf_of

    csrf = csrf_of(page.get_data(as_text=True))
    response = client.post(
        "/console/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf},
        base_url="https://relance.test",
    )
    token = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("relance_console="))
    assert "Secure" in token


def test_wrong_passwords_are_refused_logged_and_rate_limited(stage):
    client = stage["app"].test_client()
    for _ in range(5):
        response = client.post(
            "/console/login",
            data={"username": "admin", "password": "wrong password!", "csrf_token": login_token(client)},
        )
        assert response.status_code == 401
        assert b"Wrong user name or password" in response.data
    response = client.post(
        "/console/login", data={"username": "admin", "password": PASSWORD, "csrf_token": login_token(client)}
    )
    assert response.status_code == 429  # even the right password, until the window passes
    with stage["engine"].connect() as conn:
        failed = conn.execute(
            select(func.count()).select_from(audit).where(audit.c.action == "login_failed")
        ).scalar_one()
    assert failed == 5
    stage["clock"].now += timedelta(minutes=16)
    assert sign_in(stage["app"], "admin")


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(stage):
    client = stage["app"].test_client()
    response = client.post(
        "/console/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": login_token(client)}
    )
    assert response.status_code == 401 and b"Wrong user name or password" in response.data


def test_logout_ends_the_session(stage):
    client = sign_in(stage["app"], "admin")
    assert client.post("/console/logout", data={"csrf_token": client.csrf}).status_code == 302
    assert client.get("/console/").status_code == 302
    with stage["engine"].connect() as conn:
        assert conn.execute(select(func.count()).select_from(sessions)).scalar_one() == 0


def test_a_session_expires_when_idle(stage):
    client = sign_in(stage["app"], "admin")
    stage["clock"].now += timedelta(hours=9)
    assert client.get("/console/").status_code == 302


def test_the_next_parameter_never_leaves_the_console(stage):
    client = stage["app"].test_client()
    response = client.post(
        "/console/login?next=//evil.example/x",
        data={"username": "admin", "password": PASSWORD, "csrf_token": login_token(client)},
    )
    assert response.headers["Location"] == "/console/"


def test_pages_are_served_with_a_strict_content_security_policy(stage):
    client = sign_in(stage["app"], "admin")
    response = client.get("/console/t/alpha/flows")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    preview = client.get("/console/t/alpha/flows/abandoned_cart/preview/1")
    assert preview.headers["Content-Security-Policy"].startswith("sandbox")


def test_errors_get_the_consoles_own_page_in_the_users_language(stage):
    client = sign_in(stage["app"], "owner-a")
    missing = client.get("/console/t/beta/")
    assert missing.status_code == 404 and b"Not found." in missing.data and b'href="/console/"' in missing.data
    forged = client.post("/console/t/alpha/flows/win_back/toggle", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and b"This form has expired" in forged.data
    viewer = sign_in(stage["app"], "viewer-a")
    refused = viewer.post("/console/t/alpha/flows/win_back/toggle", data={"csrf_token": viewer.csrf})
    assert refused.status_code == 403 and b"Read-only access" in refused.data
    viewer.get("/console/lang/fr")
    assert "Introuvable." in viewer.get("/console/t/beta/").get_data(as_text=True)


def test_the_pages_speak_french(stage):
    client = sign_in(stage["app"], "admin")
    client.get("/console/lang/fr")
    assert "Vue d'ensemble" in client.get("/console/").get_data(as_text=True).replace("&#39;", "'")
    english = stage["app"].test_client()
    assert b"Sign in" in english.get("/console/login").data
    french = stage["app"].test_client()
    assert b"Connexion" in french.get("/console/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).data


def _tenant_config(stage, name):
    with stage["engine"].connect() as conn:
        return get_tenant(conn, name).config.to_dict()
