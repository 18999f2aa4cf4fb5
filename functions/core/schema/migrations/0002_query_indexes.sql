-- Indexes for the movie listing (functions/core/queries.py, docs/api-movies.md).
-- depends: 0001_schema
--
-- Every order is `<column> <dir> NULLS LAST, id <dir>`: NULLs last in both directions needs one
-- index per direction for a nullable column (a backward scan would put the NULLs first).
-- `title` is NOT NULL, so one index serves both directions; `id` order has its own.
--
-- The sort indexes carry the columns of the cheap filters (INCLUDE), and the listing finds a
-- page's ids first (a deferred join): filtering while walking a sort index then happens inside
-- the index (index-only scan), reading only the page's rows from the table.
-- Year filters are release_date ranges, so release_date is the carried year column.

CREATE INDEX movies_id_sorted ON movies (id)
    INCLUDE (release_date, original_language, genre_id, vote_count);
CREATE INDEX movies_release_date_asc ON movies (release_date ASC NULLS LAST, id ASC)
    INCLUDE (original_language, genre_id, vote_count);
CREATE INDEX movies_release_date_desc ON movies (release_date DESC NULLS LAST, id DESC)
    INCLUDE (original_language, genre_id, vote_count);
CREATE INDEX movies_vote_average_asc ON movies (vote_average ASC NULLS LAST, id ASC)
    INCLUDE (release_date, original_language, genre_id, vote_count);
CREATE INDEX movies_vote_average_desc ON movies (vote_average DESC NULLS LAST, id DESC)
    INCLUDE (release_date, original_language, genre_id, vote_count);
CREATE INDEX movies_vote_count_asc ON movies (vote_count ASC NULLS LAST, id ASC)
    INCLUDE (release_date, original_language, genre_id);
CREATE INDEX movies_vote_count_desc ON movies (vote_count DESC NULLS LAST, id DESC)
    INCLUDE (release_date, original_language, genre_id);
CREATE INDEX movies_revenue_asc ON movies (revenue ASC NULLS LAST, id ASC)
    INCLUDE (release_date, original_language, genre_id, vote_count);
CREATE INDEX movies_revenue_desc ON movies (revenue DESC NULLS LAST, id DESC)
    INCLUDE (release_date, original_language, genre_id, vote_count);
CREATE INDEX movies_title_id ON movies (title, id)
    INCLUDE (release_date, original_language, genre_id, vote_count);

-- language= alone or with years (the seed's pair), and genre_id=: equality prefixes. The
-- language one carries the numeric sort columns, so `language + release_year + sort_by=
-- vote_average` reads one language-year slice from the index alone and sorts it.
CREATE INDEX movies_language_release_date ON movies (original_language, release_date, id)
    INCLUDE (vote_average, vote_count, revenue, genre_id);
CREATE INDEX movies_genre_id ON movies (genre_id, id);

-- spoken_language= (languages && ARRAY[...]) and q= (title ILIKE '%...%').
CREATE INDEX movies_languages_gin ON movies USING gin (languages);
CREATE INDEX movies_title_trgm ON movies USING gin (title gin_trgm_ops);
