"""Blind index: normalization, purpose and key separation, pinned vector."""

import pytest

from vault.crypto import blind_index, normalize

KEY = bytes(range(0x20, 0x40))
KAT = "7a9ae0fb51a5dc9ab7cbff4d75daad6c42904f44a13a276403ff27584cd60d0a"


def test_known_answer():
    assert blind_index(KEY, " 12-345 678 ", purpose="tax-id") == KAT


@pytest.mark.parametrize(
    "variant",
    [
        "12345678",
        "12-345-678",
        " 12 345 678\t",
        "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
        "12\u2013345\u2011678",
        "12\u00a0345\u200b678",
        "12\u2212345678",
    ],
)
def test_written_variants_index_alike(variant):
    assert blind_index(KEY, variant, purpose="tax-id") == KAT


def test_normalize_casefolds_and_strips():
    assert normalize("  DE89 3704-0044 ") == "de8937040044"
    assert normalize("Straße") == normalize("STRASSE") == "strasse"
    assert normalize("\ufb01") == "fi"  # the "fi" ligature


def test_distinct_values_differ():
    assert blind_index(KEY, "12345678", purpose="tax-id") != blind_index(
        KEY, "12345679", purpose="tax-id"
    )


def test_purpose_and_key_separate_indexes():
    base = blind_index(KEY, "12345678", purpose="tax-id")
    assert blind_index(KEY, "12345678", purpose="bank-account") != base
    assert blind_index(bytes(32), "12345678", purpose="tax-id") != base


def test_output_is_64_hex_chars():
    value = blind_index(KEY, "x", purpose="p")
    assert len(value) == 64
    int(value, 16)


@pytest.mark.parametrize(
    ("key", "value", "purpose", "error"),
    [
        (KEY[:31], "1", "tax-id", ValueError),
        ("k" * 32, "1", "tax-id", TypeError),
        (KEY, b"1", "tax-id", TypeError),
        (KEY, " - ", "tax-id", ValueError),
        (KEY, "1", "", ValueError),
        (KEY, "1", "tax\x00id", ValueError),
    ],
)
def test_bad_arguments(key, value, purpose, error):
    with pytest.raises(error):
        blind_index(key, value, purpose=purpose)
