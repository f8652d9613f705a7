"""The plain-text part read from the MJML source, and the cheaper link signing: same links, same tokens."""

from __future__ import annotations

from itsdangerous import URLSafeSerializer

from core.messages import links
from core.messages.plaintext import html_to_text, mjml_to_text
from tests.messages.helpers import BASE_URL, SECRET
from tests.messages.test_templates import compose

MJML = """<mjml><mj-head><mj-title>Title</mj-title><mj-preview>Hidden preheader</mj-preview>
<mj-style>a { color: red; }</mj-style></mj-head><mj-body>
<mj-section><mj-column>
  <mj-image src="https://s.example/logo.png" alt="Maison" href="https://s.example/" width="160px" />
  <mj-image src="https://s.example/pixel.gif" alt="pixel" width="1px" />
  <mj-text>Bonjour Marie,<br />
  voici <a href="https://s.example/p/1">le produit</a> &amp; <strong>son prix</strong>.</mj-text>
  <mj-divider />
  <mj-button href="https://s.example/cart">Finaliser</mj-button>
  <mj-text><a href="mailto:aide@s.example">aide@s.example</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"""


def test_mjml_components_become_text_and_links():
    text = mjml_to_text(MJML)
    assert "Hidden preheader" not in text and "Title" not in text and "color" not in text
    assert "Maison (https://s.example/)" in text and "pixel" not in text
    assert "Bonjour Marie,\nvoici le produit (https://s.example/p/1) & son prix." in text
    assert "----" in text and "Finaliser (https://s.example/cart)" in text
    assert "aide@s.example" in text and "mailto" not in text


def test_links_in_the_text_go_through_the_same_rewrite():
    seen = []

    def rewrite(url: str) -> str | None:
        seen.append(url)
        return None if "cart" in url else f"https://t.example/c?u={len(seen)}"

    text = mjml_to_text(MJML, rewrite)
    assert "Finaliser (https://s.example/cart)" in text  # None keeps the link
    assert "le produit (https://t.example/c?u=" in text and "Maison (https://t.example/c?u=" in text


def test_the_text_part_matches_the_html_it_goes_with():
    message = compose("abandoned_cart/1")
    assert message.text == html_to_text(message.html)  # read from the MJML, the same as from the final HTML
    assert "/m/c/" in message.text and "/m/u/" in message.text


def test_click_links_are_signed_once_per_url_and_links_sent_before_still_open():
    target = links.add_utm("https://shop.example.com/p/101", "email", "abandoned_cart", "1")
    url = links.click_url(BASE_URL, SECRET, 1, 42, target)
    token = url.rsplit("/", 1)[1]
    assert links.read_click(SECRET, token).url == target
    assert URLSafeSerializer(SECRET, salt=links.CLICK).loads(token) == [1, 42, target]  # plain itsdangerous reads it
    before = URLSafeSerializer(SECRET, salt=links.CLICK).dumps([1, 42, target])  # compressed, as links used to be
    assert before.startswith(".") and links.read_click(SECRET, before).url == target
    assert links.unsubscribe_token(SECRET, 1, 7, 42) == URLSafeSerializer(SECRET, salt=links.UNSUBSCRIBE).dumps(
        [1, 7, 42]
    )


def test_a_forged_or_foreign_token_is_refused():
    import pytest

    from core.messages.errors import LinkError

    token = links.click_url(BASE_URL, SECRET, 1, 42, "https://a.example/").rsplit("/", 1)[1]
    with pytest.raises(LinkError):
        links.read_click("another-secret-key-0123456789", token)
    with pytest.raises(LinkError):
        links.read_open(SECRET, token)  # a click token is no open token
    with pytest.raises(LinkError):
        links.read_click(SECRET, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_the_mime_email_parses_back_to_the_composed_message():
    from datetime import UTC, datetime
    from email import message_from_bytes, policy

    from core.messages.mime import build_email

    message = compose("abandoned_cart/1")
    long_subject = "Marie, votre panier vous attend — ça c'est long " * 4
    message = type(message)(**{**message.__dict__, "subject": long_subject})
    raw = build_email(message, datetime(2026, 1, 15, 10, 0, tzinfo=UTC)).as_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b"") and max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = message_from_bytes(raw, policy=policy.default)
    assert not parsed.defects and parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == long_subject and parsed["From"].addresses[0].display_name == "Maison Lumière"
    assert parsed["List-Unsubscribe"] == message.headers["List-Unsubscribe"]  # on one line
    assert parsed["Message-ID"] == message.headers["Message-ID"]
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == message.text.strip()
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n").strip() == message.html.strip()


def test_a_line_break_in_a_header_is_refused():
    from datetime import UTC, datetime

    import pytest

    from core.messages.errors import PermanentSendError
    from core.messages.mime import build_email

    message = compose("abandoned_cart/1")
    forged = type(message)(**{**message.__dict__, "sender_name": "Shop\r\nBcc: victim@example.com"})
    with pytest.raises(PermanentSendError, match="line break"):
        build_email(forged, datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
