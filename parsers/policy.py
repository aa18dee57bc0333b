"""The matching policy: one table of rules and thresholds, and the decision it leads to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial

from parsers import rules
from parsers.features import Candidate, Features
from parsers.index import BriefIndex

RuleFunction = Callable[[Features, BriefIndex], list[Candidate]]


@dataclass(frozen=True)
class Row:
    """One line of the policy table."""

    rule: str
    run: RuleFunction | None  # None: needs the database, so the caller passes its candidates
    may_auto: bool  # may this rule alone match an item?
    beats_sender: bool  # a sender recorded on another brief is then a flag, not a conflict
    sender_flag: str | None  # flag set when the sender is not on the matched brief


@dataclass(frozen=True)
class Policy:
    """Every threshold of matching; intake builds one from its settings."""

    auto: float = 0.80  # the best brief must be this sure to be matched (sender alone is)
    strong: float = 0.70  # another brief this sure is a conflict: unmatched, both shown
    sender_one: float = 0.80  # sender recorded on exactly one brief
    sender_several: float = 0.50  # sender on several briefs: each is a candidate …
    sender_pick: float = 0.40  # … unless the title scores this on one of them …
    sender_pick_margin: float = 0.20  # … and this much more than on the others
    thread: float = 0.90  # for the caller's "thread" candidates (reply to our mail)
    chat_context: float = 0.90  # for the caller's "chat_context" candidates
    title_threshold: float = 0.85  # title similarity counts at face value only above this …
    title_margin: float = 0.10  # … and this far ahead of the next brief's title
    title_weak: float = 0.60  # otherwise a hint for coordinators, kept below `strong`
    typo: float = 0.50  # a known code one slip away from a code whose check fails
    response_pattern: str = rules.DEFAULT_RESPONSE_PATTERN
    max_candidates: int = 5  # distinct briefs kept for the review queue

    def table(self) -> tuple[Row, ...]:
        """The rules in order of strength."""
        # fmt: off
        return (
            # a code whose check symbol holds: 1.0; the sender may be a colleague (flagged)
            Row("reference_code", partial(rules.reference_code, typo_confidence=self.typo),
                may_auto=True, beats_sender=True, sender_flag="code_sender_mismatch"),
            # "response 1234" naming a survey record we hold: 1.0
            Row("response_id", partial(rules.response_id, pattern=self.response_pattern),
                may_auto=True, beats_sender=True, sender_flag="response_id_sender_mismatch"),
            # In-Reply-To/References to our acknowledgement or a matched item: `thread`
            Row("thread", None, may_auto=True, beats_sender=True, sender_flag=None),
            # the chat was bound to a brief by /start, /brief or a reply: `chat_context`
            Row("chat_context", None, may_auto=True, beats_sender=True, sender_flag=None),
            # an upload through a private link bound to one brief (issue 14): 1.0
            Row("upload_link", None, may_auto=True, beats_sender=True, sender_flag=None),
            # the address used in the survey: sender_one, or sender_several each (a title
            # that clearly picks one of the sender's briefs makes that one sender_one)
            Row("sender", partial(rules.sender, one=self.sender_one, several=self.sender_several,
                                  pick_least=self.sender_pick,
                                  pick_margin=self.sender_pick_margin),
                may_auto=True, beats_sender=False, sender_flag=None),
            # similar title, clearly ahead of the rest: its score; else at most title_weak
            Row("title", partial(rules.title, threshold=self.title_threshold,
                                 margin=self.title_margin, weak_cap=self.title_weak),
                may_auto=True, beats_sender=False, sender_flag=None),
            # produced by reference_code for a broken code: never matches on its own
            Row("reference_code_typo", None, may_auto=False, beats_sender=False, sender_flag=None),
        )
        # fmt: on


DEFAULT_POLICY = Policy()
# Rules decide() meets but has no row for (a later rule, a caller's own): shown, never alone.
_UNKNOWN = Row("unknown", None, may_auto=False, beats_sender=False, sender_flag=None)


@dataclass
class Verdict:
    """The outcome for one item: matched to a brief, or unmatched with candidates."""

    status: str  # "matched" | "unmatched"
    brief_id: int | None = None
    rule: str | None = None
    confidence: float = 0.0
    flags: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)  # best first, one per brief

    def to_json(self) -> dict:
        return asdict(self)


def _best_per_brief(candidates: list[Candidate], order: dict[str, int]) -> list[Candidate]:
    """Each brief's strongest candidate, strongest brief first (table order breaks ties)."""
    best: dict[int, Candidate] = {}

    def rank(c: Candidate) -> tuple[float, int, int]:
        return (-c.confidence, order.get(c.rule, len(order)), c.brief_id)

    for candidate in sorted(candidates, key=rank):
        best.setdefault(candidate.brief_id, candidate)
    return sorted(best.values(), key=rank)


def _conflicts(top: Candidate, row: Row, candidates: list[Candidate], strong: float) -> bool:
    """Does a strong candidate point at another brief (senders excepted for codes)?"""
    return any(
        c.brief_id != top.brief_id
        and c.confidence >= strong
        and not (row.beats_sender and c.rule == "sender")
        for c in candidates
    )


def _blockers(top: Candidate, row: Row, candidates: list[Candidate], policy: Policy) -> list[str]:
    """Why the best candidate may not be matched (empty: it may)."""
    if not row.may_auto:
        return ["needs_review"]
    if top.confidence < policy.auto:
        return ["low_confidence"]
    if _conflicts(top, row, candidates, policy.strong):
        return ["conflict"]
    return []


def _notes(candidates: list[Candidate], rows: dict[str, Row]) -> list[str]:
    notes = []
    if any(c.rule == "reference_code_typo" for c in candidates):
        notes.append("code_typo")
    if any(c.rule not in rows for c in candidates):
        notes.append("unknown_rule")
    return notes


def decide(
    candidates: list[Candidate],
    *,
    sender: str | None,
    index: BriefIndex,
    policy: Policy = DEFAULT_POLICY,
) -> Verdict:
    """Matched when one brief is sure enough and no other brief is strongly indicated."""
    table = policy.table()
    rows = {row.rule: row for row in table}
    ranked = _best_per_brief(candidates, {row.rule: n for n, row in enumerate(table)})
    shown = ranked[: policy.max_candidates]
    flags = _notes(candidates, rows)
    if not ranked:
        return Verdict("unmatched", flags=["no_candidates", *flags])
    top = ranked[0]
    row = rows.get(top.rule, _UNKNOWN)
    blockers = _blockers(top, row, candidates, policy)
    if blockers:
        return Verdict("unmatched", flags=blockers + flags, candidates=shown)
    if row.sender_flag and sender and sender.strip().lower() not in index.contacts(top.brief_id):
        flags.append(row.sender_flag)
    return Verdict("matched", top.brief_id, top.rule, top.confidence, flags, shown)


def run_rules(
    features: Features, index: BriefIndex, policy: Policy = DEFAULT_POLICY
) -> list[Candidate]:
    """Every candidate of the rules that read text alone, in table order."""
    return [c for row in policy.table() if row.run is not None for c in row.run(features, index)]
