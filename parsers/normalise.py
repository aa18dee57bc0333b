"""Text normalisation for matching in the scripts of the six UN languages."""

from __future__ import annotations

import re
import unicodedata

# Combining marks after a Latin base letter (é → e, ñ → n, ü → u). Cyrillic keeps its
# marks (й stays й); ё is folded to е below, as Russian writers often omit it.
_LATIN_MARKS = re.compile(r"(?<=[a-z])[\u0300-\u036f]+")

_FOLD = str.maketrans(
    {
        "ё": "е",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ʼ": "'",
        "’": "'",
        # Arabic: hamza-carrying alefs → bare alef, alef maksura → ya, ta marbuta → ha
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        # Arabic tatweel and harakat (short vowels, shadda, sukun, dagger alef) go away
        "\u0640": None,
        **{chr(code): None for code in range(0x064B, 0x0660)},
        "\u0670": None,
    }
)

# Reply/forward prefixes in many mail clients and languages, and "[EXTERNAL]"-style tags.
_PREFIX = re.compile(
    r"^\s*(?:"
    r"(?:re|fwd?|tr|aw|wg|rv|sv|vs|antw|rif|r|enc|res|odp|ynt|ref|réf"
    r"|ответ|отв|пересл|回复|回覆|答复|转发|轉發|رد|اعادة توجيه|إعادة توجيه)"
    r"\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*:"
    r"|\[[^\]\d]{1,30}\]"
    r")\s*",
    re.IGNORECASE,
)

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+")
_HAN_RUN = re.compile(rf"[{_HAN}]")
_ARABIC_ARTICLE = re.compile(r"^(?:وال|بال|كال|فال|لل|ال)(?=\w{3})")

# Function words of the six languages (already in normalised form: no accents, folded
# alefs), plus French/English elision leftovers (l', d', qu', s). Not "meaningful".
_STOP_TEXT = (
    # English
    "a an and are as at be by for from in into is it its of on or our the this that to we"
    " with about"
    # French
    " au aux ce ces cette d dans de des du en est et l la le les leur nos notre ou par"
    " pour qu que qui s sur un une avec"
    # Spanish
    " al con del el es los las lo nuestra nuestro o para por su sus una unos unas y"
    # Russian
    " а в во для до за и из к как на не о об от по при с со у что это"
    # Arabic
    " في من علي الي عن و مع هذا هذه ذلك التي الذي او ثم"
    # Chinese (single characters; bigrams holding 的/了 are dropped too)
    " 的 了 和 与 及 在 是"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())
_HAN_STOP_CHARS = frozenset("的了")


def normalise(text: str) -> str:
    """NFKC, casefold, Latin accents and Arabic harakat folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if not text.isascii():
        text = unicodedata.normalize("NFD", text)
        text = _LATIN_MARKS.sub("", text)
        text = unicodedata.normalize("NFC", text).translate(_FOLD)
    return " ".join(text.split())


def strip_prefixes(subject: str) -> str:
    """The subject without any leading Re:/Fwd:/TR:/AW:/回复:/رد: or [TAG] (repeatedly)."""
    subject = unicodedata.normalize("NFKC", subject)
    while True:
        stripped = _PREFIX.sub("", subject, count=1)
        if stripped == subject:
            return subject.strip()
        subject = stripped


def _han_bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokens(text: str) -> list[str]:
    """Normalised words; runs of Han characters become overlapping character bigrams."""
    out: list[str] = []
    for word in _WORD.findall(normalise(text)):
        if _HAN_RUN.match(word):
            out.extend(_han_bigrams(word))
        else:
            out.append(_ARABIC_ARTICLE.sub("", word))
    return out


def is_meaningful(token: str) -> bool:
    """False for function words (and Han bigrams built around 的/了)."""
    if token in STOP_WORDS:
        return False
    return not (len(token) == 2 and _HAN_RUN.match(token) and _HAN_STOP_CHARS & set(token))


def meaningful_tokens(text: str) -> list[str]:
    """tokens(text) without the function words."""
    return [token for token in tokens(text) if is_meaningful(token)]
