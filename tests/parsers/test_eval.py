"""The labelled evaluation set: no false auto-match, good recall, the truth always shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsers.features import BriefRecord, Features
from parsers.index import BriefIndex
from parsers.matching import match

EVAL = Path(__file__).parent.parent / "data" / "matching_eval.json"


def load_eval(path: Path = EVAL) -> tuple[dict, BriefIndex, list[dict]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    records = [
        BriefRecord(b["id"], b["ref"], b["title"], b["response_id"], tuple(b["emails"]))
        for b in data["briefs"]
    ]
    return data, BriefIndex(records, data["prefix"]), data["items"]


def features_of(item: dict) -> Features:
    return Features(
        channel=item.get("channel", "smtp"),
        sender=item.get("sender"),
        subject=item.get("subject", ""),
        text=item.get("text", ""),
        filenames=item.get("filenames", []),
        start_payload=item.get("start_payload"),
    )


def run_eval(path: Path = EVAL) -> list[tuple[dict, object, str | None]]:
    """(item, verdict, the matched brief's ref or None) for every item."""
    data, index, items = load_eval(path)
    refs = {b["id"]: b["ref"] for b in data["briefs"]}
    results = []
    for item in items:
        verdict = match(features_of(item), index)
        results.append((item, verdict, refs.get(verdict.brief_id)))
    return results


@pytest.fixture(scope="module")
def results():
    return run_eval()


def test_the_set_is_big_enough_and_well_formed(results):
    _, index, items = load_eval()
    assert len(index) >= 40 and len(items) >= 120
    assert len({item["id"] for item in items}) == len(items)
    assert all(item["expect"] is None or index.by_ref(item["expect"]) for item in items)


def test_no_false_auto_match(results):
    wrong = [
        (item["id"], matched)
        for item, verdict, matched in results
        if verdict.status == "matched" and (item["must_not_match"] or matched != item["expect"])
    ]
    assert wrong == []


def test_informative_items_are_mostly_auto_matched(results):
    informative = [(item, matched) for item, _, matched in results if item["informative"]]
    hits = [item["id"] for item, matched in informative if matched == item["expect"]]
    missed = [item["id"] for item, matched in informative if matched != item["expect"]]
    assert len(hits) >= 0.9 * len(informative), missed


def test_the_right_brief_is_among_the_candidates_when_unmatched(results):
    _, index, _ = load_eval()
    absent = [
        item["id"]
        for item, verdict, _ in results
        if verdict.status == "unmatched"
        and item["expect"]
        and index.by_ref(item["expect"]) not in [c.brief_id for c in verdict.candidates]
    ]
    assert absent == []
