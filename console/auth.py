"""Signing in and out, the session cookie, CSRF on every form, the login rate limit, tenant access.

- The cookie holds a random token (HttpOnly, SameSite=Lax, Secure over
  https, path /console); the database holds its SHA-256 and the session's
  CSRF token (``core.console.store.sessions``).
- Every POST carries ``csrf_token``: the session's token, or before sign-in a
  token bound to a random pre-login cookie. A missing or wrong one is refused
  (400) before anything is read or changed.
- Failed sign-ins are recorded in the audit log; 5 for one user name or 20 from
  one address within 15 minutes refuse further tries (429) until the window passes.
- A tenant's pages answer 404 to a user of another tenant (as for a tenant that
  does not exist); a viewer gets 403 on every change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Response, abort, g, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from console.blueprint import bp
from console.context import runtime
from console.i18n import LANGS, t
from core.console.accounts import User, dummy_hash, needs_rehash, verify_password
from core.console.store import audit as audit_store
from core.console.store.sessions import IDLE, create_session, end_session, get_session
from core.console.store.users import get_credentials, update_hash
from core.errors import NotFoundError
from core.store.tenants import Tenant, get_tenant

COOKIE = "relance_console"
PRE_COOKIE = "relance_console_pre"
#: Failed sign-ins allowed per user name, and per address, within WINDOW_MINUTES.
MAX_FAILED_PER_NAME = 5
MAX_FAILED_PER_ADDRESS = 20
WINDOW_MINUTES = 15
OPEN_ENDPOINTS = frozenset({"console.login", "console.static", "console.language"})


def _secure() -> bool:
    return request.is_secure or runtime().settings.base_url.startswith("https://")


def _set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="Lax", secure=_secure())


def _address() -> str:
    return request.remote_addr or "unknown"


@bp.before_request
def _load_session() -> Any:
    g.user = None
    g.csrf = None
    if request.endpoint == "console.static":
        return None
    token = request.cookies.get(COOKIE, "")
    if token:
        rt = runtime()
        with rt.engine.begin() as conn:
            session = get_session(conn, token, rt.clock())
        if session is not None:
            g.user, g.csrf = session.user, session.csrf_token
    if request.method == "POST" and request.endpoint != "console.login" and not _csrf_ok():
        abort(400, t("csrf_failed"))
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        abort(401)
    return None


@bp.errorhandler(400)
@bp.errorhandler(401)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(413)
def _error_page(exc: HTTPException) -> Any:
    """The console's own error page, in the user's language (the reason given to ``abort`` when there is one)."""
    code = exc.code or 500
    default = {400: "bad_request", 401: "login", 403: "read_only", 404: "not_found", 413: "too_large"}[code]
    message = exc.description if exc.description and exc.description != type(exc).description else t(default)
    return render_template("console/error.html", code=code, message=message), code


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    return response


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    expected = g.csrf or ""
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _pre_token(pre: str) -> str:
    key = runtime().settings.secret_key.encode()
    return hmac.new(key, b"console-login:" + pre.encode(), hashlib.sha256).hexdigest()


def current_user() -> User:
    """The signed-in user (every page but the login page has one)."""
    user = g.user
    if user is None:  # pragma: no cover - _load_session redirects first
        abort(401)
    return user


def tenant_for(name: str, change: bool = False) -> Tenant:
    """The tenant called ``name`` if the signed-in user may see it (and change it when ``change``).

    404 for a tenant the user may not see (whether it exists or not); 403 for a
    change the user's role does not allow.
    """
    user = current_user()
    try:
        with runtime().engine.connect() as conn:
            tenant = get_tenant(conn, name)
    except NotFoundError:
        abort(404)
    if not user.can_see(tenant.id):
        abort(404)
    if change and not user.can_change(tenant.id):
        abort(403, t("read_only"))
    return tenant


def record(action: str, tenant_id: int | None = None, **detail: Any) -> None:
    """Write an audit entry for the signed-in user."""
    rt = runtime()
    with rt.engine.begin() as conn:
        audit_store.record(conn, rt.clock(), current_user().name, action, tenant_id, **detail)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return url_for("console.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    rt = runtime()
    error, status = None, 200
    pre = request.cookies.get(PRE_COOKIE, "")
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not pre or not hmac.compare_digest(sent.encode(), _pre_token(pre).encode()):
            abort(400, t("csrf_failed"))
        name = (request.form.get("username") or "").strip().lower()[:100]
        password = request.form.get("password") or ""
        now = rt.clock()
        since = audit_store.login_window(now, WINDOW_MINUTES)
        with rt.engine.begin() as conn:
            by_name, by_address = audit_store.failed_logins(conn, name, _address(), since)
            if by_name >= MAX_FAILED_PER_NAME or by_address >= MAX_FAILED_PER_ADDRESS:
                error, status = t("login_limited"), 429
            else:
                found = get_credentials(conn, name) if name else None
                ok = verify_password(found[1] if found else dummy_hash(), password) and found is not None
                if not ok:
                    audit_store.record(conn, now, name or "-", audit_store.LOGIN_FAILED, address=_address())
                    error, status = t("login_failed"), 401
        if error is None and found is not None:
            user, stored = found
            with rt.engine.begin() as conn:
                if needs_rehash(stored):
                    from core.console.accounts import hash_password

                    update_hash(conn, user.id, hash_password(password), now)
                token, _ = create_session(conn, user.id, now)
                audit_store.record(conn, now, user.name, "login", user.tenant_id, address=_address())
            response = redirect(_safe_next(request.args.get("next")))
            _set_cookie(response, COOKIE, token, int(IDLE.total_seconds()))
            response.delete_cookie(PRE_COOKIE, path="/console")
            return response
    if not pre:
        pre = secrets.token_urlsafe(24)
    response = make_response(render_template("console/login.html", error=error, csrf=_pre_token(pre)), status)
    _set_cookie(response, PRE_COOKIE, pre, 3600)
    return response


@bp.post("/logout")
def logout() -> Any:
    rt = runtime()
    with rt.engine.begin() as conn:
        end_session(conn, request.cookies.get(COOKIE, ""))
        audit_store.record(conn, rt.clock(), current_user().name, "logout", current_user().tenant_id)
    response = redirect(url_for("console.login"))
    response.delete_cookie(COOKIE, path="/console")
    return response


@bp.get("/lang/<code>")
def language(code: str) -> Any:
    if code not in LANGS:
        abort(404)
    response = redirect(_safe_next(request.args.get("next")))
    response.set_cookie("lang", code, max_age=365 * 86400, path="/console", samesite="Lax", secure=_secure())
    return response
