"""SMS text: encoding (GSM-7 or UCS-2), segments, the STOP mention.

A message made only of GSM 03.38 characters travels as GSM-7: 160 characters
in one SMS, 153 per segment once split (the extension characters ``^{}\\[~]|€``
count twice). Any other character switches the whole message to UCS-2: 70
UTF-16 units in one SMS, 67 per segment. Typographic quotes, dashes and
non-breaking spaces are replaced by their plain equivalents first, so that one
apostrophe does not cost a shop twice the segments.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_PLAIN = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\t": " ",
    }
)

#: The STOP mention added to marketing SMS that carry none, by language.
STOP_TEXT = {"fr": "Répondez STOP pour vous désinscrire", "en": "Reply STOP to opt out"}


@dataclass(frozen=True)
class SmsShape:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def plain(text: str) -> str:
    """Replace typographic characters with their GSM-7 equivalents and trim."""
    return text.translate(_PLAIN).strip()


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def _split(units: list[int], single: int, per_segment: int) -> int:
    """Count segments without cutting a character (an escape pair, a surrogate pair) in two."""
    total = sum(units)
    if total <= single:
        return 1 if total else 0
    segments, used = 1, 0
    for size in units:
        if used + size > per_segment:
            segments += 1
            used = 0
        used += size
    return segments


def shape(text: str) -> SmsShape:
    """The encoding, length in units and number of segments of an SMS text."""
    if is_gsm7(text):
        units = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return SmsShape("GSM-7", sum(units), _split(units, 160, 153))
    units = [2 if ord(char) > 0xFFFF else 1 for char in text]
    return SmsShape("UCS-2", sum(units), _split(units, 70, 67))


def with_stop(text: str, lang: str, stop_text: str | None = None) -> str:
    """Add the STOP mention to a marketing SMS unless it already tells how to stop."""
    if "STOP" in text:
        return text
    mention = stop_text or STOP_TEXT.get(lang, STOP_TEXT["en"])
    return f"{text}\n{mention}"
