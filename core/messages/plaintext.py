"""The plain-text part of an email, from its MJML source (or from HTML).

Every HTML email carries a text alternative made from what it shows: headings,
paragraphs and table cells become lines, links become ``text (url)``, images
become their alt text; the head, styles, Outlook-only blocks and hidden
elements (the preheader) are left out.

``mjml_to_text`` reads the rendered MJML source, a few KB, rather than the
final HTML (26 KB of nested tables with inlined CSS, which cost most of a
message's composing time to parse again): MJML components map to what they
become (``mj-button`` a link, ``mj-image`` its alt text and link,
``mj-divider`` a rule), the HTML inside ``mj-text`` is read as HTML, and
``mj-head`` (title, preview, styles) is left out. Links go through the same
``rewrite`` as the HTML's (tracked click links), so both parts point alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "div", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section", "center", "hr"}
    | {"mj-section", "mj-column", "mj-group", "mj-wrapper", "mj-hero", "mj-text", "mj-table", "mj-button"}
    | {"mj-accordion-element", "mj-accordion-title", "mj-accordion-text", "mj-navbar", "mj-social"}
)
_SKIP = frozenset(
    {"head", "style", "script", "title", "mj-head", "mj-style", "mj-title", "mj-preview", "mj-attributes"}
)
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "source", "wbr"}) | {
    "mj-image",
    "mj-divider",
    "mj-spacer",
    "mj-carousel-image",
}
#: MJML components that are links: their ``href`` and their content, like ``<a>``.
_LINKS = frozenset({"a", "mj-button", "mj-social-element", "mj-navbar-link"})
_HIDDEN = re.compile(r"display\s*:\s*none|max-height\s*:\s*0|mso-hide\s*:\s*all", re.IGNORECASE)
_HEAD = re.compile(r"<(mj-)?head\b.*?</(mj-)?head\s*>", re.IGNORECASE | re.DOTALL)
_ATTRIBUTE = re.compile(r"""\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*')""")
_KEPT = frozenset({"href", "alt", "width"})
_SPACES = re.compile(r"[ \t\r\n\f]+")
_WIDTH = re.compile(r"\s*(\d+)")

Rewrite = Callable[[str], "str | None"]


def _wide(width: str | None) -> bool:
    """False for a tracking pixel (width 1 or 0), True when the width is larger or unknown."""
    match = _WIDTH.match(width or "")
    return match is None or int(match.group(1)) > 1


def _web(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(("http://", "https://"))  # type: ignore[union-attr]


def _slim(source: str) -> str:
    """Drop the head and every attribute the text does not need: inlined CSS makes parsing slow."""

    def keep(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name in _KEPT:
            return match.group(0)
        if name == "style" and _HIDDEN.search(match.group(2)):
            return ' data-hidden="1"'
        return ""

    return _ATTRIBUTE.sub(keep, _HEAD.sub("", source))


class _Extractor(HTMLParser):
    def __init__(self, rewrite: Rewrite | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.rewrite = rewrite
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, opened a skipped region)
        self.skipping = 0
        self.links: list[tuple[str | None, int]] = []  # (href, index in parts where the link text starts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in _VOID:
            if self.skipping:
                return
            if tag == "br":
                self.parts.append("\n")
            elif tag in ("hr", "mj-divider"):
                self.parts.append("\n----\n")
            elif tag in ("img", "mj-image", "mj-carousel-image"):
                alt = (attributes.get("alt") or "").strip()
                if alt and _wide(attributes.get("width")):
                    href = attributes.get("href") if tag != "img" else None
                    self.parts.append(f" {alt} ({self._target(href)}) " if _web(href) else f" {alt} ")
            return
        hidden = tag in _SKIP or "data-hidden" in attributes
        self.stack.append((tag, hidden))
        if hidden:
            self.skipping += 1
            return
        if self.skipping:
            return
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        if tag in _LINKS:
            self.links.append((attributes.get("href"), len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # Close up to the matching tag: mail HTML is not always well nested.
        while self.stack:
            open_tag, hidden = self.stack.pop()
            if hidden:
                self.skipping -= 1
            elif not self.skipping:
                self._closed(open_tag)
            if open_tag == tag:
                break

    def _target(self, href: str) -> str:
        if self.rewrite is None:
            return href
        return self.rewrite(href) or href

    def _closed(self, tag: str) -> None:
        if tag in _LINKS and self.links:
            href, start = self.links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if href and href.lower().startswith(("http://", "https://", "mailto:")):
                target = href[7:] if href.lower().startswith("mailto:") else self._target(href)
                if not label:
                    self.parts.append(target)
                elif label != target:
                    self.parts.append(f" ({target})")
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(_SPACES.sub(" ", data))  # a line break in the source is a space, as in HTML


def html_to_text(source: str, rewrite: Rewrite | None = None) -> str:
    """Return the readable text of an HTML email (or of its MJML source), with links spelled out.

    ``rewrite`` turns a link's URL into the one to show (a tracked click link;
    None keeps it).
    """
    extractor = _Extractor(rewrite)
    extractor.feed(_slim(source))
    extractor.close()
    raw = "".join(extractor.parts).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in raw.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text + "\n"


def mjml_to_text(source: str, rewrite: Rewrite | None = None) -> str:
    """Return the plain-text part of an email from its rendered MJML source (see the module's notes)."""
    return html_to_text(source, rewrite)
