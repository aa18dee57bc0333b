"""An in-memory index of briefs: by code, response id, contact, and title words."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from heapq import nlargest

from parsers.features import BriefRecord
from parsers.normalise import meaningful_tokens, tokens
from parsers.refcode import DEFAULT_PREFIX

# Words people add around a title that say nothing about which brief it is ("video",
# "attached", "hello"), in the normalised form tokens() produces. Dropped on both sides.
_FILLER_TEXT = (
    "video videos vid vids clip clips film movie file files attached attachment attachments"
    " here hello hi dear submission part final version draft please thanks thank img mov mp4"
    " fichier fichiers joint jointe voici bonjour salut soumission envoi partie svp merci"
    " archivo archivos adjunto adjunta aqui hola envio parte favor gracias"
    " видео файл вложение здравствуйте привет спасибо часть"
    " فيديو ملف مرفق مرحبا شكرا"
    " 视频 文件 附件 你好 谢谢"
)
FILLER = frozenset(_FILLER_TEXT.split())


def key_tokens(text: str) -> list[str]:
    """Meaningful tokens minus filler, each once, in order of appearance."""
    return list(dict.fromkeys(t for t in meaningful_tokens(text) if t not in FILLER))


@dataclass(frozen=True)
class TitleEntry:
    """A brief's title as matching sees it."""

    brief_id: int
    title: str
    key: tuple[str, ...]  # key_tokens(title), or every token if that is empty
    weights: tuple[float, ...]  # each key token's rarity among titles (idf)
    total: float  # sum(weights)


@dataclass(frozen=True)
class Query:
    """Short text (a subject, a file name) prepared for title scoring."""

    text: str
    key: tuple[str, ...]
    weights: dict[str, float]  # rarity of each key token among titles; 1.0 if on none
    total: float


@dataclass
class Body:
    """Longer text prepared for finding a title mentioned inside it."""

    text: str
    sequence: list[str]  # key tokens in order, with repeats
    positions: dict[str, list[int]] = field(default_factory=dict)


class BriefIndex:
    """Briefs looked up by reference code, response id, contact and title words.

    Brief ids and reference codes must be unique (ValueError otherwise); response ids are
    unique by the survey import. Tokens on more than `common_fraction` of the titles (at
    least `min_common`) are not used to shortlist titles, only to score them.
    """

    def __init__(
        self,
        records: Iterable[BriefRecord],
        prefix: str = DEFAULT_PREFIX,
        *,
        common_fraction: float = 0.01,
        min_common: int = 200,
    ) -> None:
        self.prefix = prefix.upper()
        self._briefs: dict[int, BriefRecord] = {}
        self._by_ref: dict[str, int] = {}
        self._by_response: dict[str, int] = {}
        self._by_contact: dict[str, list[int]] = {}
        self._postings: dict[str, list[int]] = {}
        keys = {record.id: self._add(record) for record in records}
        count = len(self._briefs)
        self._idf = {t: math.log(1 + count / len(ids)) for t, ids in self._postings.items()}
        self._titles = {b: self._entry(self._briefs[b], key) for b, key in keys.items()}
        # A token on more titles than this is too common to shortlist by.
        self.max_df = max(min_common, int(common_fraction * count))

    def _add(self, record: BriefRecord) -> tuple[str, ...]:
        if record.id in self._briefs:
            raise ValueError(f"brief id {record.id} given twice")
        ref = record.ref.strip().upper()
        if ref in self._by_ref:
            raise ValueError(f"reference code {ref} given twice")
        self._briefs[record.id] = record
        self._by_ref[ref] = record.id
        if record.response_id:
            self._by_response[record.response_id.strip().casefold()] = record.id
        for contact in record.emails:
            self._by_contact.setdefault(contact.strip().lower(), []).append(record.id)
        key = tuple(key_tokens(record.title)) or tuple(dict.fromkeys(tokens(record.title)))
        for token in key:
            self._postings.setdefault(token, []).append(record.id)
        return key

    def _entry(self, record: BriefRecord, key: tuple[str, ...]) -> TitleEntry:
        weights = tuple(self._idf[token] for token in key)
        return TitleEntry(record.id, record.title, key, weights, sum(weights))

    def __len__(self) -> int:
        return len(self._briefs)

    def get(self, brief_id: int) -> BriefRecord | None:
        return self._briefs.get(brief_id)

    @property
    def refs(self) -> Set[str]:
        """Every known reference code (canonical), for near_codes()."""
        return self._by_ref.keys()

    def by_ref(self, code: str) -> int | None:
        return self._by_ref.get(code.strip().upper())

    def by_response_id(self, response_id: str) -> int | None:
        return self._by_response.get(response_id.strip().casefold())

    def by_contact(self, contact: str) -> tuple[int, ...]:
        return tuple(self._by_contact.get(contact.strip().lower(), ()))

    def contacts(self, brief_id: int) -> tuple[str, ...]:
        record = self._briefs.get(brief_id)
        return tuple(c.strip().lower() for c in record.emails) if record else ()

    def title_entry(self, brief_id: int) -> TitleEntry:
        return self._titles[brief_id]

    def title_ids(self) -> list[int]:
        return list(self._titles)

    def df(self, token: str) -> int:
        return len(self._postings.get(token, ()))

    def weight(self, token: str) -> float:
        """Inverse document frequency; a word no title has weighs 1 (chatter)."""
        return self._idf.get(token, 1.0)

    def query(self, text: str) -> Query:
        """Key tokens of a subject or file name; unknown tokens with digits are noise."""
        key = [t for t in key_tokens(text) if t in self._idf or not any(c.isdigit() for c in t)]
        weights = {token: self.weight(token) for token in key}
        return Query(text, tuple(key), weights, sum(weights.values()))

    def body(self, text: str) -> Body:
        sequence = [t for t in meaningful_tokens(text) if t not in FILLER]
        positions: dict[str, list[int]] = {}
        for pos, token in enumerate(sequence):
            positions.setdefault(token, []).append(pos)
        return Body(text, sequence, positions)

    def _counts(self, tokens: Iterable[str], budget: int) -> Counter[int]:
        """How many of `tokens` each title holds, rarest tokens first, common ones skipped."""
        ranked = sorted((self.df(t), t) for t in set(tokens) if self.df(t))
        # Only common tokens? Then they must do, rarest first, within the budget.
        usable = [t for df, t in ranked if df <= self.max_df] or [t for _, t in ranked]
        counts: Counter[int] = Counter()
        spent = 0
        for token in usable:
            postings = self._postings[token]
            spent += len(postings)
            if spent > budget and counts:
                break
            counts.update(postings)
        return counts

    def shortlist(self, query: Query, limit: int = 200) -> list[int]:
        """Briefs sharing the most key tokens with a short query."""
        counts = self._counts(query.key, budget=100_000)
        return [brief_id for brief_id, _ in counts.most_common(limit)]

    def body_shortlist(self, body: Body, limit: int = 100) -> list[int]:
        """Briefs with at least half their key tokens somewhere in a longer text."""
        counts = self._counts(body.positions, budget=50_000)
        enough = (
            (count / len(self._titles[b].key), b)
            for b, count in counts.items()
            if 2 * count >= len(self._titles[b].key)
        )
        return [brief_id for _, brief_id in nlargest(limit, enough)]
