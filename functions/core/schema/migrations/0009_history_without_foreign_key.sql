-- `movie_changes` (what each publish changed, for review and revert) without its foreign key to
-- `uploads` (docs/uploads.md, "History without a foreign key"; publish.py owns the table).
-- depends: 0008_count_cache
--
-- A publish writes one history row per movie it inserts or updates, and PostgreSQL checks a
-- foreign key row by row: 3.5 s of a 1M-movie first load (bench/ingest.py). The key guarded
-- nothing the publish does not already guarantee: history rows are written only by the publish
-- of an upload, in the transaction that completes that upload's own row, and the only uploads
-- ever deleted are pending ones (functions/core/uploads/records.py, discard_pending_upload),
-- which have no history. The primary key (upload_id, change, movie_id) stays.

ALTER TABLE movie_changes DROP CONSTRAINT IF EXISTS movie_changes_upload_id_fkey;
