"""Language names and codes: what `language=` and `spoken_language=` accept."""

from __future__ import annotations

import pytest

from functions.core.catalogue.languages import LANGUAGES, language_code, name_key, spoken_names

LATIN_P_RUSSIAN = "P\u0443\u0441\u0441\u043a\u0438\u0439"  # as the TMDB export writes it
CYRILLIC_RUSSIAN = "\u0420\u0443\u0441\u0441\u043a\u0438\u0439"


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("fr", "fr"),
        ("FR", "fr"),
        ("French", "fr"),
        ("french", "fr"),
        ("Français", "fr"),
        ("francais", "fr"),
        (" Deutsch ", "de"),
        ("German", "de"),
        ("日本語", "ja"),
        ("Japanese", "ja"),
        (LATIN_P_RUSSIAN, "ru"),
        (CYRILLIC_RUSSIAN, "ru"),
        ("Russian", "ru"),
        ("Cantonese", "cn"),
        ("Mandarin", "zh"),
        ("No Language", "xx"),
        ("Ewe", "ee"),
    ],
)
def test_a_code_or_a_name_in_english_or_its_own_script_gives_the_code(given: str, code: str):
    assert language_code(given) == code


def test_an_unlisted_code_is_passed_through_lowercased():
    assert language_code("QQ") == "qq"


@pytest.mark.parametrize("given", ["Klingon", "", "f", "english!"])
def test_an_unknown_name_is_refused(given: str):
    with pytest.raises(ValueError, match="unknown language"):
        language_code(given)


def test_russian_matches_both_spellings_the_data_may_hold():
    for given in ("ru", "Russian", LATIN_P_RUSSIAN, CYRILLIC_RUSSIAN, "русский"):
        names = spoken_names(given)
        assert LATIN_P_RUSSIAN in names
        assert CYRILLIC_RUSSIAN in names


def test_spoken_names_include_the_native_and_the_english_name():
    assert set(spoken_names("fr")) == {"Français", "French"}
    assert spoken_names("English") == ("English",)


def test_an_unknown_spoken_language_is_matched_as_written():
    assert spoken_names("Klingonese") == ("Klingonese",)


def test_look_alike_letters_and_accents_fold_to_one_key():
    assert name_key(LATIN_P_RUSSIAN) == name_key(CYRILLIC_RUSSIAN)
    assert name_key("Français") == name_key("FRANCAIS")


def test_codes_are_unique_and_every_name_maps_back_to_its_language():
    codes = [language.code for language in LANGUAGES]
    assert len(codes) == len(set(codes))
    for language in LANGUAGES:
        for name in (*language.native, language.english):
            assert language_code(name) == language.code, name
