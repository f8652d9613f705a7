"""Signed links, UTM parameters, SMS encoding and segments, the plain-text part."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from core.messages import links, sms
from core.messages.errors import LinkError
from core.messages.plaintext import html_to_text
from tests.conftest import NOW

SECRET = "test-secret-key-0123456789"
BASE = "https://relance.example"


def token_of(url):
    return url.rsplit("/", 1)[1]


def test_utm_parameters_are_added_and_an_agencys_own_are_kept():
    url = links.add_utm("https://shop.example.com/p/1?color=red&utm_campaign=spring#top", "email", "cross_sell", "1")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert query == {
        "color": ["red"],
        "utm_campaign": ["spring"],
        "utm_source": ["relance"],
        "utm_medium": ["email"],
        "utm_content": ["1"],
    }
    assert parts.fragment == "top" and parts.path == "/p/1"


def test_a_click_link_goes_only_where_it_was_signed():
    url = links.click_url(BASE, SECRET, 3, 42, "https://shop.example.com/cart?utm_source=relance")
    assert links.read_click(SECRET, token_of(url)) == links.Click(
        3, 42, "https://shop.example.com/cart?utm_source=relance"
    )
    forged = token_of(url)[:-2] + ("AA" if not token_of(url).endswith("AA") else "BB")
    with pytest.raises(LinkError):
        links.read_click(SECRET, forged)
    with pytest.raises(LinkError):
        links.read_click("another-secret-key-0123456789", token_of(url))
    # a token signed for another purpose is refused
    unsubscribe = links.unsubscribe_token(SECRET, 3, 7, 42)
    with pytest.raises(LinkError):
        links.read_click(SECRET, unsubscribe)
    with pytest.raises(LinkError):
        links.read_unsubscribe(SECRET, token_of(url))


def test_a_click_token_for_a_non_web_url_is_refused():
    url = links.click_url(BASE, SECRET, 3, 42, "javascript:alert(1)")
    with pytest.raises(LinkError):
        links.read_click(SECRET, token_of(url))


def test_short_sms_links_are_signed():
    url = links.sms_link_url(BASE, SECRET, 3, 42, 0)
    assert len(url) < len(BASE) + 35
    assert links.read_sms_link(SECRET, token_of(url)) == (3, 42, 0)
    for forged in (
        "3-43-0-" + token_of(url).split("-")[3],
        "3-42-1-" + token_of(url).split("-")[3],
        "x",
        "3-42-0-short",
    ):
        with pytest.raises(LinkError):
            links.read_sms_link(SECRET, forged)


def test_a_confirmation_link_expires():
    url = links.confirm_url(BASE, SECRET, 3, 7, 42, NOW)
    assert links.read_confirm(SECRET, token_of(url), NOW + timedelta(days=29)) == links.Recipient(3, 7, 42)
    with pytest.raises(LinkError, match="expired"):
        links.read_confirm(SECRET, token_of(url), NOW + timedelta(days=31))


def test_links_in_html_and_text_are_rewritten_except_non_web_ones():
    html = '<a href="https://a.example/x?a=1&amp;b=2">A</a><a href="mailto:x@y.z">m</a><a href="#top">t</a>'
    seen = []
    out = links.rewrite_html_links(html, lambda url: seen.append(url) or "https://r.example/c?t=1&u=2")
    assert seen == ["https://a.example/x?a=1&b=2"]
    assert 'href="https://r.example/c?t=1&amp;u=2"' in out and 'href="mailto:x@y.z"' in out
    text = links.rewrite_text_links("Voir https://a.example/p/1. Ou (https://b.example)", lambda url: f"<{url}>")
    assert text == "Voir <https://a.example/p/1>. Ou (<https://b.example>)"


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters count twice
        ("€" * 81, "GSM-7", 162, 2),
        ("Répondez vite: é è ù à ñ ü", "GSM-7", 26, 1),
        ("Noël", "UCS-2", 4, 1),  # ë is not in GSM 03.38
        ("ô" * 70, "UCS-2", 70, 1),
        ("ô" * 71, "UCS-2", 71, 2),
        ("ô" * 134, "UCS-2", 134, 2),
        ("ô" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # surrogate pairs: two units each
        ("", "GSM-7", 0, 0),
    ],
)
def test_sms_encoding_and_segments(text, encoding, units, segments):
    assert sms.shape(text) == sms.SmsShape(encoding, units, segments)


def test_an_escape_pair_is_never_split_across_segments():
    # 152 plain characters then a "€": 154 septets, but the pair cannot straddle the 153 boundary.
    assert sms.shape("a" * 152 + "€" + "a" * 10).segments == 2
    # 306 septets would fit two segments if the pair could be cut; it cannot, so three.
    assert sms.shape("a" * 152 + "€" + "a" * 152) == sms.SmsShape("GSM-7", 306, 3)


def test_typographic_characters_become_plain_so_the_sms_stays_gsm7():
    text = sms.plain("L\u2019été \u201cchaud\u201d \u2013 20\u202f% \u2026")
    assert text == 'L\'été "chaud" - 20 % ...' and sms.is_gsm7(text)


def test_the_stop_mention_is_added_once():
    assert sms.with_stop("Promo", "fr") == "Promo\nRépondez STOP pour vous désinscrire"
    assert sms.with_stop("Promo", "de") == "Promo\nReply STOP to opt out"
    assert sms.with_stop("Promo STOP au 36180", "fr") == "Promo STOP au 36180"
    assert sms.with_stop("Promo", "fr", "STOP au 36180") == "Promo\nSTOP au 36180"


def test_plain_text_skips_head_and_hidden_parts_and_spells_out_links():
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        '<div style="display:none">preheader</div><!--[if mso]><p>outlook only</p><![endif]-->'
        "<h1>Bonjour&nbsp;Marie</h1><p>Votre <b>panier</b><br>vous attend.</p>"
        '<table><tr><td><a href="https://s.example/c">Finaliser</a></td>'
        '<td><a href="https://s.example/p"><img src="x.jpg" alt="Théière" width="180"></a></td></tr></table>'
        '<img src="https://r.example/o.gif" width="1" height="1" alt="">'
        '<a href="https://s.example/same">https://s.example/same</a></body></html>'
    )
    text = html_to_text(html)
    assert text == (
        "Bonjour Marie\n\nVotre panier\nvous attend.\n\n"
        "Finaliser (https://s.example/c) Théière (https://s.example/p)\n\nhttps://s.example/same\n"
    )
