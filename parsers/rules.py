"""The matching rules: small pure functions from an item's features to candidates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from parsers.features import Candidate, Features
from parsers.index import BriefIndex
from parsers.normalise import normalise, strip_prefixes
from parsers.refcode import find_codes, near_codes
from parsers.titles import title_scores

# Matched against normalise()d text (casefolded, accents and ta marbuta folded), so the
# keywords are written folded too. The brief's response id is the named group "id".
DEFAULT_RESPONSE_PATTERN = (
    r"(?:(?<!\w)(?:survey\s+)?(?:response|reponse|respuesta|ответа?|анкеты?|استجابه|الاستجابه"
    r"|الرد)|回复|回覆|回應|答卷)"  # Chinese has no spaces, so no word boundary before it
    r"(?:\s*(?:id|n\.?\s*[o°]|no|number|numero|num|nr|номер|编号|号|رقم|[#:.°-]))*"
    r"\s*(?P<id>\d{2,12}|r_[a-z0-9]{8,20})(?!\w)"
)


def _first_per_brief(candidates: Iterable[Candidate]) -> list[Candidate]:
    seen: set[tuple[int, str]] = set()
    kept = []
    for candidate in candidates:
        if (candidate.brief_id, candidate.rule) not in seen:
            seen.add((candidate.brief_id, candidate.rule))
            kept.append(candidate)
    return kept


def _code_sources(features: Features) -> Iterator[tuple[str, str]]:
    yield "subject", features.subject
    yield "text", features.text
    for name in features.filenames:
        yield "filename", name
    if features.start_payload:
        yield "start", features.start_payload


def reference_code(
    features: Features, index: BriefIndex, *, typo_confidence: float = 0.5
) -> list[Candidate]:
    """A code whose check holds names its brief; a broken one suggests its near codes."""
    found = []
    for source, text in _code_sources(features):
        for hit in find_codes(text, index.prefix):
            brief_id = index.by_ref(hit.code) if hit.valid else None
            if brief_id is not None:
                found.append(Candidate(brief_id, 1.0, "reference_code", f"{source}: {hit.raw}"))
                continue
            for near in [] if hit.valid else near_codes(hit.code, index.refs):
                evidence = f"{source}: {hit.raw} (check fails; {near} is one slip away)"
                found.append(
                    Candidate(index.by_ref(near), typo_confidence, "reference_code_typo", evidence)
                )
    return _first_per_brief(found)


def response_id(
    features: Features, index: BriefIndex, *, pattern: str = DEFAULT_RESPONSE_PATTERN
) -> list[Candidate]:
    """A "response 1234"-style mention of a survey response id we know."""
    compiled = re.compile(pattern)
    found = []
    for source, text in (("subject", strip_prefixes(features.subject)), ("text", features.text)):
        for hit in compiled.finditer(normalise(text)):
            brief_id = index.by_response_id(hit.group("id"))
            if brief_id is not None:
                found.append(Candidate(brief_id, 1.0, "response_id", f"{source}: {hit.group(0)}"))
    return _first_per_brief(found)


def _pick_by_title(
    features: Features, index: BriefIndex, briefs: tuple[int, ...], least: float, margin: float
) -> tuple[int | None, str]:
    """The one brief among the sender's whose title the item clearly names, if any."""
    scores = title_scores(features, index, only=briefs)
    ranked = sorted(((score, b) for b, (score, _) in scores.items()), reverse=True)
    ranked += [(0.0, None), (0.0, None)]
    (best, brief_id), (runner_up, _) = ranked[0], ranked[1]
    if best >= least and best - runner_up >= margin:
        return brief_id, f"; of their {len(briefs)} briefs the title fits this one ({best:.2f})"
    return None, ""


def sender(
    features: Features,
    index: BriefIndex,
    *,
    one: float = 0.8,
    several: float = 0.5,
    pick_least: float = 0.4,
    pick_margin: float = 0.2,
) -> list[Candidate]:
    """The sender's address (or Telegram account) as recorded on the survey.

    On several briefs, a title that clearly picks one of them (even a weak, partial title
    that could not match among all briefs) makes that one as sure as a single brief.
    """
    if not features.sender:
        return []
    briefs = index.by_contact(features.sender)
    evidence = f"sender {features.sender}"
    if len(briefs) == 1:
        return [Candidate(briefs[0], one, "sender", evidence)]
    picked, why = _pick_by_title(features, index, briefs, pick_least, pick_margin)
    return [
        Candidate(b, one, "sender", evidence + why)
        if b == picked
        else Candidate(b, several, "sender", evidence)
        for b in briefs
    ]


def title(
    features: Features,
    index: BriefIndex,
    *,
    threshold: float = 0.85,
    margin: float = 0.10,
    weak_cap: float = 0.6,
    floor: float = 0.4,
    keep: int = 5,
) -> list[Candidate]:
    """Fuzzy title similarity; at face value only when clearly ahead of every other brief."""
    scores = title_scores(features, index)
    ranked = sorted(scores.items(), key=lambda item: (-item[1][0], item[0]))[:keep]
    ranked = [(b, score, why) for b, (score, why) in ranked if score >= floor]
    if not ranked:
        return []
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    sure = ranked[0][1] >= threshold and ranked[0][1] - runner_up >= margin
    return [
        Candidate(
            b,
            round(score if sure and n == 0 else min(score, weak_cap), 3),
            "title",
            f"{why} ~ “{index.title_entry(b).title}” ({score:.2f})",
        )
        for n, (b, score, why) in enumerate(ranked)
    ]
