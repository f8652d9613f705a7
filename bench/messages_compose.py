"""How long composing one email takes, and where the time goes.

Run: /tmp/venv/bin/python bench/messages_compose.py [--rounds N]

Composes the abandoned-cart email (fr, two products) again and again: the
full path (sandboxed Jinja, MJML to HTML, CSS inlining, tracked links,
plain-text part) against a baseline measured in the same run, the Jinja
render of the same template alone. Prints medians (ms per email) and the
ratio, then each stage's median so a regression can be located.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mjml import mjml2html  # noqa: E402

from core.messages import links  # noqa: E402
from core.messages.compose import MessageDraft, compose_content, variables  # noqa: E402
from core.messages.environment import environment  # noqa: E402
from core.messages.plaintext import html_to_text  # noqa: E402
from core.messages.render import _INLINER  # noqa: E402
from core.messages.samples import SAMPLE_TIME, sample_content  # noqa: E402
from core.messages.settings import message_settings  # noqa: E402
from core.sections import validate_tenant  # noqa: E402

BASE = "https://relance.example"
SECRET = "bench-secret-0123456789"


def timed(func, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds
    config = validate_tenant(
        {
            "name": "bench",
            "platform": "woocommerce",
            "url": "https://shop.example.com",
            "locale": "fr_FR",
            "sender": {"name": "Maison", "email": "shop@example.com"},
        }
    )
    draft = MessageDraft(
        1, 1, 7, "abandoned_cart", 1, "email", True, "abandoned_cart/1", {}, "run:1:step:1", SAMPLE_TIME
    )
    content = sample_content(config, "fr")
    env = environment()
    template = env.get_template("fr/abandoned_cart/1.mjml")
    values = variables(
        config, message_settings(config), draft, content, "fr", "fr_FR", {"unsubscribe": BASE + "/m/u/x"}
    )
    compose_content(config, draft, content, BASE, SECRET)  # warm the template cache

    baseline = timed(lambda: template.render(values), rounds)
    full = timed(lambda: compose_content(config, draft, content, BASE, SECRET), rounds)
    source = template.render(values)
    html = mjml2html(source)
    inlined = _INLINER.inline(html)
    stages = {
        "jinja (baseline)": baseline,
        "mjml2html": timed(lambda: mjml2html(source), rounds),
        "css inline": timed(lambda: _INLINER.inline(html), rounds),
        "tracked links": timed(
            lambda: links.rewrite_html_links(inlined, lambda u: links.click_url(BASE, SECRET, 1, 1, u)), rounds
        ),
        "plain text": timed(lambda: html_to_text(inlined), rounds),
    }
    print(f"compose one email, median of {rounds}: {full:.2f} ms; baseline (Jinja render alone): {baseline:.2f} ms")
    print(f"ratio full / baseline: {full / baseline:.1f}x  -> {1000 / full:.0f} emails per second per core")
    for name, value in stages.items():
        print(f"  {name:<18} {value:7.2f} ms")


if __name__ == "__main__":
    main()
