"""Matching at 100,000 briefs: the title index against brute-force rapidfuzz, side by side.

Run by hand: python bench/match_bench.py [--briefs N] [--queries N] [--brute N]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from itertools import accumulate
from pathlib import Path

from rapidfuzz import process

from parsers.features import BriefRecord, Features
from parsers.index import BriefIndex, Query, TitleEntry
from parsers.matching import match
from parsers.normalise import strip_prefixes
from parsers.refcode import new_code
from parsers.titles import score_query, title_scores

EVAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "matching_eval.json"
SEED = 20240611

# Syllables and letters per script; words are drawn from a Zipf-like vocabulary.
LATIN = "ba be bi bo bu ca co cu da de di do fa fe fi la le li lo lu ma me mi mo mu na ne ni no"
LATIN += " pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi tra pre gri mon san ter"
CYRILLIC = "ба бе бо ва ве во да де до ка ке ко ла ле ло ма ме мо на не но ра ре ро са се со та те"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
STOP = {
    "en": ["for", "of", "the", "in"],
    "fr": ["de", "des", "la", "pour"],
    "es": ["de", "los", "la", "para"],
    "ru": ["для", "в"],
    "ar": ["في"],
    "zh": ["的"],
}


def _latin_word(rng: random.Random, accents: str) -> str:
    word = "".join(rng.choice(LATIN.split()) for _ in range(rng.randint(2, 4)))
    if accents and rng.random() < 0.3:
        at = rng.randrange(len(word))
        word = word[:at] + rng.choice(accents) + word[at + 1 :]
    return word


def _vocabulary(rng: random.Random, language: str, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        if language in ("en", "fr", "es"):
            words.add(_latin_word(rng, {"en": "", "fr": "éèàç", "es": "áéíóñ"}[language]))
        elif language == "ru":
            words.add("".join(rng.choice(CYRILLIC.split()) for _ in range(rng.randint(2, 4))))
        elif language == "ar":
            words.add("".join(rng.choice(ARABIC) for _ in range(rng.randint(3, 6))))
        else:
            words.add("".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(2)))
    return sorted(words)


def _zipf_cumulative(size: int) -> list[float]:
    return list(accumulate(1 / (rank + 1) ** 0.8 for rank in range(size)))


def make_titles(rng: random.Random, count: int) -> list[str]:
    languages = ["en", "fr", "es", "ru", "ar", "zh"]
    vocab = {lang: _vocabulary(rng, lang, 6000) for lang in languages}
    cumulative = _zipf_cumulative(6000)
    titles = []
    for _ in range(count):
        lang = rng.choice(languages)
        words = rng.choices(vocab[lang], cum_weights=cumulative, k=rng.randint(3, 7))
        if rng.random() < 0.6:
            words.insert(rng.randrange(1, len(words)), rng.choice(STOP[lang]))
        titles.append(("" if lang == "zh" else " ").join(words))
    return titles


def make_records(
    rng: random.Random, count: int, first_id: int, taken: set[str]
) -> list[BriefRecord]:
    """Synthetic briefs; codes are drawn again on a collision, as the store must do too
    (31^5 bodies: about 175 collisions are expected among 100,000 random codes)."""
    records = []
    for n, title in enumerate(make_titles(rng, count)):
        code = new_code("HLH", rng)
        while code in taken:
            code = new_code("HLH", rng)
        taken.add(code)
        records.append(
            BriefRecord(first_id + n, code, title, str(900000 + n), (f"user{n}@example.org",))
        )
    return records


def _typo(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text))
    return text[:at] + text[at + 1 :] if text[at] != " " else text


def make_queries(rng: random.Random, records: list[BriefRecord], count: int):
    """(features, expected brief id or None) in several shapes."""
    shapes = ["subject", "partial", "typo", "body", "filename", "none"]
    queries = []
    for n in range(count):
        record = rng.choice(records)
        shape = shapes[n % len(shapes)]
        title = record.title
        if shape == "subject":
            features = Features("smtp", subject=f"Re: Fwd: {title.upper()}")
        elif shape == "partial":
            features = Features("smtp", subject=" ".join(title.split()[:2]))
        elif shape == "typo":
            features = Features("smtp", subject=_typo(rng, title))
        elif shape == "body":
            text = f"Hello team, please find the video of our practice {title} attached. " * 2
            features = Features("smtp", subject="Video", text=text + "Kind regards, " * 20)
        elif shape == "filename":
            features = Features("smtp", filenames=[title.replace(" ", "_") + ".mp4"])
        else:
            features = Features("smtp", subject="Video", text="See attached, thanks!")
        queries.append((features, record.id if shape != "none" else None, shape))
    return queries


Timing = tuple[float, float]  # (wall-clock ms, CPU ms of this process)


def timed(function, *args):
    """The function's result, and its (wall, CPU) milliseconds: CPU time shows the work
    even when other processes crowd the machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_match(index: BriefIndex, queries) -> tuple[list[Timing], dict[str, list[int]]]:
    """Milliseconds per item, and per shape: [right, wrong, unmatched] verdicts."""
    times: list[Timing] = []
    outcomes: dict[str, list[int]] = {}
    for features, expected, shape in queries:
        verdict, spent = timed(match, features, index)
        times.append(spent)
        counts = outcomes.setdefault(shape, [0, 0, 0])
        if verdict.status != "matched":
            counts[2] += 1
        else:
            counts[0 if verdict.brief_id == expected else 1] += 1
    return times, outcomes


def time_brute(index: BriefIndex, queries) -> tuple[list[Timing], int]:
    """process.extractOne over every title, with the title rule's own scorer."""
    entries = [index.title_entry(b) for b in index.title_ids()]

    def scorer(query: Query, entry: TitleEntry, **_: object) -> float:
        return 100 * score_query(query, entry)

    def brute_best(query: Query):
        return process.extractOne(query, entries, scorer=scorer, processor=None)

    times, right = [], 0
    for features, expected, _ in queries:
        text = strip_prefixes(features.subject) or features.filenames[0].rsplit(".", 1)[0]
        best, spent = timed(brute_best, index.query(text))
        times.append(spent)
        right += best is not None and best[0].brief_id == expected
    return times, right


def time_title_scores(index: BriefIndex, queries) -> tuple[list[Timing], int]:
    """The title rule's scoring with the shortlist, like for like with brute force."""
    times, first = [], 0
    for features, expected, _ in queries:
        scores, spent = timed(title_scores, features, index)
        times.append(spent)
        first += _best(scores, 0.0)[0] == expected
    return times, first


def load_eval() -> tuple[list[BriefRecord], list[dict], dict[str, int]]:
    data = json.loads(EVAL.read_text(encoding="utf-8"))
    records = [
        BriefRecord(b["id"], b["ref"], b["title"], b["response_id"], tuple(b["emails"]))
        for b in data["briefs"]
    ]
    return records, data["items"], {b["ref"]: b["id"] for b in data["briefs"]}


def features_of(item: dict) -> Features:
    return Features(
        item.get("channel", "smtp"),
        item.get("sender"),
        item.get("subject", ""),
        item.get("text", ""),
        item.get("filenames", []),
        start_payload=item.get("start_payload"),
    )


def evaluate(index: BriefIndex, items: list[dict], ids: dict[str, int]) -> dict[str, float]:
    matched = correct = informative = recalled = 0
    for item in items:
        verdict = match(features_of(item), index)
        expected = ids.get(item["expect"]) if item["expect"] else None
        ok = verdict.brief_id == expected and not item["must_not_match"]
        matched += verdict.status == "matched"
        correct += verdict.status == "matched" and ok
        informative += item["informative"]
        recalled += item["informative"] and verdict.status == "matched" and ok
    return {
        "precision": correct / matched if matched else 1.0,
        "recall": recalled / informative,
        "matched": matched,
        "false": matched - correct,
    }


def _best(scores: dict[int, tuple[float, str]], floor: float) -> tuple[int | None, float]:
    kept = [(score, -b) for b, (score, _) in scores.items() if score >= floor]
    return (-max(kept)[1], max(kept)[0]) if kept else (None, 0.0)


def agreement(index: BriefIndex, items: list[dict], floor: float = 0.4) -> tuple[int, int]:
    """Items whose best title candidate (score >= floor, as the title rule keeps) is the
    same when scoring the shortlist as when scoring every title."""
    same = 0
    for item in items:
        features = features_of(item)
        short = _best(title_scores(features, index), floor)
        full = _best(title_scores(features, index, exhaustive=True), floor)
        same += short == full or (short[1] == full[1] and full[0] is not None)
    return same, len(items)


def report(name: str, times: list[Timing]) -> None:
    wall, cpu = [t[0] for t in times], [t[1] for t in times]
    print(
        f"{name:<40} p50 {percentile(wall, 0.5):7.2f} ms  p95 {percentile(wall, 0.95):7.2f} ms"
        f"  (CPU p50 {percentile(cpu, 0.5):7.2f}  p95 {percentile(cpu, 0.95):7.2f})"
    )


def ratio(brute: list[Timing], indexed: list[Timing], column: int, q: float) -> float:
    return percentile([t[column] for t in brute], q) / percentile([t[column] for t in indexed], q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--briefs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--brute", type=int, default=60, help="queries timed by brute force")
    args = parser.parse_args()
    rng = random.Random(SEED)

    started = time.perf_counter()
    eval_records, items, ids = load_eval()
    synthetic = make_records(rng, args.briefs, 1000, {r.ref for r in eval_records})
    index = BriefIndex(eval_records + synthetic)
    print(
        f"index of {len(index):,} briefs built in {time.perf_counter() - started:.1f} s "
        f"(tokens on more than {index.max_df} titles are not shortlisted by)"
    )

    queries = make_queries(rng, synthetic, args.queries)
    indexed, outcomes = time_match(index, queries)
    report(f"match() with the index, {len(queries)} items", indexed)
    for shape, (right, wrong, unmatched) in outcomes.items():
        print(f"  {shape:<9} right {right:3}  wrong {wrong:3}  unmatched {unmatched:3}")
    # Brute force scores one short text per item, so it gets the subject-like shapes only.
    subset = [q for q in queries if q[2] in ("subject", "partial", "typo", "filename")]
    subset = subset[: args.brute]
    brute, brute_right = time_brute(index, subset)
    indexed_subset = time_match(index, subset)[0]
    titles_only, first = time_title_scores(index, subset)
    report(f"match() on the brute-force subset ({len(subset)})", indexed_subset)
    report("  of which title_scores() alone", titles_only)
    report("brute-force extractOne, same scorer", brute)
    print(
        f"  right brief ranked first: brute force {brute_right}/{len(subset)}, "
        f"index {first}/{len(subset)} (partial subjects tie with other titles)"
    )
    ratios = [ratio(brute, indexed_subset, column, q) for column in (0, 1) for q in (0.5, 0.95)]
    print(
        "ratio brute/index (match()): wall p50 {:.0f}x, p95 {:.0f}x; CPU p50 {:.0f}x, "
        "p95 {:.0f}x".format(*ratios)
    )

    same, total = agreement(index, items)
    print(
        f"eval set in {len(index):,} briefs: best title candidate agrees with scoring every "
        f"title in {same}/{total} items"
    )
    alone = evaluate(BriefIndex(eval_records), items, ids)
    crowded = evaluate(index, items, ids)
    for name, result in (
        ("eval set alone", alone),
        (f"eval set + {args.briefs:,} synthetic", crowded),
    ):
        print(
            f"{name:<34} precision {result['precision']:.3f}  recall {result['recall']:.3f}"
            f"  ({result['matched']} auto-matched, {result['false']} wrongly)"
        )


if __name__ == "__main__":
    main()
