-- The default order's index also holds what a title search with a vote floor checks
-- (docs/api-movies.md "Indexes"): `q` + `min_votes` in the default order (release date, newest
-- first) walks this index, and with `title` and `vote_count` in it that walk is an index-only
-- scan: the rows that fail the filter are not read. `bench/api.py` on 2M movies: the request
-- was the one listing request under 30% of `/ping`'s throughput (docs/benchmarks.md).
-- depends: 0009_catalogue_without_foreign_keys
-- transactional: false
--
-- Built CONCURRENTLY under another name, the old one dropped CONCURRENTLY, then renamed: readers
-- keep an index for the order throughout and writers are never blocked. A run interrupted at
-- any point ends right when run again (IF [NOT] EXISTS; an INVALID leftover is dropped by
-- `migrate` first).

CREATE INDEX CONCURRENTLY IF NOT EXISTS movies_order_release_date_covering
    ON movies (release_date, id) INCLUDE (vote_count, title);
DROP INDEX CONCURRENTLY IF EXISTS movies_order_release_date;
ALTER INDEX IF EXISTS movies_order_release_date_covering RENAME TO movies_order_release_date;
