"""The plain-text part of an HTML email, generated from the HTML itself.

Every HTML email carries a text alternative made from what it shows: headings,
paragraphs and table cells become lines, links become ``text (url)``, images
become their alt text; the head, styles, Outlook-only blocks and hidden
elements (the preheader) are left out.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "div", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section", "center", "hr"}
)
_SKIP = frozenset({"head", "style", "script", "title"})
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "source", "wbr"})
_HIDDEN = re.compile(r"display\s*:\s*none|max-height\s*:\s*0|mso-hide\s*:\s*all", re.IGNORECASE)
_HEAD = re.compile(r"<head\b.*?</head\s*>", re.IGNORECASE | re.DOTALL)
_ATTRIBUTE = re.compile(r"""\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*')""")
_KEPT = frozenset({"href", "alt", "width"})


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
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
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
            elif tag == "hr":
                self.parts.append("\n----\n")
            elif tag == "img":
                alt = (attributes.get("alt") or "").strip()
                if alt and int(attributes.get("width") or 2) > 1:
                    self.parts.append(f" {alt} ")
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
        elif tag == "a":
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

    def _closed(self, tag: str) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if href and href.lower().startswith(("http://", "https://", "mailto:")):
                target = href[7:] if href.lower().startswith("mailto:") else href
                if not label:
                    self.parts.append(target)
                elif label != target:
                    self.parts.append(f" ({target})")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(source: str) -> str:
    """Return the readable text of an HTML email, with links spelled out."""
    extractor = _Extractor()
    extractor.feed(_slim(source))
    extractor.close()
    raw = "".join(extractor.parts).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in raw.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text + "\n"
