"""Language names and ISO 639-1 codes, as the movie data uses them.

The data says "language" two ways: `original_language` holds an ISO code (`fr`) and `languages`
holds the spoken languages by their name in their own script (`Français`), as TMDB writes them.
This module maps between the two so the API can take either form:

- `language_code("French")`, `language_code("Français")`, `language_code("fr")` -> `"fr"`;
- `spoken_names("ru")` -> every spelling of Russian the data may hold: TMDB's native name that
  starts with a Latin P, the all-Cyrillic spelling, and the English name.

Pure: no I/O. Matching of names ignores case, accents and the Latin/Cyrillic look-alike letters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Language:
    code: str
    english: str
    # How the `languages` column writes it: TMDB's native name first, then other spellings.
    native: tuple[str, ...] = ()
    # Further names a user may type (other English names, the name in another form).
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the `languages` column may hold for this language."""
        seen: dict[str, None] = dict.fromkeys((*self.native, self.english))
        return tuple(seen)


def _lang(code: str, english: str, *native: str, aliases: tuple[str, ...] = ()) -> Language:
    return Language(code, english, tuple(native), aliases)


# TMDB's language list (configuration/languages): ISO 639-1 code, English name, native name.
# 'xx' and 'cn' are TMDB's own codes (no language, Cantonese).
LANGUAGES: tuple[Language, ...] = (
    _lang("xx", "No Language", aliases=("none",)),
    _lang("ab", "Abkhazian"),
    _lang("aa", "Afar"),
    _lang("af", "Afrikaans", "Afrikaans"),
    _lang("ak", "Akan"),
    _lang("sq", "Albanian", "shqip"),
    _lang("am", "Amharic"),
    _lang("ar", "Arabic", "العربية"),
    _lang("an", "Aragonese"),
    _lang("hy", "Armenian", "Հայերեն"),
    _lang("as", "Assamese"),
    _lang("av", "Avaric"),
    _lang("ae", "Avestan"),
    _lang("ay", "Aymara"),
    _lang("az", "Azerbaijani", "Azərbaycan"),
    _lang("bm", "Bambara", "Bamanankan"),
    _lang("ba", "Bashkir"),
    _lang("eu", "Basque", "euskera"),
    _lang("be", "Belarusian", "беларуская мова"),
    _lang("bn", "Bengali", "বাংলা", aliases=("Bangla",)),
    _lang("bi", "Bislama"),
    _lang("bs", "Bosnian", "Bosanski"),
    _lang("br", "Breton"),
    _lang("bg", "Bulgarian", "български език"),
    _lang("my", "Burmese"),
    _lang("cn", "Cantonese", "广州话 / 廣州話", aliases=("广州话", "廣州話", "粤语", "粵語")),
    _lang("ca", "Catalan", "Català"),
    _lang("ch", "Chamorro", "Finu' Chamorro"),
    _lang("ce", "Chechen"),
    _lang("ny", "Chichewa", aliases=("Nyanja",)),
    _lang("cv", "Chuvash"),
    _lang("kw", "Cornish"),
    _lang("co", "Corsican"),
    _lang("cr", "Cree"),
    _lang("hr", "Croatian", "Hrvatski"),
    _lang("cs", "Czech", "Český", "Čeština"),
    _lang("da", "Danish", "Dansk"),
    _lang("dv", "Divehi"),
    _lang("nl", "Dutch", "Nederlands", aliases=("Flemish",)),
    _lang("dz", "Dzongkha"),
    _lang("en", "English", "English"),
    _lang("eo", "Esperanto", "Esperanto"),
    _lang("et", "Estonian", "Eesti"),
    _lang("ee", "Ewe", "Èʋegbe"),
    _lang("fo", "Faroese"),
    _lang("fj", "Fijian"),
    _lang("fi", "Finnish", "suomi"),
    _lang("fr", "French", "Français"),
    _lang("fy", "Frisian"),
    _lang("ff", "Fulah", "Fulfulde"),
    _lang("gd", "Gaelic", aliases=("Scottish Gaelic",)),
    _lang("gl", "Galician", "Galego"),
    _lang("lg", "Ganda"),
    _lang("ka", "Georgian", "ქართული"),
    _lang("de", "German", "Deutsch"),
    _lang("el", "Greek", "ελληνικά"),
    _lang("gn", "Guarani"),
    _lang("gu", "Gujarati", "ગુજરાતી"),
    _lang("ht", "Haitian", aliases=("Haitian Creole",)),
    _lang("ha", "Hausa", "Hausa"),
    _lang("he", "Hebrew", "עִבְרִית", "עברית"),
    _lang("hz", "Herero"),
    _lang("hi", "Hindi", "हिन्दी"),
    _lang("ho", "Hiri Motu"),
    _lang("hu", "Hungarian", "Magyar"),
    _lang("is", "Icelandic", "Íslenska"),
    _lang("io", "Ido"),
    _lang("ig", "Igbo"),
    _lang("id", "Indonesian", "Bahasa indonesia"),
    _lang("ia", "Interlingua"),
    _lang("ie", "Interlingue"),
    _lang("iu", "Inuktitut"),
    _lang("ik", "Inupiaq"),
    _lang("ga", "Irish", "Gaeilge"),
    _lang("it", "Italian", "Italiano"),
    _lang("ja", "Japanese", "日本語"),
    _lang("jv", "Javanese"),
    _lang("kl", "Kalaallisut", aliases=("Greenlandic",)),
    _lang("kn", "Kannada", "ಕನ್ನಡ"),
    _lang("kr", "Kanuri"),
    _lang("ks", "Kashmiri"),
    _lang("kk", "Kazakh", "қазақ"),
    _lang("km", "Khmer"),
    _lang("ki", "Kikuyu"),
    _lang("rw", "Kinyarwanda", "Kinyarwanda"),
    _lang("ky", "Kyrgyz", "Кыргызча", aliases=("Kirghiz",)),
    _lang("kv", "Komi"),
    _lang("kg", "Kongo"),
    _lang("ko", "Korean", "한국어/조선말", aliases=("한국어", "조선말")),
    _lang("kj", "Kuanyama"),
    _lang("ku", "Kurdish"),
    _lang("lo", "Lao"),
    _lang("la", "Latin", "Latin", "Latine"),
    _lang("lv", "Latvian", "Latviešu"),
    _lang("lb", "Luxembourgish", aliases=("Letzeburgesch",)),
    _lang("li", "Limburgish"),
    _lang("ln", "Lingala"),
    _lang("lt", "Lithuanian", "Lietuvių"),
    _lang("lu", "Luba-Katanga"),
    _lang("mk", "Macedonian", "македонски јазик"),
    _lang("mg", "Malagasy"),
    _lang("ms", "Malay", "Bahasa melayu"),
    _lang("ml", "Malayalam", "മലയാളം"),
    _lang("mt", "Maltese", "Malti"),
    _lang("gv", "Manx"),
    _lang("mi", "Maori"),
    _lang("mr", "Marathi", "मराठी"),
    _lang("mh", "Marshallese", aliases=("Marshall",)),
    _lang("mo", "Moldavian"),
    _lang("mn", "Mongolian", "Монгол"),
    _lang("na", "Nauru"),
    _lang("nv", "Navajo"),
    _lang("nd", "North Ndebele"),
    _lang("nr", "South Ndebele"),
    _lang("ng", "Ndonga"),
    _lang("ne", "Nepali", "नेपाली"),
    _lang("se", "Northern Sami"),
    _lang("no", "Norwegian", "Norsk"),
    _lang("nb", "Norwegian Bokmål", "Bokmål"),
    _lang("nn", "Norwegian Nynorsk", "Nynorsk"),
    _lang("oc", "Occitan"),
    _lang("oj", "Ojibwa"),
    _lang("or", "Oriya", aliases=("Odia",)),
    _lang("om", "Oromo"),
    _lang("os", "Ossetian"),
    _lang("pi", "Pali"),
    _lang("ps", "Pashto", "پښتو", aliases=("Pushto",)),
    _lang("fa", "Persian", "فارسی", aliases=("Farsi",)),
    _lang("pl", "Polish", "Polski"),
    _lang("pt", "Portuguese", "Português"),
    _lang("pa", "Punjabi", "ਪੰਜਾਬੀ"),
    _lang("qu", "Quechua"),
    _lang("rm", "Romansh", aliases=("Raeto-Romance",)),
    _lang("ro", "Romanian", "Română"),
    _lang("rn", "Rundi", "Kirundi"),
    # TMDB writes Russian with a Latin capital P; the Cyrillic spelling is accepted too.
    _lang("ru", "Russian", "Pусский", "Русский"),
    _lang("sm", "Samoan"),
    _lang("sg", "Sango"),
    _lang("sa", "Sanskrit"),
    _lang("sc", "Sardinian"),
    _lang("sr", "Serbian", "Srpski", "Српски"),
    _lang("sh", "Serbo-Croatian"),
    _lang("sn", "Shona"),
    _lang("ii", "Sichuan Yi", aliases=("Yi",)),
    _lang("sd", "Sindhi"),
    _lang("si", "Sinhala", "සිංහල", aliases=("Sinhalese",)),
    _lang("sk", "Slovak", "Slovenčina"),
    _lang("sl", "Slovenian", "Slovenščina", aliases=("Slovene",)),
    _lang("so", "Somali", "Somali"),
    _lang("st", "Sotho"),
    _lang("es", "Spanish", "Español", aliases=("Castilian", "Castellano")),
    _lang("su", "Sundanese"),
    _lang("sw", "Swahili", "Kiswahili"),
    _lang("ss", "Swati"),
    _lang("sv", "Swedish", "svenska"),
    _lang("tl", "Tagalog", aliases=("Filipino",)),
    _lang("ty", "Tahitian"),
    _lang("tg", "Tajik"),
    _lang("ta", "Tamil", "தமிழ்"),
    _lang("tt", "Tatar"),
    _lang("te", "Telugu", "తెలుగు"),
    _lang("th", "Thai", "ภาษาไทย"),
    _lang("bo", "Tibetan"),
    _lang("ti", "Tigrinya"),
    _lang("to", "Tonga"),
    _lang("ts", "Tsonga"),
    _lang("tn", "Tswana"),
    _lang("tr", "Turkish", "Türkçe"),
    _lang("tk", "Turkmen"),
    _lang("tw", "Twi"),
    _lang("ug", "Uyghur", aliases=("Uighur",)),
    _lang("uk", "Ukrainian", "Український", "Українська"),
    _lang("ur", "Urdu", "اردو"),
    _lang("uz", "Uzbek", "ozbek", "Oʻzbek"),
    _lang("ve", "Venda"),
    _lang("vi", "Vietnamese", "Tiếng Việt"),
    _lang("vo", "Volapük"),
    _lang("wa", "Walloon"),
    _lang("cy", "Welsh", "Cymraeg"),
    _lang("wo", "Wolof", "Wolof"),
    _lang("xh", "Xhosa", "isiXhosa"),
    _lang("yi", "Yiddish", "ייִדיש"),
    _lang("yo", "Yoruba", "Èdè Yorùbá"),
    _lang("za", "Zhuang"),
    _lang("zh", "Chinese", "普通话", "中文", aliases=("Mandarin", "汉语", "漢語")),
    _lang("zu", "Zulu", "isiZulu"),
)

BY_CODE: dict[str, Language] = {language.code: language for language in LANGUAGES}

# Cyrillic and Greek letters that look like Latin ones: the data mixes them ('Pусский').
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    }
)  # fmt: skip


def name_key(name: str) -> str:
    """A name folded for matching: case, accents, spacing and look-alike letters ignored."""
    decomposed = unicodedata.normalize("NFKD", name.strip().casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.translate(_LOOKALIKES).split())


@lru_cache(maxsize=1)
def _by_name() -> dict[str, Language]:
    index: dict[str, Language] = {}
    for language in LANGUAGES:
        for name in (*language.names, *language.aliases):
            index.setdefault(name_key(name), language)
    return index


def is_code(value: str) -> bool:
    """Looks like a language code as `original_language` stores it (2-3 ASCII letters)."""
    return 2 <= len(value) <= 3 and value.isascii() and value.isalpha()


def find_language(value: str) -> Language | None:
    """The language a code or a name (English or native, any case) stands for, if known."""
    value = value.strip()
    if is_code(value) and value.lower() in BY_CODE:
        return BY_CODE[value.lower()]
    return _by_name().get(name_key(value))


def language_code(value: str) -> str:
    """The `original_language` code for a code or a language name.

    An unknown 2-3 letter code is passed through lowercased (the data may hold codes this table
    does not list); an unknown name raises ValueError.
    """
    value = value.strip()
    language = find_language(value)
    if language is not None:
        return language.code
    if is_code(value):
        return value.lower()
    raise ValueError(f"unknown language {value!r}: give an ISO 639-1 code or a language name")


def spoken_names(value: str) -> tuple[str, ...]:
    """Every spelling of a spoken language the `languages` column may hold.

    A known code or name gives all the language's names (native spellings and the English
    name); anything else is matched as written.
    """
    value = value.strip()
    if not value:
        raise ValueError("spoken_language must not be empty")
    language = find_language(value)
    if language is None:
        return (value,)
    return language.names
