"""How long composing one email takes, against the bare Jinja render of its template, and where the time goes.

Run: .venv/bin/python bench/messages_compose.py [--rounds 300] [--repeats 3]

Composes the abandoned-cart email (fr, two products, marketing: tracked links,
open pixel, unsubscribe headers) as the sending job does (the tenant's message
settings read once, ``compose_content`` on loaded content): sandboxed Jinja,
MJML to HTML, CSS inlining, signed click links, the plain-text part. The
baseline, measured in the same run and alternated with it (A B A B, each block
``--rounds`` emails), is the Jinja render of the same template alone.

Times are CPU time of this process (``time.process_time``), which the other
load of a shared machine disturbs less than wall time; wall-time figures are
printed too. For each of ``--repeats`` pairs it prints compose ms per email,
baseline ms, the ratio; then min / median / max of compose ms and of the ratio,
and each stage's median so that a regression can be located. The issue's goal:
compose <= 3 ms per email.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mjml import mjml2html  # noqa: E402

from core.messages.compose import MessageDraft, _tracker, compose_content, variables  # noqa: E402
from core.messages.environment import environment  # noqa: E402
from core.messages.links import rewrite_html_links  # noqa: E402
from core.messages.plaintext import html_to_text, mjml_to_text  # noqa: E402
from core.messages.render import _INLINER  # noqa: E402
from core.messages.samples import SAMPLE_TIME, sample_content  # noqa: E402
from core.messages.settings import message_settings  # noqa: E402
from core.sections import validate_tenant  # noqa: E402

BASE = "https://relance.example"
SECRET = "bench-secret-0123456789"


def block(func: Callable[[], object], rounds: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call over ``rounds`` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        func()
    return (time.process_time() - cpu) * 1000 / rounds, (time.perf_counter() - wall) * 1000 / rounds


def spread(values: list[float]) -> str:
    return f"min {min(values):.2f} / median {statistics.median(values):.2f} / max {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = validate_tenant(
        {
            "name": "bench",
            "platform": "woocommerce",
            "url": "https://shop.example.com",
            "locale": "fr_FR",
            "sender": {"name": "Maison", "email": "shop@example.com"},
        }
    )
    settings = message_settings(config)
    draft = MessageDraft(
        1, 1, 7, "abandoned_cart", 1, "email", True, "abandoned_cart/1", {}, "run:1:step:1", SAMPLE_TIME
    )
    content = sample_content(config, "fr")
    env = environment()
    template = env.get_template("fr/abandoned_cart/1.mjml")
    values = variables(config, settings, draft, content, "fr", "fr_FR", {"unsubscribe": BASE + "/m/u/x"})

    def baseline() -> object:
        return template.render(values)

    def full() -> object:
        return compose_content(config, draft, content, BASE, SECRET, settings=settings)

    full()  # warm the caches (template compiled, key derived), as a worker's first message does
    composed, base, ratios, walls = [], [], [], []
    for repeat in range(args.repeats):
        a_cpu, a_wall = block(baseline, args.rounds)
        b_cpu, b_wall = block(full, args.rounds)
        a2_cpu, a2_wall = block(baseline, args.rounds)
        b2_cpu, b2_wall = block(full, args.rounds)
        compose_ms, base_ms = (b_cpu + b2_cpu) / 2, (a_cpu + a2_cpu) / 2
        composed.append(compose_ms)
        base.append(base_ms)
        ratios.append(compose_ms / base_ms)
        walls.append((b_wall + b2_wall) / 2)
        print(
            f"repeat {repeat + 1}: compose {compose_ms:.2f} ms CPU ({walls[-1]:.2f} wall), "
            f"Jinja alone {base_ms:.2f} ms, ratio {ratios[-1]:.1f}x"
        )
    print(f"compose ms per email (CPU): {spread(composed)}   (goal <= 3 ms)")
    print(f"compose ms per email (wall): {spread(walls)}")
    print(f"ratio compose / Jinja render: {spread(ratios)}")
    print(f"-> {1000 / statistics.median(composed):.0f} emails composed per CPU second")

    source = template.render(values)
    html = mjml2html(source)
    inlined = _INLINER.inline(html)
    stages = {
        "jinja": baseline,
        "mjml2html": lambda: mjml2html(source),
        "css inline": lambda: _INLINER.inline(html),
        "tracked links": lambda: rewrite_html_links(inlined, _tracker(BASE, SECRET, draft, "email")),
        "text from MJML": lambda: mjml_to_text(source, _tracker(BASE, SECRET, draft, "email")),
        "(was: text from HTML)": lambda: html_to_text(inlined),
    }
    print("stages, CPU ms per email:")
    for name, func in stages.items():
        print(f"  {name:<22} {block(func, args.rounds)[0]:7.3f}")


if __name__ == "__main__":
    main()
