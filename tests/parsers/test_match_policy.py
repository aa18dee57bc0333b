"""The policy table and decide(): when an item is matched, and what is flagged."""

from __future__ import annotations

import random

import pytest

from parsers.features import BriefRecord, Candidate, Features
from parsers.index import BriefIndex
from parsers.matching import match
from parsers.policy import DEFAULT_POLICY, Policy, Verdict, decide
from parsers.refcode import new_code

_rng = random.Random(11)
RECORDS = [
    BriefRecord(
        1, new_code("HLH", _rng), "Mobile libraries for rural schools", "101", ("a@example.org",)
    ),
    BriefRecord(
        2,
        new_code("HLH", _rng),
        "Community radio for flood early warning",
        "102",
        ("b@example.org",),
    ),
    BriefRecord(
        3, new_code("HLH", _rng), "Clean cookstoves for refugee camps", None, ("c@example.org",)
    ),
    BriefRecord(4, new_code("HLH", _rng), "Peer tutoring", None, ("c@example.org",)),
]
REF = {r.id: r.ref for r in RECORDS}


@pytest.fixture(scope="module")
def index() -> BriefIndex:
    return BriefIndex(RECORDS)


def cand(brief_id: int, confidence: float, rule: str) -> Candidate:
    return Candidate(brief_id, confidence, rule, "test")


def test_the_table_lists_every_rule_once_in_order_of_strength():
    names = [row.rule for row in DEFAULT_POLICY.table()]
    assert names == [
        "reference_code",
        "response_id",
        "thread",
        "chat_context",
        "upload_link",
        "sender",
        "title",
        "reference_code_typo",
    ]
    assert [row.rule for row in DEFAULT_POLICY.table() if not row.may_auto] == [
        "reference_code_typo"
    ]


def test_nothing_is_unmatched(index):
    verdict = decide([], sender=None, index=index)
    assert verdict == Verdict("unmatched", flags=["no_candidates"])


def test_code_matches(index):
    verdict = decide([cand(1, 1.0, "reference_code")], sender="a@example.org", index=index)
    assert (verdict.status, verdict.brief_id, verdict.rule, verdict.confidence) == (
        "matched",
        1,
        "reference_code",
        1.0,
    )
    assert verdict.flags == []


def test_code_from_a_sender_not_on_the_brief_matches_but_is_flagged(index):
    candidates = [cand(1, 1.0, "reference_code"), cand(2, 0.8, "sender")]
    verdict = decide(candidates, sender="b@example.org", index=index)
    assert (verdict.status, verdict.brief_id) == ("matched", 1)
    assert verdict.flags == ["code_sender_mismatch"]
    assert [c.brief_id for c in verdict.candidates] == [1, 2]


def test_code_from_an_unknown_sender_is_flagged_too(index):
    verdict = decide([cand(1, 1.0, "reference_code")], sender="x@example.org", index=index)
    assert verdict.status == "matched" and verdict.flags == ["code_sender_mismatch"]


def test_two_strong_rules_pointing_at_two_briefs_is_a_conflict(index):
    for other in ("reference_code", "title", "thread", "response_id"):
        candidates = [cand(1, 1.0, "reference_code"), cand(2, 0.9, other)]
        verdict = decide(candidates, sender=None, index=index)
        assert verdict.status == "unmatched" and verdict.flags == ["conflict"], other
        assert [c.brief_id for c in verdict.candidates] == [1, 2]


def test_a_weak_hint_elsewhere_is_no_conflict(index):
    candidates = [cand(1, 0.92, "title"), cand(2, 0.6, "title"), cand(3, 0.5, "sender")]
    verdict = decide(candidates, sender="c@example.org", index=index)
    assert (verdict.status, verdict.brief_id, verdict.rule) == ("matched", 1, "title")


def test_sender_elsewhere_conflicts_with_a_title(index):
    candidates = [cand(1, 0.95, "title"), cand(2, 0.8, "sender")]
    verdict = decide(candidates, sender="b@example.org", index=index)
    assert verdict.status == "unmatched" and verdict.flags == ["conflict"]


def test_typo_code_never_matches_alone(index):
    verdict = decide([cand(1, 0.5, "reference_code_typo")], sender=None, index=index)
    assert verdict.status == "unmatched"
    assert verdict.flags == ["needs_review", "code_typo"]
    assert verdict.candidates[0].brief_id == 1


def test_typo_code_with_a_policy_that_would_trust_it_still_does_not_match(index):
    policy = Policy(typo=0.99, auto=0.5)
    verdict = decide(
        [cand(1, 0.99, "reference_code_typo")], sender=None, index=index, policy=policy
    )
    assert verdict.status == "unmatched"


def test_typo_code_and_the_sender_of_that_brief(index):
    candidates = [cand(1, 0.5, "reference_code_typo"), cand(1, 0.8, "sender")]
    verdict = decide(candidates, sender="a@example.org", index=index)
    assert (verdict.status, verdict.rule) == ("matched", "sender")
    assert verdict.flags == ["code_typo"]


def test_rules_run_by_the_caller_are_understood(index):
    for rule in ("thread", "chat_context"):
        verdict = decide(
            [cand(2, 0.9, rule), cand(1, 0.8, "sender")], sender="a@example.org", index=index
        )
        assert (verdict.status, verdict.brief_id, verdict.rule) == ("matched", 2, rule)


def test_unknown_rules_are_shown_but_never_match_alone(index):
    verdict = decide([cand(2, 1.0, "crystal_ball")], sender=None, index=index)
    assert verdict.status == "unmatched"
    assert verdict.flags == ["needs_review", "unknown_rule"]


def test_below_the_auto_threshold(index):
    verdict = decide(
        [cand(3, 0.5, "sender"), cand(4, 0.5, "sender")], sender="c@example.org", index=index
    )
    assert verdict.status == "unmatched" and verdict.flags == ["low_confidence"]
    assert {c.brief_id for c in verdict.candidates} == {3, 4}


def test_candidates_are_distinct_briefs_best_first_at_most_five(index):
    candidates = [cand(b % 7 + 1, round(0.1 + b / 100, 2), "title") for b in range(30)]
    candidates.append(cand(1, 0.3, "sender"))
    verdict = decide(candidates, sender=None, index=index)
    ids = [c.brief_id for c in verdict.candidates]
    confidences = [c.confidence for c in verdict.candidates]
    assert len(ids) == 5 == len(set(ids))
    assert confidences == sorted(confidences, reverse=True)


def test_ties_prefer_the_stronger_rule(index):
    verdict = decide([cand(1, 0.9, "title"), cand(1, 0.9, "thread")], sender=None, index=index)
    assert verdict.rule == "thread"


def test_thresholds_are_configurable(index):
    features = Features("smtp", sender="a@example.org")
    assert match(features, index).status == "matched"
    assert match(features, index, policy=Policy(auto=0.9)).status == "unmatched"


def test_match_runs_the_text_rules_and_adds_the_callers_candidates(index):
    features = Features("smtp", subject=f"Re: {REF[2].lower()}", sender="b@example.org")
    verdict = match(features, index)
    assert (verdict.status, verdict.brief_id, verdict.rule, verdict.flags) == (
        "matched",
        2,
        "reference_code",
        [],
    )
    verdict = match(Features("smtp", subject="video"), index, [cand(3, 0.9, "thread")])
    assert (verdict.status, verdict.brief_id, verdict.rule) == ("matched", 3, "thread")


def test_match_refuses_a_code_and_a_different_title(index):
    features = Features("smtp", subject=f"{REF[1]} Community radio for flood early warning")
    verdict = match(features, index)
    assert verdict.status == "unmatched" and verdict.flags == ["conflict"]


def test_verdict_is_json_serialisable(index):
    verdict = match(Features("smtp", subject="Clean cookstoves for refugee camps"), index)
    data = verdict.to_json()
    assert data["status"] == "matched" and data["candidates"][0]["rule"] == "title"
