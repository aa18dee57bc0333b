"""Matching in one call: run the text rules, add the caller's candidates, decide."""

from __future__ import annotations

from collections.abc import Iterable

from parsers.features import BriefRecord, Candidate, Features
from parsers.index import BriefIndex
from parsers.policy import DEFAULT_POLICY, Policy, Verdict, decide, run_rules

__all__ = ["BriefIndex", "BriefRecord", "Candidate", "Features", "Policy", "Verdict", "match"]


def match(
    features: Features,
    index: BriefIndex,
    extra: Iterable[Candidate] = (),
    *,
    policy: Policy = DEFAULT_POLICY,
) -> Verdict:
    """The verdict for one item; `extra` holds the database rules' candidates (thread, chat)."""
    candidates = run_rules(features, index, policy) + list(extra)
    return decide(candidates, sender=features.sender, index=index, policy=policy)
