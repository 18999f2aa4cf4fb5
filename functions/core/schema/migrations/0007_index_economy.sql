-- The listing's indexes, fewer and smaller (docs/api-movies.md "Indexes"; the orders they hold
-- are functions/core/catalogue/order.py, and their expressions must match it exactly).
-- depends: 0006_events
-- transactional: false
--
-- Built CONCURRENTLY, then the old ones dropped CONCURRENTLY: on a live catalogue readers keep
-- an index for every query throughout and writers are never blocked (an upload waits only for
-- its own statements). Outside a transaction, so an interrupted run leaves some of the new
-- indexes and some of the old: running it again completes it (IF [NOT] EXISTS). An index left
-- INVALID by an interrupted CONCURRENTLY build is dropped by `migrate` before it runs
-- (functions/core/schema/__init__.py), so the rerun builds it again.
--
-- One index per sort column holds both directions (order.py reads the NULLs as a stretch of
-- their own, from a small partial index); vote_average has one per direction, for its tie-break
-- on vote_count in both. No sort index carries INCLUDE columns: a filtered page checks the rows
-- it walks, or the planner takes the filter's own index.

CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_order_release_date
    ON movies (release_date, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_release_date_unknown
    ON movies (id) WHERE release_date IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_order_rating_asc
    ON movies ((coalesce(vote_average, 11)), (coalesce(- vote_count, 1)), id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_order_rating_desc
    ON movies ((coalesce(vote_average, -1)), (coalesce(vote_count, -1)), id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_order_vote_count
    ON movies (vote_count, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_vote_count_unknown
    ON movies (id) WHERE vote_count IS NULL;
-- Most revenues are unknown: the NULL stretch walks the primary key, the index holds the rest.
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_order_revenue
    ON movies (revenue, id) WHERE revenue IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_order_title
    ON movies (title, id);

-- language= alone or with years (the seed's pair): one language's release dates in order, and
-- with the rating columns, so `language + release_year + sort_by=vote_average` sorts one
-- language-year slice from the index alone.
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_filter_language
    ON movies (original_language, release_date, id) INCLUDE (vote_average, vote_count);
-- genre_id=: a handful of values, so B-tree deduplication keeps it small.
CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_filter_genre
    ON movies (genre_id);

DROP INDEX CONCURRENTLY IF EXISTS movies_id_sorted;
DROP INDEX CONCURRENTLY IF EXISTS movies_release_date_asc;
DROP INDEX CONCURRENTLY IF EXISTS movies_release_date_desc;
DROP INDEX CONCURRENTLY IF EXISTS movies_vote_average_asc;
DROP INDEX CONCURRENTLY IF EXISTS movies_vote_average_desc;
DROP INDEX CONCURRENTLY IF EXISTS movies_vote_count_asc;
DROP INDEX CONCURRENTLY IF EXISTS movies_vote_count_desc;
DROP INDEX CONCURRENTLY IF EXISTS movies_revenue_asc;
DROP INDEX CONCURRENTLY IF EXISTS movies_revenue_desc;
DROP INDEX CONCURRENTLY IF EXISTS movies_title_id;
DROP INDEX CONCURRENTLY IF EXISTS movies_language_release_date;
DROP INDEX CONCURRENTLY IF EXISTS movies_genre_id;

-- `q=` estimates: the planner judges a title pattern by the column's statistics, and with the
-- default 100 a common word ("love") looked rare, so a bitmap scan read every match to sort
-- them; 400 sees it and walks the sort index instead (ANALYZE samples 120,000 rows, ~1.5 s for
-- 1M movies).
ALTER TABLE movies ALTER COLUMN title SET STATISTICS 400;
