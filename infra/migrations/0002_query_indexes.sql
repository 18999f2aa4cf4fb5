-- Indexes for the movie listing (functions/core/queries.py, docs/api-movies.md).
-- depends: 0001_schema
--
-- Every order is `<column> <dir> NULLS LAST, id <dir>`: NULLs last in both directions needs one
-- index per direction for a nullable column (a backward scan would put the NULLs first).
-- `title` is NOT NULL, so one index serves both directions. `id` order uses the primary key.
-- Year filters are rewritten to release_date ranges, so the release_date indexes serve them.

CREATE INDEX movies_release_date_asc  ON movies (release_date ASC NULLS LAST, id ASC);
CREATE INDEX movies_release_date_desc ON movies (release_date DESC NULLS LAST, id DESC);
CREATE INDEX movies_vote_average_asc  ON movies (vote_average ASC NULLS LAST, id ASC);
CREATE INDEX movies_vote_average_desc ON movies (vote_average DESC NULLS LAST, id DESC);
CREATE INDEX movies_vote_count_asc    ON movies (vote_count ASC NULLS LAST, id ASC);
CREATE INDEX movies_vote_count_desc   ON movies (vote_count DESC NULLS LAST, id DESC);
CREATE INDEX movies_revenue_asc       ON movies (revenue ASC NULLS LAST, id ASC);
CREATE INDEX movies_revenue_desc      ON movies (revenue DESC NULLS LAST, id DESC);
CREATE INDEX movies_title_id          ON movies (title, id);

-- language= (original_language), alone or with a year range; also the seed's favourite
-- combination language + release_year + sort_by=vote_average goes through this prefix.
CREATE INDEX movies_language_release_date ON movies (original_language, release_date, id);

-- genre_id=
CREATE INDEX movies_genre_id ON movies (genre_id, id);

-- spoken_language= (languages && ARRAY[...]) and q= (title ILIKE '%...%').
CREATE INDEX movies_languages_gin ON movies USING gin (languages);
CREATE INDEX movies_title_trgm    ON movies USING gin (title gin_trgm_ops);
