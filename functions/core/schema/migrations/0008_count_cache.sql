-- The listing's exact counts, shared by every process of a deployment (docs/api-movies.md,
-- "Counts"; functions/core/catalogue/count_store.py is the one owner of this table).
-- depends: 0006_events
--
-- One row per (catalogue version, filter fingerprint): a publish or a revert advances the
-- version, so every older row is unreachable at once, and is deleted later. UNLOGGED: no WAL
-- (cheap to write, not replicated, emptied by a crash recovery), which is right for a cache
-- whose rows can always be counted again. A count is reused until `expires_at`
-- (MOVIEDB_COUNT_CACHE_SECONDS after it was made).

CREATE UNLOGGED TABLE count_cache (
    catalogue_version bigint      NOT NULL,
    filter_key        text        NOT NULL,
    total             bigint      NOT NULL CHECK (total >= 0),
    expires_at        timestamptz NOT NULL,
    PRIMARY KEY (catalogue_version, filter_key)
);
