"""Synthetic movie CSV files in the real TMDB export format, for the ingestion benchmark.

    python bench/generate.py --rows 1000000   # -> bench/out/movies-v1-r1000000-s42-b10000.csv

The file has the quirks of the real export (../shared/DESIGN.md "Data facts"; the first rows of
the real file are in tests/data/movies_sample_real.csv): CRLF line endings; budget, revenue and
vote_count written as floats (`30000000.0`), runtime a plain int; `0.0` for unknown money; an
empty homepage in most rows; overviews CSV-quoted when they hold commas, doubled quotes or (rarely)
newlines; `languages` a Python list literal, CSV-quoted only when it has several names, names in
their own script (Russian spelt with a Latin P, as in the real file); a few empty release dates;
`vote_average` 0.0 with 0 votes; a few very long titles and homepages; a few movies repeated
(exactly, or with changed votes); a small share of rows with a stray non-UTF-8 byte
(cp1252/latin-1), which the pipeline replaces rather than rejects; and one deliberately bad row
every `bad_every` records, cycling through `BAD_KINDS`, each of which the pipeline must reject.

It is deterministic (the same rows, seed and bad_every give the same bytes), written as a stream
(memory stays flat whatever the row count) and cached under bench/out/. Beside each file a
`.json` manifest records what the pipeline should report for it when loaded into an empty
database: `rows` received, the `bad_lines` it must reject (line where each record starts, header
= line 1) and `expected_inserted` (distinct natural keys among the good rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

GENERATOR_VERSION = 1  # bump when the output for a given (rows, seed, bad_every) changes
DEFAULT_ROWS = 1_000_000
DEFAULT_SEED = 42
OUT_DIR = Path(__file__).resolve().parent / "out"

# The column order of the real export.
HEADER = (
    "budget",
    "homepage",
    "original_language",
    "original_title",
    "overview",
    "release_date",
    "revenue",
    "runtime",
    "status",
    "title",
    "vote_average",
    "vote_count",
    "production_company_id",
    "genre_id",
    "languages",
)
COL = {name: i for i, name in enumerate(HEADER)}

# Shares of rows with each quirk (per row, independent draws).
P_HOMEPAGE = 0.17
P_LONG_HOMEPAGE = 0.005  # of the rows with a homepage
P_LONG_TITLE = 0.0005
P_NO_DATE = 0.003
P_NO_VOTES = 0.03
P_BUDGET_KNOWN = 0.25
P_REVENUE_KNOWN = 0.20
P_STRAY_BYTE = 0.001
P_DUPLICATE = 0.002
P_OVERVIEW_NEWLINE = 0.002
P_NO_OVERVIEW = 0.02
P_SEVERAL_LANGUAGES = 0.25

# original_language -> (weight, spoken-language name in its own script, words for titles)
LANGUAGES: dict[str, tuple[int, str, tuple[str, ...]]] = {
    "en": (700, "English", ()),
    "fr": (60, "Français", ("Le", "La", "Nuit", "Amour", "Ville", "Été", "Mémoire", "Rêve")),
    "it": (30, "Italiano", ("Il", "La", "Notte", "Amore", "Città", "Ritorno", "Estate")),
    "ja": (30, "日本語", ("東京", "物語", "夜", "侍", "風", "の", "花", "海")),
    "de": (30, "Deutsch", ("Der", "Die", "Nacht", "Stadt", "Liebe", "Rückkehr", "Straße")),
    "es": (30, "Español", ("El", "La", "Noche", "Ciudad", "Amor", "Niño", "Señor")),
    "ru": (20, "Pусский", ("Ночь", "Город", "Любовь", "Война", "Мир", "Брат", "Зима")),
    "zh": (15, "普通话", ("夜", "城市", "爱情", "英雄", "江湖", "春天", "故事")),
    "ko": (15, "한국어/조선말", ("밤", "도시", "사랑", "기억", "여름", "전쟁", "형제")),
    "hi": (15, "हिन्दी", ("रात", "शहर", "प्यार", "दिल", "कहानी", "सपना")),
    "pt": (10, "Português", ("A", "O", "Noite", "Cidade", "Amor", "Saudade", "Coração")),
    "sv": (8, "svenska", ("Natten", "Staden", "Kärlek", "Sommar", "Hösten")),
    "ar": (5, "العربية", ("الليل", "المدينة", "الحب", "الحرب")),
    "el": (5, "ελληνικά", ("Νύχτα", "Πόλη", "Αγάπη", "Θάλασσα")),
    "tr": (5, "Türkçe", ("Gece", "Şehir", "Aşk", "Yaz", "Kardeş")),
    "pl": (5, "Polski", ("Noc", "Miasto", "Miłość", "Zima", "Wojna")),
    "xx": (2, "No Language", ()),
}
EXTRA_LANGUAGE_NAMES = (*(name for _, name, _ in LANGUAGES.values()), "Latin", "Deutsch")

ADJECTIVES = (
    "Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Lonely", "Dark", "Eternal",
    "Wild", "Forgotten", "Burning", "Frozen", "Secret", "Lost", "Distant", "Savage", "Gentle",
    "Midnight", "Electric", "Hollow", "Iron", "Velvet", "Stolen", "Endless", "Bitter", "Brave",
    "Quiet", "Restless", "Scarlet", "Shattered", "Sudden", "Fallen", "Haunted", "Little",
    "Final", "Second", "Invisible", "Paper", "Glass", "Northern", "Southern", "Radiant",
    "Reckless", "Sweet", "Strange", "Perfect", "Deadly", "Sacred", "Wicked", "Blue", "Black",
    "White", "Red", "Green", "Grand", "Tiny", "Fearless", "Hungry", "Lucky",
)  # fmt: skip
NOUNS = (
    "River", "Heart", "City", "Night", "Empire", "Garden", "Road", "Storm", "Kingdom",
    "Shadow", "Dream", "Promise", "Harbor", "Mountain", "Game", "Letter", "Machine", "Song",
    "Summer", "Winter", "Island", "Station", "Bridge", "Circus", "Detective", "Hotel", "Wolf",
    "Dragon", "Sister", "Brother", "Mother", "Father", "Stranger", "Soldier", "Queen", "King",
    "Thief", "Witness", "Rider", "Hunter", "Doctor", "Teacher", "Angel", "Ghost", "Planet",
    "Frontier", "Voyage", "Escape", "Affair", "Secret", "Legacy", "Horizon", "Mirror", "Window",
    "Door", "Tower", "Forest", "Ocean", "Desert", "Valley", "Canyon", "Lighthouse", "Carnival",
    "Orchestra", "Symphony", "Ballad", "Reunion", "Wedding", "Funeral", "Heist", "Journey",
    "Crossing", "Harvest", "Sky", "Moon", "Sun", "Star", "Fire", "Rain", "Snow",
)  # fmt: skip
TAILS = (
    "",
    *(
        f" {link} {place}"
        for link, places in (
            (
                "of",
                ("Paris", "Rome", "the North", "the Sea", "Glass", "Fire", "Tomorrow", "Silence"),
            ),
            ("in", ("Tokyo", "Berlin", "Winter", "the Dark", "Love", "Harlem", "Havana", "Space")),
            ("at", ("Dawn", "Midnight", "the End", "Sea", "War", "Noon", "Twilight", "Home")),
            ("from", ("Mars", "Nowhere", "Texas", "the Past", "Above", "Below", "Venus", "Hell")),
            ("for", ("Hire", "Sale", "Ever", "Tonight", "Two", "Nothing", "Life", "Love")),
            ("on", ("Fire", "Ice", "Trial", "the Run", "Broadway", "Mars", "Time", "Earth")),
            ("with", ("Wings", "Love", "Fire", "Ghosts", "Wolves", "Honor", "Strangers", "Me")),
            ("without", ("End", "Mercy", "Fear", "Words", "Name", "Shadow", "Rules", "Love")),
        )
        for place in places
    ),
)
PREFIXES = ("", "The ")
for _words in (ADJECTIVES, NOUNS, TAILS):  # distinct words make distinct titles
    assert len(set(_words)) == len(_words), _words
TITLE_SPACE = len(PREFIXES) * len(ADJECTIVES) * len(NOUNS) * len(TAILS)
TITLE_STRIDE = 7919  # prime, coprime to TITLE_SPACE: scatters consecutive rows over the space

SENTENCES = (
    "Led by {a}, {b}'s friends live happily until a stranger arrives in town",
    "When {a} and {b} discover an old map, they unwittingly open the door to a hidden world",
    "A family wedding reignites the ancient feud between {a} and {b}",
    "{a}, a retired detective, is pulled back for one last case",
    "Cheated on, mistreated and stepped on, {a} is waiting for the elusive \"good man\"",
    "Obsessive master thief {a} leads a top-notch crew on various insane heists",
    "An ugly duckling having undergone a remarkable change, {a} still harbors feelings for {b}",
    "{a} must unmask the mysterious head of the syndicate before it is too late",
    "Based on the novel by {b}, the film follows {a} across three decades",
    "Nobody believes {a} when she says the house is \"alive\"",
    "In a small town where nothing happens, {a} and {b} decide to make something happen",
    "A mischievous young boy, {a}, witnesses a crime and must choose between friend and truth",
    "Years later, {b} returns home to face the past",
    "The documentary follows {a} on a journey of 4,000 miles",
    "{a} -- who has been trapped for 26 years -- finally sees a way out",
    "Tension-packed and full of suspense, it is set against the back-drop of a championship game",
)  # fmt: skip
NAMES = (
    "Woody", "Andy", "Judy", "Peter", "Alan", "Max", "Nina", "George", "Vannah", "Bernie",
    "Neil", "Vincent", "Tom", "Huck", "Elena", "Ravi", "Yuki", "Marta", "Kofi", "Ines",
    "Sven", "Olga", "Chen", "Amara", "Diego", "Hana", "Jean Claude", "O'Brien",
)  # fmt: skip
STATUSES = (
    ("Released",) * 980
    + ("Post Production",) * 6
    + ("Rumored",) * 6
    + ("In Production",) * 4
    + ("Planned",) * 2
    + ("Canceled",)
    + ("",)
)
GENRES = (28, 12, 16, 35, 80, 99, 18, 10751, 14, 36, 27, 10402, 9648, 10749, 878, 10770, 53)
FIRST_DAY = date(1900, 1, 1).toordinal()
LAST_DAY = date(2020, 12, 31).toordinal()
# Stray bytes as they appear in the real file: cp1252/latin-1 text among UTF-8, written with
# surrogateescape so each becomes one raw byte that is not valid UTF-8.
STRAY = ("\udce9", "\udce7", "\udc92", "\udcf1", "\udcfc", "\udcb4")

Row = list[str]


def _bad(kind: str, change: Callable[[Row], Row]) -> tuple[str, Callable[[Row], Row]]:
    return kind, change


def _set(row: Row, column: str, value: str) -> Row:
    row[COL[column]] = value
    return row


# Each kind turns a good row into one the pipeline must reject.
BAD_KINDS: tuple[tuple[str, Callable[[Row], Row]], ...] = (
    _bad("empty title", lambda r: _set(r, "title", "")),
    _bad("title longer than 500", lambda r: _set(r, "title", (r[COL["title"]] + " ") * 80)),
    _bad("a field missing", lambda r: r[:-1]),
    _bad("an extra field", lambda r: [*r, "surplus"]),
    _bad("impossible date", lambda r: _set(r, "release_date", "1995-02-30")),
    _bad("date not ISO", lambda r: _set(r, "release_date", "30/12/1995")),
    _bad("rating above 10", lambda r: _set(r, "vote_average", "11.5")),
    _bad("negative runtime", lambda r: _set(r, "runtime", "-90")),
    _bad("fractional budget", lambda r: _set(r, "budget", "1500000.5")),
    _bad("revenue not a number", lambda r: _set(r, "revenue", "n/a")),
    _bad("languages is code", lambda r: _set(r, "languages", "__import__('os').getcwd()")),
    _bad("languages unterminated", lambda r: _set(r, "languages", "['English', 'Fran")),
    _bad("language code invalid", lambda r: _set(r, "original_language", "english (us)")),
    _bad("vote_count too large", lambda r: _set(r, "vote_count", "9999999999.0")),
)


def default_bad_every(rows: int) -> int:
    """About one bad row per 10,000, but every kind at least twice in a small file."""
    return max(50, min(10_000, rows // (2 * len(BAD_KINDS))))


@dataclass
class Manifest:
    """What the file holds, and what ingesting it into an empty database must report."""

    rows: int  # records after the header (= `received`)
    seed: int
    bad_every: int
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line, kind)
    duplicates: int = 0  # records repeating an earlier record's natural key
    expected_inserted: int = 0  # distinct natural keys among the good records
    stray_byte_rows: int = 0
    size_bytes: int = 0
    generator_version: int = GENERATOR_VERSION
    seconds: float = 0.0

    @property
    def expected_rejected(self) -> int:
        return len(self.bad_lines)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        data["bad_lines"] = [tuple(pair) for pair in data["bad_lines"]]
        return cls(**data)


class _Movies:
    """Good rows, one per call, from one seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        languages = []
        for code, (weight, _, _) in LANGUAGES.items():
            languages += [code] * weight
        self.language_table = tuple(languages)
        self.overviews = tuple(self._overview() for _ in range(4096))
        self.stray_byte_rows = 0

    def _overview(self) -> str:
        rng = self.rng
        sentences = []
        for _ in range(rng.randint(2, 6)):
            a, b = rng.sample(NAMES, 2)
            sentences.append(rng.choice(SENTENCES).format(a=a, b=b))
        return ". ".join(sentences) + rng.choice((".", ".", ".", "...", "!"))

    def title(self, index: int) -> str:
        """A title unique to `index`: a scattered point of the title space, then a sequel number."""
        point = index * TITLE_STRIDE % TITLE_SPACE
        point, tail = divmod(point, len(TAILS))
        point, noun = divmod(point, len(NOUNS))
        prefix, adjective = divmod(point, len(ADJECTIVES))
        title = f"{PREFIXES[prefix]}{ADJECTIVES[adjective]} {NOUNS[noun]}{TAILS[tail]}"
        sequel = index // TITLE_SPACE
        return f"{title} {sequel + 1}" if sequel else title

    def row(self, index: int) -> Row:
        rng = self.rng
        random_ = rng.random
        title = self.title(index)
        if random_() < P_LONG_TITLE:
            subtitle = " ".join(rng.choices(NOUNS + ADJECTIVES, k=rng.randint(30, 55)))
            title = f"{title}: {subtitle}"[:480].rstrip()
        code = self.language_table[int(random_() * len(self.language_table))]
        _, native, words = LANGUAGES[code]
        original_title = " ".join(rng.sample(words, 3)) if words else title
        names = [native]
        if random_() < P_SEVERAL_LANGUAGES:
            names += rng.sample(EXTRA_LANGUAGE_NAMES, rng.randint(1, 3))
            names = list(dict.fromkeys(names))
        if random_() < P_NO_OVERVIEW:
            overview = ""
        else:
            overview = self.overviews[int(random_() * len(self.overviews))]
            if random_() < P_OVERVIEW_NEWLINE:
                overview = f"{overview}\n\nFilmed on location."
        homepage = ""
        if random_() < P_HOMEPAGE:
            slug = title.lower().replace(" ", "")[:40]
            homepage = f"http://www.{slug}.com/"
            if random_() < P_LONG_HOMEPAGE:
                homepage += "?" + "&".join(f"utm_p{i}={rng.getrandbits(64):x}" for i in range(120))
        if random_() < P_NO_VOTES:
            votes, average = "0.0", "0.0"
        else:
            votes = f"{int(rng.expovariate(1 / 400)) + 1}.0"
            average = f"{rng.uniform(2.0, 9.5):.1f}"
        budget = f"{rng.randint(1, 400) * 500_000}.0" if random_() < P_BUDGET_KNOWN else "0.0"
        revenue = f"{rng.randint(10_000, 900_000_000)}.0" if random_() < P_REVENUE_KNOWN else "0.0"
        released = (
            ""
            if random_() < P_NO_DATE
            else date.fromordinal(rng.randint(FIRST_DAY, LAST_DAY)).isoformat()
        )
        row = [
            budget,
            homepage,
            code,
            original_title,
            overview,
            released,
            revenue,
            str(max(1, int(rng.gauss(104, 22))) if random_() < 0.99 else 0),
            STATUSES[int(random_() * len(STATUSES))],
            title,
            average,
            votes,
            str(rng.randint(1, 99_999)),
            str(GENRES[int(random_() * len(GENRES))]),
            repr(names),
        ]
        if random_() < P_STRAY_BYTE:
            column = COL["overview"] if overview else COL["original_title"]
            text = row[column]
            at = rng.randrange(len(text))
            row[column] = text[:at] + rng.choice(STRAY) + text[at + 1 :]
            self.stray_byte_rows += 1
        return row


def generate(
    path: Path, rows: int, seed: int = DEFAULT_SEED, bad_every: int | None = None
) -> Manifest:
    """Write `rows` records to `path` (atomically) and its manifest beside it."""
    started = time.perf_counter()
    bad_every = bad_every or default_bad_every(rows)
    manifest = Manifest(rows=rows, seed=seed, bad_every=bad_every)
    rng = random.Random(seed)
    movies = _Movies(rng)
    recent: deque[Row] = deque(maxlen=256)  # good rows a duplicate may repeat
    overview_col, votes_col, average_col = COL["overview"], COL["vote_count"], COL["vote_average"]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    line = 2  # where the next record starts; the header is line 1
    with partial.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        for index in range(rows):
            if index % bad_every == bad_every // 2:
                kind, change = BAD_KINDS[(index // bad_every) % len(BAD_KINDS)]
                row = change(movies.row(index))
                manifest.bad_lines.append((line, kind))
            elif recent and rng.random() < P_DUPLICATE:
                row = list(recent[int(rng.random() * len(recent))])
                if rng.random() < 0.5:  # a later export of the same movie: votes moved on
                    row[votes_col] = f"{int(float(row[votes_col])) + 7}.0"
                    row[average_col] = f"{rng.uniform(2.0, 9.5):.1f}"
                manifest.duplicates += 1
            else:
                row = movies.row(index)
                recent.append(row)
                manifest.expected_inserted += 1
            writer.writerow(row)
            line += 1 + row[overview_col].count("\n")
    os.replace(partial, path)
    manifest.stray_byte_rows = movies.stray_byte_rows
    manifest.size_bytes = path.stat().st_size
    manifest.seconds = round(time.perf_counter() - started, 2)
    manifest.save(manifest_path(path))
    return manifest


def dataset_path(rows: int, seed: int = DEFAULT_SEED, bad_every: int | None = None) -> Path:
    bad_every = bad_every or default_bad_every(rows)
    return OUT_DIR / f"movies-v{GENERATOR_VERSION}-r{rows}-s{seed}-b{bad_every}.csv"


def manifest_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".json")


def cached_dataset(
    rows: int, seed: int = DEFAULT_SEED, bad_every: int | None = None
) -> tuple[Path, Manifest, bool]:
    """The file for (rows, seed, bad_every), generated unless already in bench/out/.

    Returns (path, manifest, generated_now).
    """
    path = dataset_path(rows, seed, bad_every)
    if path.is_file() and manifest_path(path).is_file():
        return path, Manifest.load(manifest_path(path)), False
    return path, generate(path, rows, seed, bad_every), True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a movie CSV in the real TMDB export format (deterministic, cached).",
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="records (default 1M)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--bad-every",
        type=int,
        help="one deliberately bad record every N (default: about 1 per 10,000, at least 50)",
    )
    parser.add_argument(
        "--out", type=Path, help="write here (and FILE.json) instead of the bench/out/ cache"
    )
    args = parser.parse_args(argv)
    if args.out:
        path, manifest, fresh = (
            args.out,
            generate(args.out, args.rows, args.seed, args.bad_every),
            True,
        )
    else:
        path, manifest, fresh = cached_dataset(args.rows, args.seed, args.bad_every)
    how = f"generated in {manifest.seconds:.1f} s" if fresh else "cached"
    print(
        f"{path} ({how}): {manifest.rows:,} records, {manifest.size_bytes / 1e6:,.1f} MB, "
        f"{manifest.expected_rejected} bad, {manifest.duplicates} duplicated, "
        f"{manifest.stray_byte_rows} with a stray byte",
        file=sys.stderr,
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
