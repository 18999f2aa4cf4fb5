-- `movies` and `movie_changes` without their foreign keys to `uploads` (docs/uploads.md,
-- "No foreign keys from the catalogue to uploads"; publish.py and rebuild.py write both tables).
-- depends: 0008_count_cache
--
-- Both keys guarded nothing the publish does not already guarantee: `movies.last_upload_id` and
-- the history rows are written only by the publish of an upload (or a revert, from that
-- history), in the transaction that completes that upload's own row, and the only uploads ever
-- deleted are pending ones (functions/core/uploads/records.py, discard_pending_upload), which
-- have published nothing. Their costs were real:
-- - PostgreSQL checks a foreign key row by row: 3.5 s of a 1M-movie load for the history, as
--   much again for each movie a row-by-row publish inserts;
-- - a rebuild (rebuild.py) adding the key to `movies_next` locks `uploads` against writes until
--   its commit, while it waits to swap the tables: an upload validating beside it, which has
--   read `movies` and then records its validation in `uploads`, deadlocked with it.
-- The primary keys stay.

ALTER TABLE movie_changes DROP CONSTRAINT IF EXISTS movie_changes_upload_id_fkey;
ALTER TABLE movies DROP CONSTRAINT IF EXISTS movies_last_upload_id_fkey;
