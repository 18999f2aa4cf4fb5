"""Synthetic movies straight into the movies table, fast (one INSERT ... SELECT generate_series).

For the query benchmark (bench/api.py) and the index test
(tests/integration/test_movie_query_plans.py). The shares imitate the TMDB export: English for
most movies and a long tail of other languages, recent years more common, 2% without a release
date, unrated (NULL vote_average) when there are no votes, revenue and budget mostly unknown
(NULL), spoken languages by their native names (Russian with the export's Latin 'P').
Deterministic for a given row count.

    load_movies(conn, rows=1_000_000)   # ~1 minute for 1M rows on 2 cores, indexes included
"""

from __future__ import annotations

import time

import psycopg

from functions.core.ingest.rebuild import movie_indexes

INSERT_MOVIES = """
WITH words AS (
    SELECT ARRAY[
        'love', 'story', 'night', 'dark', 'city', 'last', 'man', 'woman', 'war', 'life',
        'house', 'blood', 'girl', 'boy', 'dead', 'world', 'time', 'star', 'king', 'queen',
        'secret', 'summer', 'winter', 'return', 'fire', 'ice', 'river', 'road', 'dream',
        'heart', 'shadow', 'ghost', 'island', 'moon', 'sun', 'black', 'white', 'red', 'blue',
        'golden', 'lost', 'wild', 'little', 'big', 'great', 'first', 'final', 'silent',
        'hidden', 'broken', 'empire', 'kingdom', 'garden', 'forest', 'ocean', 'mountain',
        'desert', 'storm', 'rain', 'wind', 'angel', 'devil', 'hero', 'stranger', 'family',
        'brother', 'sister', 'mother', 'father', 'child', 'journey', 'escape', 'revenge',
        'promise', 'game', 'song', 'dance', 'murder', 'money', 'power', 'street', 'station',
        'hotel', 'school', 'prison', 'palace', 'village', 'harbor', 'bridge', 'tower', 'paris',
        'tokyo', 'berlin', 'rome', 'moscow', 'london', 'madrid', 'seoul', 'mumbai', 'cairo',
        'wolf', 'tiger', 'dragon', 'horse', 'bird', 'snake', 'lion', 'bear', 'fox', 'eagle',
        'zero', 'one', 'three', 'seven', 'hundred', 'thousand', 'million', 'double', 'half',
        'twice'
    ] AS w
),
base AS (
    SELECT g,
           random() AS u_lang, random() AS u_date, random() AS u_votes, random() AS u_avg,
           random() AS u_rev, random() AS u_budget, random() AS u_spoken, random() AS u_genre,
           random() AS u_w1, random() AS u_w2, random() AS u_w3, random() AS u_title_len
    FROM generate_series(1, %(rows)s) AS g
),
shaped AS (
    SELECT b.*,
           CASE
               WHEN u_lang < 0.62 THEN 'en' WHEN u_lang < 0.68 THEN 'fr'
               WHEN u_lang < 0.72 THEN 'it' WHEN u_lang < 0.76 THEN 'ja'
               WHEN u_lang < 0.795 THEN 'de' WHEN u_lang < 0.825 THEN 'es'
               WHEN u_lang < 0.85 THEN 'ru' WHEN u_lang < 0.87 THEN 'hi'
               WHEN u_lang < 0.885 THEN 'ko' WHEN u_lang < 0.90 THEN 'zh'
               WHEN u_lang < 0.91 THEN 'cn' WHEN u_lang < 0.92 THEN 'sv'
               WHEN u_lang < 0.93 THEN 'pt' WHEN u_lang < 0.94 THEN 'da'
               WHEN u_lang < 0.95 THEN 'nl' WHEN u_lang < 0.96 THEN 'pl'
               WHEN u_lang < 0.97 THEN 'tr' WHEN u_lang < 0.98 THEN 'fi'
               WHEN u_lang < 0.99 THEN 'el' ELSE 'xx'
           END AS lang,
           CASE WHEN u_votes < 0.08 THEN 0 ELSE floor(exp(u_votes * 9.5))::int END AS votes
    FROM base b
)
INSERT INTO movies (
    title, original_title, original_language, overview, release_date, budget, revenue, runtime,
    status, vote_average, vote_count, production_company_id, genre_id, homepage, languages
)
SELECT
    title, title, lang,
    'A story about ' || title || '. ' || repeat(md5(g::text), 5),
    CASE WHEN u_date < 0.02 THEN NULL
         ELSE date '1900-01-01' + floor(power((u_date - 0.02) / 0.98, 0.4) * 45600)::int END,
    CASE WHEN u_budget < 0.75 THEN NULL ELSE 10000 + floor(u_budget * 200000000)::bigint END,
    CASE WHEN u_rev < 0.85 THEN NULL ELSE 1000 + floor(power(u_rev, 8) * 2000000000)::bigint END,
    60 + (g %% 120),
    CASE WHEN g %% 37 = 0 THEN 'Post Production' ELSE 'Released' END,
    CASE WHEN votes = 0 THEN NULL ELSE round((1 + u_avg * 9)::numeric, 1)::real END,
    votes,
    1 + (g::bigint * 7919) %% 20000,
    (ARRAY[28, 12, 16, 35, 80, 99, 18, 10751, 14, 36, 27, 10402, 9648, 10749, 878, 10770, 53,
           10752, 37])[1 + floor(u_genre * 19)::int],
    CASE WHEN g %% 10 = 0 THEN 'https://example.org/movie/' || g END,
    CASE
        WHEN u_spoken < 0.05 THEN '{}'::text[]
        ELSE array_remove(ARRAY[
            CASE lang
                WHEN 'en' THEN 'English' WHEN 'fr' THEN 'Français' WHEN 'it' THEN 'Italiano'
                WHEN 'ja' THEN '日本語' WHEN 'de' THEN 'Deutsch' WHEN 'es' THEN 'Español'
                WHEN 'ru' THEN 'Pусский' WHEN 'hi' THEN 'हिन्दी' WHEN 'ko' THEN '한국어/조선말'
                WHEN 'zh' THEN '普通话' WHEN 'cn' THEN '广州话 / 廣州話' WHEN 'sv' THEN 'svenska'
                WHEN 'pt' THEN 'Português' WHEN 'da' THEN 'Dansk' WHEN 'nl' THEN 'Nederlands'
                WHEN 'pl' THEN 'Polski' WHEN 'tr' THEN 'Türkçe' WHEN 'fi' THEN 'suomi'
                WHEN 'el' THEN 'ελληνικά' ELSE 'No Language'
            END,
            CASE WHEN u_spoken > 0.80 AND lang <> 'en' THEN 'English' END,
            CASE WHEN u_spoken > 0.90 AND lang <> 'fr' THEN 'Français' END,
            CASE WHEN u_spoken > 0.96 AND lang <> 'es' THEN 'Español' END,
            CASE WHEN u_spoken > 0.985 AND lang <> 'ru' THEN 'Pусский' END,
            CASE WHEN u_spoken > 0.995 THEN 'Latin' END
        ], NULL)
    END
FROM (
    SELECT s.*,
           initcap(
               w[1 + floor(u_w1 * 120)::int] || ' ' || w[1 + floor(u_w2 * 120)::int]
               || CASE WHEN u_title_len < 0.6 THEN ' ' || w[1 + floor(u_w3 * 120)::int] ELSE '' END
           ) || CASE WHEN g %% 3 = 0 THEN ' ' || (1 + g %% 9)::text ELSE '' END AS title
    FROM shaped s, words
) AS titled
ON CONFLICT ON CONSTRAINT movies_natural_key DO NOTHING
"""


def load_movies(conn: psycopg.Connection, rows: int) -> dict[str, float]:
    """Empty `movies` and fill it with `rows` synthetic movies (a few fewer: duplicates of the
    natural key are skipped); the query indexes (those of the migrations, whatever they are) are
    dropped during the load and built after,
    then the table is vacuumed and analysed. `conn` must be in autocommit mode. Returns timings.
    """
    timings: dict[str, float] = {}
    indexes = movie_indexes(conn)
    start = time.perf_counter()
    conn.execute("TRUNCATE movies RESTART IDENTITY CASCADE")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    with conn.transaction():
        conn.execute("SELECT setseed(0.42)")
        conn.execute(INSERT_MOVIES, {"rows": rows})
    timings["insert_s"] = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '256MB'")
    for _, statement in indexes:
        conn.execute(statement)
    timings["indexes_s"] = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute("VACUUM (ANALYZE) movies")
    timings["vacuum_analyze_s"] = time.perf_counter() - start
    return timings
