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
