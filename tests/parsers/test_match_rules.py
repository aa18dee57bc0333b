"""The index and the text rules, each on its own."""

from __future__ import annotations

import random

import pytest

from parsers import rules
from parsers.features import BriefRecord, Features
from parsers.index import BriefIndex
from parsers.refcode import new_code

_rng = random.Random(7)
TITLES = [
    "Mobile libraries for rural schools",  # 1
    "Mobile libraries for urban schools",  # 2
    "Solar water pumps for smallholder farms",  # 3
    "Recycling",  # 4
    "Jardins scolaires et nutrition des enfants",  # 5
    "Школьные теплицы в Арктике",  # 6
    "حصاد مياه الأمطار في المدارس",  # 7
    "城市屋顶菜园",  # 8
]
RECORDS = [
    BriefRecord(n, new_code("HLH", _rng), title, str(1000 + n), (f"person{n}@example.org",))
    for n, title in enumerate(TITLES, start=1)
]
RECORDS[2] = BriefRecord(3, RECORDS[2].ref, TITLES[2], "1003", ("ngo@example.org",))
RECORDS[3] = BriefRecord(4, RECORDS[3].ref, TITLES[3], None, ("ngo@example.org", "tg:42"))
REF = {r.id: r.ref for r in RECORDS}


@pytest.fixture(scope="module")
def index() -> BriefIndex:
    return BriefIndex(RECORDS)


def item(**fields) -> Features:
    return Features("smtp", **fields)


def top(candidates):
    return max(candidates, key=lambda c: c.confidence)


# --- index ------------------------------------------------------------------------------


def test_index_lookups(index):
    assert len(index) == len(RECORDS)
    assert index.by_ref(REF[1].lower()) == 1
    assert index.by_ref("HLH-00000-0") is None
    assert index.by_response_id(" 1002 ") == 2
    assert index.by_contact("NGO@example.org") == (3, 4)
    assert index.by_contact("nobody@example.org") == ()
    assert index.contacts(4) == ("ngo@example.org", "tg:42")
    assert REF[5] in index.refs
    assert index.get(5).title == TITLES[4]


def test_index_refuses_a_brief_id_or_a_code_twice():
    with pytest.raises(ValueError):
        BriefIndex([RECORDS[0], RECORDS[0]])
    with pytest.raises(ValueError):
        BriefIndex([RECORDS[0], BriefRecord(99, RECORDS[0].ref.lower(), "Other")])


def test_shortlist_skips_common_tokens_but_never_comes_back_empty_handed():
    records = [BriefRecord(n, f"HLH-{n}", f"water project {n}") for n in range(1, 301)]
    records.append(BriefRecord(999, "HLH-999", "water harvesting"))
    index = BriefIndex(records, min_common=50)
    assert index.shortlist(index.query("harvesting water")) == [999]
    assert len(index.shortlist(index.query("water"), limit=500)) == 301


def test_shortlist_of_common_tokens_only_still_counts_them_all():
    records = [BriefRecord(n, f"HLH-{n}", f"water {n}") for n in range(1, 101)]
    records += [BriefRecord(n, f"HLH-{n}", f"project {n}") for n in range(101, 201)]
    records.append(BriefRecord(999, "HLH-999", "water project"))
    index = BriefIndex(records, min_common=50)
    assert index.shortlist(index.query("project water"), limit=1) == [999]


# --- reference_code ---------------------------------------------------------------------


@pytest.mark.parametrize("field", ["subject", "text", "start_payload"])
def test_reference_code_anywhere(index, field):
    [candidate] = rules.reference_code(item(**{field: f"see {REF[5].lower()}"}), index)
    assert (candidate.brief_id, candidate.confidence, candidate.rule) == (5, 1.0, "reference_code")
    assert REF[5].lower() in candidate.evidence


def test_reference_code_in_a_filename(index):
    name = REF[6].replace("-", "") + "_final.mp4"
    [candidate] = rules.reference_code(item(filenames=[name]), index)
    assert candidate.brief_id == 6 and candidate.evidence.startswith("filename")


def test_reference_code_once_per_brief(index):
    features = item(subject=REF[2], text=f"{REF[2]} again")
    assert len(rules.reference_code(features, index)) == 1


def test_typo_code_gives_near_codes_only(index):
    body, check = REF[1][4:9], REF[1][10]
    swapped = f"HLH-{body[:4]}{check}-{body[4]}"
    [candidate] = rules.reference_code(item(subject=swapped), index)
    assert candidate.rule == "reference_code_typo" and candidate.confidence == 0.5
    assert candidate.brief_id == 1 and REF[1] in candidate.evidence


def test_valid_code_of_no_brief_gives_nothing(index):
    assert rules.reference_code(item(subject=new_code("HLH", random.Random(99))), index) == []


# --- response_id ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "response 1005",
        "Survey response ID: 1005",
        "Réponse n° 1005",
        "respuesta nº 1005",
        "respuesta n.º 1005",
        "ответ 1005",
        "Номер ответа: 1005",
        "回复 1005",
        "问卷回复编号：1005",
        "رقم الاستجابة 1005",
    ],
)
def test_response_id_mentions(index, text):
    [candidate] = rules.response_id(item(text=text), index)
    assert (candidate.brief_id, candidate.confidence, candidate.rule) == (5, 1.0, "response_id")


def test_response_id_ignores_unknown_ids_bare_numbers_and_reply_prefixes(index):
    assert rules.response_id(item(text="response 999999"), index) == []
    assert rules.response_id(item(text="we filmed 1005 pupils"), index) == []
    assert rules.response_id(item(subject="Ответ: 1005 pupils"), index) == []


def test_response_id_pattern_is_configurable(index):
    features = item(text="dossier #1005")
    assert rules.response_id(features, index) == []
    [candidate] = rules.response_id(features, index, pattern=r"dossier\s*#(?P<id>\d+)")
    assert candidate.brief_id == 5


# --- sender -----------------------------------------------------------------------------


def test_sender_on_one_brief(index):
    [candidate] = rules.sender(item(sender="person5@example.org"), index)
    assert (candidate.brief_id, candidate.confidence) == (5, 0.8)


def test_sender_on_several_briefs(index):
    candidates = rules.sender(item(sender="ngo@example.org", subject="video"), index)
    assert sorted((c.brief_id, c.confidence) for c in candidates) == [(3, 0.5), (4, 0.5)]


def test_sender_on_several_briefs_and_a_title_that_picks_one(index):
    candidates = rules.sender(item(sender="ngo@example.org", subject="solar pumps"), index)
    assert sorted((c.brief_id, c.confidence) for c in candidates) == [(3, 0.8), (4, 0.5)]


def test_no_or_unknown_sender(index):
    assert rules.sender(item(), index) == []
    assert rules.sender(item(sender="stranger@example.org"), index) == []


# --- title ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "brief_id"),
    [
        ("Re: Fwd: Mobile libraries for rural schools", 1),
        ("mobile libraries for URBAN schools", 2),
        ("RE: Solar water pumps for smallholder farms - video", 3),
        ("Antw: Recycling", 4),
        ("TR: jardins scolaires et nutrition des enfants", 5),
        ("Ответ: ШКОЛЬНЫЕ ТЕПЛИЦЫ В АРКТИКЕ", 6),
        ("رد: حَصَادُ مياه الأمطار في المدارس", 7),
        ("回复：城市屋顶菜园", 8),
        ("Mobile library for rural school", 1),  # inflection
    ],
)
def test_title_in_subject_is_confident(index, subject, brief_id):
    best = top(rules.title(item(subject=subject), index))
    assert best.brief_id == brief_id and best.confidence >= 0.85


def test_one_word_subject_does_not_score_high_against_a_long_title(index):
    assert all(c.confidence < 0.5 for c in rules.title(item(subject="Libraries"), index))
    assert all(c.confidence < 0.5 for c in rules.title(item(subject="farms"), index))


def test_short_title_inside_a_subject_naming_other_title_words_is_not_confident(index):
    candidates = rules.title(item(subject="Recycling water pumps on farms"), index)
    assert all(c.confidence <= 0.6 for c in candidates)


def test_ambiguous_between_near_duplicates_stays_a_hint_for_both(index):
    candidates = rules.title(item(subject="Mobile libraries for schools"), index)
    assert {c.brief_id for c in candidates} >= {1, 2}
    assert all(c.confidence <= 0.6 for c in candidates)


def test_title_inside_a_longer_body(index):
    text = (
        "Dear team, please find attached the video of our practice “Solar water pumps for "
        "smallholder farms”, recorded in Kitui last March with the farmers' groups. Regards"
    )
    best = top(rules.title(item(subject="Video", text=text), index))
    assert best.brief_id == 3 and best.confidence >= 0.85
    assert "solar water pumps smallholder farms" in best.evidence


def test_one_word_title_inside_a_longer_body_is_only_a_hint(index):
    text = (
        "Our school started recycling plastic bottles last year and the children made "
        "benches out of them. Video attached, thank you for the opportunity."
    )
    best = top(rules.title(item(subject="Video", text=text), index))
    assert best.brief_id == 4 and best.confidence <= 0.6


def test_title_in_a_filename(index):
    best = top(
        rules.title(item(filenames=["IMG_0001.MOV", "Школьные_теплицы_в_Арктике.mp4"]), index)
    )
    assert best.brief_id == 6 and best.confidence >= 0.85 and best.evidence.startswith("file")


def test_no_title_information(index):
    assert rules.title(item(subject="Video", text="See attached."), index) == []
    assert rules.title(item(filenames=["VID-20240501-WA0003.mp4"]), index) == []
