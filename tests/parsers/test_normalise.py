"""Normalisation in the scripts of the six UN languages."""

from __future__ import annotations

import pytest

from parsers.normalise import (
    STOP_WORDS,
    is_meaningful,
    meaningful_tokens,
    normalise,
    strip_prefixes,
    tokens,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Éducation à la Citoyenneté", "education a la citoyennete"),  # French
        ("Alfabetización  de NIÑAS", "alfabetizacion de ninas"),  # Spanish
        ("Über Straße", "uber strasse"),  # casefold ß → ss
        ("Cœur ŒUVRE", "coeur oeuvre"),
        ("Ёлка и ЙОГУРТ", "елка и йогурт"),  # Russian: ё → е, й kept
        ("حَصَادُ مِيَاهِ الأَمْطَارِ", "حصاد مياه الامطار"),  # Arabic harakat, hamza alef
        ("مدرســــة", "مدرسه"),  # tatweel gone, ta marbuta folded
        ("农村学校的移动图书馆", "农村学校的移动图书馆"),  # Chinese kept
        ("ＦＵＬＬ　ｗｉｄｔｈ", "full width"),  # NFKC
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Title",
        "RE: re: Title",
        "RE[2]: Title",
        "Re^3: Title",
        "Fwd: FW: Title",
        "TR : Title",
        "AW: WG: Title",
        "RV: Title",
        "SV: VS: Title",
        "Antw: Title",
        "RIF: Title",
        "Ответ: Title",
        "回复：Title",
        "转发: Title",
        "رد: Title",
        "[EXTERNAL] Re: Title",
        "Re: [Ext] Fwd: Title",
    ],
)
def test_strip_prefixes(subject):
    assert strip_prefixes(subject) == "Title"


def test_strip_prefixes_leaves_ordinary_subjects_and_codes():
    assert strip_prefixes("Regional water clubs") == "Regional water clubs"
    assert strip_prefixes("[HLH-7K2QX-7] Title") == "[HLH-7K2QX-7] Title"
    assert strip_prefixes("Re:") == ""


def test_tokens_split_words_and_make_han_bigrams():
    assert tokens("l'éducation, d'abord!") == ["l", "education", "d", "abord"]
    assert tokens("城市屋顶菜园 video") == ["城市", "市屋", "屋顶", "顶菜", "菜园", "video"]
    assert tokens("扫盲") == ["扫盲"]
    assert tokens("盲") == ["盲"]
    assert tokens("Школьные теплицы") == ["школьные", "теплицы"]
    assert tokens("snake_case-and.dots") == ["snake", "case", "and", "dots"]


def test_arabic_article_is_dropped_from_words():
    assert tokens("حصاد مياه الأمطار في المدارس") == ["حصاد", "مياه", "امطار", "في", "مدارس"]
    assert tokens("الله") == ["الله"]  # too short to be article + word


def test_meaningful_tokens_drop_function_words_in_every_language():
    assert meaningful_tokens("The gardens of the school") == ["gardens", "school"]
    assert meaningful_tokens("Jardins scolaires et nutrition des enfants") == [
        "jardins",
        "scolaires",
        "nutrition",
        "enfants",
    ]
    assert meaningful_tokens("Bancos de semillas en los Andes y la costa") == [
        "bancos",
        "semillas",
        "andes",
        "costa",
    ]
    assert meaningful_tokens("Библиотеки для сельских школ и в городах") == [
        "библиотеки",
        "сельских",
        "школ",
        "городах",
    ]
    assert meaningful_tokens("حصاد مياه الأمطار في المدارس من القرى") == [
        "حصاد",
        "مياه",
        "امطار",
        "مدارس",
        "قري",
    ]
    assert meaningful_tokens("农村学校的图书馆") == ["农村", "村学", "学校", "图书", "书馆"]


def test_stop_words_are_written_normalised():
    assert all(normalise(word) == word for word in STOP_WORDS)
    assert not is_meaningful("的")
    assert is_meaningful("2024")
