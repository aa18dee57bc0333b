"""Title similarity: how well a subject, a file name or a text names a brief's title."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from parsers.features import Features
from parsers.index import Body, BriefIndex, Query, TitleEntry
from parsers.normalise import strip_prefixes

# fuzz.ratio at which two words count as one word misspelt or inflected, by the length of
# the title's word: longer words tolerate more (library/libraries 75, club/clubs 89).
# Words shorter than 4 letters, on either side, must match exactly.
FUZZY_CUTOFF = ((4, 85.0), (5, 80.0), (6, 75.0))
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2}")
BETA = 2.0  # title coverage (recall) weighs BETA² times what the query's coverage weighs


def _fuzzy_cutoff(length: int) -> float | None:
    cutoff = None
    for min_length, score in FUZZY_CUTOFF:
        if length >= min_length:
            cutoff = score
    return cutoff


Best = dict[int, tuple[float, str]]  # brief id → (score, evidence)


class Words:
    """The words of a text, each title word aligned to its best counterpart among them:
    itself, else a close misspelling or inflection (memoised)."""

    def __init__(self, words: Iterable[str]) -> None:
        ordered = list(dict.fromkeys(words))  # a set's order would make ties random
        self.exact = set(ordered)
        self._pool = [w for w in ordered if len(w) >= FUZZY_CUTOFF[0][0]]  # short: exact only
        self._similar: dict[str, tuple[float, str | None]] = {}

    def align(self, token: str) -> tuple[float, str | None]:
        if token in self.exact:
            return 1.0, token
        found = self._similar.get(token)
        if found is None:
            cutoff = _fuzzy_cutoff(len(token))
            hit = None
            if cutoff is not None and self._pool:
                hit = process.extractOne(token, self._pool, scorer=fuzz.ratio, score_cutoff=cutoff)
            found = self._similar[token] = (hit[1] / 100, hit[0]) if hit else (0.0, None)
        return found


def _f_beta(precision: float, recall: float) -> float:
    if not precision or not recall:
        return 0.0
    b2 = BETA * BETA
    return (1 + b2) * precision * recall / (b2 * precision + recall)


def score_query(query: Query, entry: TitleEntry, words: Words | None = None) -> float:
    """How well a short text names this title, in [0, 1].

    Weighted F-score of words shared, weights being the words' rarity among titles: a
    one-word subject covers little of a long title (no subset effect), and a short title
    covers little of a subject that names other title words.
    """
    words = words or Words(query.key)
    exact = words.exact
    used: dict[str, float] = {}
    got = 0.0
    for token, weight in zip(entry.key, entry.weights, strict=True):
        if token in exact:  # the usual case, inline
            got += weight
            used[token] = 1.0
            continue
        similarity, counterpart = words.align(token)
        if counterpart is not None:
            got += weight * similarity
            used[counterpart] = max(used.get(counterpart, 0.0), similarity)
    if not got:
        return 0.0
    precision = sum(query.weights[t] * s for t, s in used.items()) / query.total
    return _f_beta(precision, got / entry.total)


def _best_window(
    weights: list[float], events: list[tuple[int, int]], span: int
) -> tuple[float, int, int]:
    """Largest weight of distinct title words within `span` consecutive body words, and
    where that window starts and ends."""
    counts = [0] * len(weights)
    best = (0.0, 0, 0)
    total = 0.0
    left = 0
    for pos, i in events:
        counts[i] += 1
        total += weights[i] if counts[i] == 1 else 0.0
        while pos - events[left][0] >= span:
            j = events[left][1]
            counts[j] -= 1
            total -= weights[j] if counts[j] == 0 else 0.0
            left += 1
        if total > best[0]:
            best = (total, events[left][0], pos)
    return best


def score_body(body: Body, entry: TitleEntry, words: Words) -> tuple[float, list[str]]:
    """Share of the title's (weighted) words found close together in a longer text, and
    those words."""
    weights = list(entry.weights)
    events = []
    for i, token in enumerate(entry.key):
        similarity, counterpart = words.align(token)
        if counterpart is not None:
            weights[i] *= similarity
            events.extend((pos, i) for pos in body.positions[counterpart][:20])
    if not events:
        return 0.0, []
    events.sort()
    span = len(entry.key) + max(2, len(entry.key) // 2)
    found, first, last = _best_window(weights, events, span)
    return found / entry.total, body.sequence[first : last + 1]


def _short_texts(
    features: Features, index: BriefIndex, short_text: int
) -> Iterator[tuple[str, Query]]:
    yield "subject", index.query(strip_prefixes(features.subject))
    for name in features.filenames:
        yield "file", index.query(name.rsplit(".", 1)[0] if "." in name else name)
    query = index.query(features.text)
    if len(query.key) <= short_text:  # a chat caption or a one-line body reads like a subject
        yield "text", query


def _readable(words: list[str]) -> str:
    """Body words for evidence, with overlapping Han bigrams joined back into one run."""
    out = ""
    for word in words:
        if out and len(word) == 2 and out[-1] == word[0] and _HAN.match(word):
            out += word[1]
        else:
            out += (" " if out else "") + word
    return out


def _keep(best: Best, brief_id: int, score: float, why: str) -> None:
    if score > best.get(brief_id, (0.0, ""))[0]:
        best[brief_id] = (score, why)


@dataclass(frozen=True)
class TitleScan:
    """How title_scores reads an item."""

    short_text: int = 12  # a text of at most this many words is read like a subject
    body_chars: int = 4000  # only the start of a longer text is searched for titles
    min_body_words: int = 2  # a shorter title found inside a longer text stays a hint …
    short_title_cap: float = 0.6  # … scoring at most this


def _ids(
    index: BriefIndex,
    only: Iterable[int] | None,
    exhaustive: bool,
    shortlist: Callable[[], list[int]],
) -> Iterable[int]:
    if only is not None:
        return only
    return index.title_ids() if exhaustive else shortlist()


def _score_queries(
    features: Features,
    index: BriefIndex,
    best: Best,
    only: Iterable[int] | None,
    exhaustive: bool,
    scan: TitleScan,
) -> None:
    for source, query in _short_texts(features, index, scan.short_text):
        if not query.key:
            continue
        words = Words(query.key)
        why = f"{source} “{' '.join(query.text.split())[:120]}”"
        for brief_id in _ids(index, only, exhaustive, lambda q=query: index.shortlist(q)):
            score = score_query(query, index.title_entry(brief_id), words)
            _keep(best, brief_id, score, why)


def _score_body(
    features: Features,
    index: BriefIndex,
    best: Best,
    only: Iterable[int] | None,
    exhaustive: bool,
    scan: TitleScan,
) -> None:
    body = index.body(features.text[: scan.body_chars])
    if len(body.positions) <= scan.short_text:
        return
    words = Words(body.positions)
    for brief_id in _ids(index, only, exhaustive, lambda: index.body_shortlist(body)):
        entry = index.title_entry(brief_id)
        score, found = score_body(body, entry, words)
        if len(entry.key) < scan.min_body_words:  # "water" inside a long text proves little
            score = min(score, scan.short_title_cap)
        _keep(best, brief_id, score, f"text “…{_readable(found)}…”")


def title_scores(
    features: Features,
    index: BriefIndex,
    *,
    only: Iterable[int] | None = None,
    exhaustive: bool = False,
    scan: TitleScan = TitleScan(),
) -> Best:
    """Best title score per brief over subject, file names and text, with its evidence.

    Scores the shortlisted briefs, or `only` these, or every brief when `exhaustive`
    (for benchmarks).
    """
    best: Best = {}
    _score_queries(features, index, best, only, exhaustive, scan)
    _score_body(features, index, best, only, exhaustive, scan)
    return best
