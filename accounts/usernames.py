"""What makes two usernames the same, and which characters a username may hold.

`аlice` (Cyrillic а), `ａｌｉｃｅ` (fullwidth) and `alice` look alike; `ㅤ` (the Hangul filler)
looks like nothing at all. A username is stored NFKC-normalized (fullwidth and other
compatibility forms become their plain letters), may not hold an invisible, format, control or
space character, and is refused when its confusable skeleton (Unicode TS #39, from Unicode's
confusables data as packaged by confusable-homoglyphs) equals an existing one's. The skeleton is
kept in `User.username_skeleton` under a unique constraint, so two concurrent registrations
cannot both win.
"""

import functools
import json
import re
import unicodedata
from importlib import resources

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

# Letters, digits and . @ + - _ (Django's UnicodeUsernameValidator), checked after NFKC.
_ALLOWED = re.compile(r"^[\w.@+-]+\Z")
# Unicode's Default_Ignorable_Code_Point characters that are letters (category Lo) and so pass
# `\w`: the Hangul fillers render as blank space. Format (Cf), control (Cc), unassigned (Cn),
# private-use (Co), surrogate (Cs) and separator (Z*) characters are refused by category.
_INVISIBLE_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cn", "Co", "Cs", "Zs", "Zl", "Zp"}

INVALID = "Имя пользователя может содержать только буквы, цифры и символы . @ + - _ ."
INVISIBLE = "Имя пользователя не может содержать невидимые, управляющие или пробельные символы."


def username_normalize(raw: str) -> str:
    """The stored form of a username: NFKC (fullwidth `ａ` → `a`, ligatures split)."""
    return unicodedata.normalize("NFKC", raw)


@deconstructible
class UsernameValidator:
    """Refuses a username (already normalized) holding an invisible, format, control or space
    character, or anything but letters, digits, marks and . @ + - _."""

    def __call__(self, value: str) -> None:
        for char in value:
            if char in _INVISIBLE_LETTERS or unicodedata.category(char) in _REFUSED_CATEGORIES:
                raise ValidationError(INVISIBLE, code="invisible")
        if not _ALLOWED.match(value):
            raise ValidationError(INVALID, code="invalid")

    def __eq__(self, other):
        return isinstance(other, UsernameValidator)


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each character of a confusable class → one representative of it (the smallest code
    point), over the single-character pairs of Unicode's confusables data."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    parent: dict[str, str] = {}

    def find(char: str) -> str:
        while parent.get(char, char) != char:
            parent[char] = parent.get(parent[char], parent[char])
            char = parent[char]
        return char

    for char, entries in data.items():
        for entry in entries:
            other = entry["c"]
            if len(char) == 1 and len(other) == 1:
                a, b = find(char), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {char: find(char) for char in parent}


def username_skeleton(username: str) -> str:
    """The form two look-alike usernames share: TS #39's skeleton over single characters, made
    case-insensitive as usernames are (case-folded first, so `ALICE`, `аlice` and `ａｌｉｃｅ` all
    share `alice`'s). Folding first gives one equivalence, at a price: an uppercase `I` folds to
    `i` before it could be read as `l`."""
    prototypes = _prototypes()

    def mapped(text: str) -> str:
        return "".join(prototypes.get(char, char) for char in unicodedata.normalize("NFD", text.casefold()))

    # Twice: a representative may itself fold to another class (Cyrillic `В` → `в` → `ʙ`).
    return unicodedata.normalize("NFC", mapped(mapped(username_normalize(username))))
