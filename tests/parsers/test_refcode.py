"""Reference codes: the check catches every slip, and reading is lenient."""

from __future__ import annotations

import random

import pytest

from parsers.refcode import (
    ALPHABET,
    CodeMatch,
    check_symbol,
    find_codes,
    is_valid,
    near_codes,
    new_code,
)

CODE = "HLH-7K2QX-7"  # check_symbol("7K2QX") == "7"


def random_codes(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [new_code("HLH", rng) for _ in range(count)]


def symbols_of(code: str) -> str:
    return code[4:9] + code[10]


def as_code(symbols: str) -> str:
    return f"HLH-{symbols[:5]}-{symbols[5]}"


def test_alphabet_is_crockford_without_z_and_prime():
    assert len(ALPHABET) == 31 and len(set(ALPHABET)) == 31
    assert not set("ILOUZ") & set(ALPHABET)


def test_new_codes_are_valid_and_shaped():
    for code in random_codes(200):
        assert is_valid(code)
        assert code.startswith("HLH-") and len(code) == 11


def test_new_code_uses_secrets_by_default_and_the_prefix():
    code = new_code("abc")
    assert code.startswith("ABC-") and is_valid(code)


def test_check_symbol_example():
    assert check_symbol("7K2QX") == "7"
    assert is_valid(CODE)
    assert not is_valid("HLH-7K2QX-M")


@pytest.mark.parametrize("body", ["7K2Q", "7K2QXX", "7K2QZ", "7k2qx"])
def test_check_symbol_rejects_bad_bodies(body):
    with pytest.raises(ValueError):
        check_symbol(body)


def test_every_single_substitution_is_caught():
    for code in random_codes(2000, seed=2):
        symbols = symbols_of(code)
        for pos, current in enumerate(symbols):
            for other in ALPHABET:
                if other != current:
                    wrong = symbols[:pos] + other + symbols[pos + 1 :]
                    assert not is_valid(as_code(wrong)), (code, wrong)


def test_every_swap_of_neighbours_is_caught():
    for code in random_codes(2000, seed=3):
        symbols = symbols_of(code)
        for pos in range(len(symbols) - 1):
            a, b = symbols[pos], symbols[pos + 1]
            if a != b:
                swapped = symbols[:pos] + b + a + symbols[pos + 2 :]
                assert not is_valid(as_code(swapped)), (code, swapped)


def test_is_valid_wants_the_canonical_form():
    assert not is_valid(CODE.lower())
    assert not is_valid("HLH7K2QX7")
    assert not is_valid("")


@pytest.mark.parametrize(
    "text",
    [
        "see HLH-7K2QX-7 please",
        "hlh 7k2qx 7",
        "HLH–7K2QX–7",  # en dashes
        "HLH—7K2QX—7",  # em dashes
        "HLH7K2QX7",
        "hlh_7k2qx_7.mp4",
        "HLH.7K2QX.7",
        "ＨＬＨ－７Ｋ２ＱＸ－７",  # fullwidth
        "视频ＨＬＨ７Ｋ２ＱＸ７",
        "https://t.me/intake_bot?start=HLH7K2QX7",
    ],
)
def test_lenient_reading(text):
    [found] = find_codes(text, "HLH")
    assert found.code == CODE and found.valid
    assert text[found.start : found.end] == found.raw
    assert found.raw.replace(" ", "")


def test_o_and_i_l_fold_to_digits():
    body = "10L0I"  # 1, 0, L→1, 0, I→1
    canonical_body = "10101"
    code = f"HLH-{canonical_body}-{check_symbol(canonical_body)}"
    [found] = find_codes(f"Code: hlh-{body.lower()}-{code[-1].lower()}", "HLH")
    assert found == CodeMatch(code, True, 6, 17, f"hlh-{body.lower()}-{code[-1].lower()}")
    [found] = find_codes(f"HLH {body.replace('0', 'O')} {code[-1]}", "HLH")
    assert found.code == code and found.valid


def test_raw_span_survives_width_changes_before_the_code():
    text = "ＡＢＣ ß HLH-7K2QX-7 done"
    [found] = find_codes(text, "HLH")
    assert text[found.start : found.end] == "HLH-7K2QX-7"


def test_bad_check_is_returned_invalid():
    [found] = find_codes("ref HLH-7K2QX-M", "HLH")
    assert found.code == "HLH-7K2QX-M" and not found.valid


def test_no_code_glued_to_other_letters_or_with_another_prefix():
    assert find_codes("XHLH-7K2QX-7", "HLH") == []
    assert find_codes("HLH-7K2QX-7Y", "HLH") == []
    assert find_codes("ABC-7K2QX-7", "HLH") == []
    assert find_codes("HLH-7K2QX", "HLH") == []


def test_configurable_prefix():
    body = "ABCDE"
    code = f"UNX-{body}-{check_symbol(body)}"
    [found] = find_codes(f"unx {body.lower()}{code[-1]}", "unx")
    assert found.code == code and found.valid


def test_several_codes_in_order():
    other = random_codes(1, seed=9)[0]
    found = find_codes(f"{CODE} and {other.lower()}", "HLH")
    assert [f.code for f in found] == [CODE, other]


def test_near_codes_finds_substitutions_and_swaps():
    known = set(random_codes(500, seed=4))
    for code in list(known)[:100]:
        symbols = symbols_of(code)
        sub = symbols[:2] + ("0" if symbols[2] != "0" else "1") + symbols[3:]
        assert code in near_codes(as_code(sub), known)
        if symbols[0] != symbols[1]:
            assert code in near_codes(as_code(symbols[1] + symbols[0] + symbols[2:]), known)


def test_near_codes_ignores_far_codes_and_accepts_any_iterable():
    assert near_codes("HLH-7K2QX-M", iter([CODE])) == [CODE]
    assert near_codes("HLH-7K2QX-M", ["HLH-AAAAA-0"]) == []
    assert near_codes("not a code", [CODE]) == []
    assert near_codes(CODE, [CODE]) == []
