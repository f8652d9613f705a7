"""Benchmark: what reading a tenant with encrypted secrets costs, against the same tenant stored in clear.

    python bench/secrets_tenants.py [--repeat 3] [--reads 2000] [--tenants 50]

Subject: ``core.store.tenants.get_tenant`` and ``list_tenants`` on an engine
with a keyring, the tenants' five secrets each (WooCommerce key and secret,
webhook secret, SMTP password, Twilio token) stored encrypted (Fernet under an
HKDF-derived key). Baseline: the same calls on the same tenants stored in
clear, read by an engine without a keyring (what Relance did before
``0010_secrets``), in the same run, on SQLite files of their own. Subject and
baseline alternate (ABAB) ``--repeat`` times; each measure is the best of 3
passes. Prints µs per ``get_tenant`` and ms per ``list_tenants`` of each, and
min / median / max of the ratio subject / baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from core.secrets import Keyring
from core.sections import validate_tenant
from core.store.db import make_engine, migrate
from core.store.tenants import get_tenant, list_tenants, upsert_tenant, use_keyring

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _raw(index: int) -> dict:
    return {
        "name": f"shop-{index:03d}",
        "platform": "woocommerce",
        "url": f"https://shop-{index}.example.com",
        "credentials": {"consumer_key": f"ck_{index:040d}", "consumer_secret": f"cs_{index:040d}"},
        "webhook_secret": f"whsec-{index:032d}",
        "messages": {
            "transport": {"type": "smtp", "host": "smtp.example.com", "username": "u", "password": f"p{index:20d}"},
            "sms": {
                "provider": "twilio",
                "account_sid": "AC0123456789abcdef0123456789abcdef",
                "auth_token": f"t{index:031d}",
                "from": "+33612345678",
            },
        },
    }


def _engine(path: Path, keyring: Keyring | None, tenants: int) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    if keyring is not None:
        use_keyring(engine, keyring)
    migrate(engine)
    with engine.begin() as conn:
        for index in range(tenants):
            upsert_tenant(conn, validate_tenant(_raw(index)), NOW)
    return engine


def _best(work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sealed = _engine(Path(tmp) / "sealed.db", Keyring("bench-secret-key-0123456789"), args.tenants)
        clear = _engine(Path(tmp) / "clear.db", None, args.tenants)

        def reads(engine: Engine) -> Callable[[], None]:
            def work() -> None:
                with engine.connect() as conn:
                    for index in range(args.reads):
                        get_tenant(conn, f"shop-{index % args.tenants:03d}")

            return work

        def lists(engine: Engine) -> Callable[[], None]:
            def work() -> None:
                with engine.connect() as conn:
                    for _ in range(20):
                        list_tenants(conn)

            return work

        for label, make, unit, scale in (
            ("get_tenant", reads, "µs per call", 1e6 / args.reads),
            (f"list_tenants ({args.tenants} tenants)", lists, "ms per call", 1e3 / 20),
        ):
            ratios, subject, baseline = [], [], []
            for _ in range(args.repeat):
                base = _best(make(clear))
                sub = _best(make(sealed))
                baseline.append(base * scale)
                subject.append(sub * scale)
                ratios.append(sub / base)
            print(
                f"{label}: encrypted {statistics.median(subject):.1f} {unit}, clear {statistics.median(baseline):.1f} "
                f"{unit}; ratio encrypted/clear min {min(ratios):.2f} median {statistics.median(ratios):.2f} "
                f"max {max(ratios):.2f}"
            )
        sealed.dispose()
        clear.dispose()


if __name__ == "__main__":
    main()
