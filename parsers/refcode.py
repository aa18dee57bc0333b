"""Brief reference codes (HLH-7K2QX-M): making, checking and leniently reading them."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Set
from dataclasses import dataclass
from random import Random

# Crockford base32 without Z: 31 symbols, and 31 is prime, so every weight 1..6 is
# invertible mod 31. A single wrong symbol at weight w changes the sum by w·d ≠ 0, and a
# swap of neighbours (weights w, w-1) changes it by (a-b) ≠ 0: both are always caught.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY"
BODY_LENGTH = 5
WEIGHTS = (6, 5, 4, 3, 2)  # the check symbol itself has weight 1
DEFAULT_PREFIX = "HLH"
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_MOD = len(ALPHABET)

# Look-alikes people type for symbols the alphabet leaves out.
_FOLD = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SYMBOL = "[0-9A-HJ-NP-TV-Y]"  # the alphabet, as a character class
_LENIENT = "[0-9A-HJ-NP-TV-YOIL]"  # ... plus the folded look-alikes
_SEP = r"[\s\-_.\u2010-\u2015\u2212]{0,3}"  # spaces, dashes (en/em/minus), underscores, dots
_CANONICAL = re.compile(rf"^([A-Z0-9]+)-({_SYMBOL}{{{BODY_LENGTH}}})-({_SYMBOL})$")


@dataclass(frozen=True)
class CodeMatch:
    """One code read from text: canonical form, whether its check holds, where it was."""

    code: str  # canonical, e.g. "HLH-7K2QX-M"
    valid: bool
    start: int  # span in the text as given (before any normalisation)
    end: int
    raw: str  # the text as written, e.g. "hlh 7k2qx m"


def check_symbol(body: str) -> str:
    """The check symbol that makes `body` (5 alphabet symbols) a valid code."""
    if len(body) != BODY_LENGTH or any(ch not in _VALUE for ch in body):
        raise ValueError(f"a code body is {BODY_LENGTH} symbols of {ALPHABET}: {body!r}")
    total = sum(w * _VALUE[ch] for w, ch in zip(WEIGHTS, body, strict=True))
    return ALPHABET[-total % _MOD]


def new_code(prefix: str = DEFAULT_PREFIX, rand: Random | None = None) -> str:
    """A fresh random code; `rand` only for reproducible tests, `secrets` otherwise."""
    choose = rand.choice if rand is not None else secrets.choice
    body = "".join(choose(ALPHABET) for _ in range(BODY_LENGTH))
    return f"{prefix.upper()}-{body}-{check_symbol(body)}"


def _holds(body: str, check: str) -> bool:
    total = sum(w * _VALUE[ch] for w, ch in zip(WEIGHTS, body, strict=True)) + _VALUE[check]
    return total % _MOD == 0


def is_valid(code: str) -> bool:
    """True for a canonical code (`PREFIX-BODY5-C`, upper case) whose check holds."""
    found = _CANONICAL.match(code)
    return bool(found) and _holds(found.group(2), found.group(3))


def _fold_text(text: str) -> tuple[str, list[int] | None]:
    """NFKC + upper case, keeping where each character came from (None: same place)."""
    if text.isascii():
        return text.upper(), None
    out: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        folded = ch if ch.isascii() else unicodedata.normalize("NFKC", ch)
        for piece in folded.upper():
            out.append(piece)
            origin.append(index)
    origin.append(len(text))
    return "".join(out), origin


def _code_pattern(prefix: str) -> re.Pattern[str]:
    body = f"({_LENIENT}{{{BODY_LENGTH}}})"
    # Only Latin letters and digits may not touch a code: "视频HLH-…" is normal Chinese.
    return re.compile(
        rf"(?<![A-Z0-9]){re.escape(prefix.upper())}{_SEP}{body}{_SEP}({_LENIENT})(?![A-Z0-9])"
    )


def find_codes(text: str, prefix: str = DEFAULT_PREFIX) -> list[CodeMatch]:
    """Every code in `text`, read leniently (case, separators, O/0, I/L/1, fullwidth)."""
    if prefix.upper() not in unicodedata.normalize("NFKC", text).upper():
        return []  # the usual case, without folding the text character by character
    folded, origin = _fold_text(text)
    found = []
    for hit in _code_pattern(prefix).finditer(folded):
        body = hit.group(1).translate(_FOLD)
        check = hit.group(2).translate(_FOLD)
        start, end = hit.start(), hit.end()
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        code = f"{prefix.upper()}-{body}-{check}"
        found.append(CodeMatch(code, _holds(body, check), start, end, text[start:end]))
    return found


def read_code(text: str, prefix: str = DEFAULT_PREFIX) -> CodeMatch | None:
    """The code that `text` is, as typed in a code box or a search ("hlh y9xtm 6",
    "HLHY9XTM6"), read as leniently as matching reads mail; None if it is not one code."""
    text = text.strip()
    hits = find_codes(text, prefix)
    if len(hits) == 1 and hits[0].start == 0 and hits[0].end == len(text):
        return hits[0]
    return None


def one_slip_away(code: str) -> list[str]:
    """Every canonical code one substitution or one neighbour swap from `code`: the codes
    someone may have meant when the check symbol fails (look them up among the briefs)."""
    found = _CANONICAL.match(code)
    if not found:
        return []
    prefix, symbols = found.group(1), found.group(2) + found.group(3)
    return [f"{prefix}-{v[:BODY_LENGTH]}-{v[BODY_LENGTH:]}" for v in _variants(symbols)]


def _variants(symbols: str) -> Iterable[str]:
    """Every string one substitution or one swap of neighbours away."""
    for pos, current in enumerate(symbols):
        for other in ALPHABET:
            if other != current:
                yield symbols[:pos] + other + symbols[pos + 1 :]
    for pos in range(len(symbols) - 1):
        a, b = symbols[pos], symbols[pos + 1]
        if a != b:
            yield symbols[:pos] + b + a + symbols[pos + 2 :]


def near_codes(code: str, known: Iterable[str]) -> list[str]:
    """Known codes one substitution or one neighbour swap away from `code` (canonical)."""
    found = _CANONICAL.match(code)
    if not found:
        return []
    prefix, symbols = found.group(1), found.group(2) + found.group(3)
    known_set = known if isinstance(known, Set) else set(known)
    near = []
    for variant in _variants(symbols):
        candidate = f"{prefix}-{variant[:BODY_LENGTH]}-{variant[BODY_LENGTH:]}"
        if candidate in known_set and candidate not in near:
            near.append(candidate)
    return near
