-- Staged, reviewable, reversible uploads (docs/uploads.md).
-- depends: 0003_s3_objects
--
-- An upload now parses and validates its rows into staging tables of its own (schema
-- `staging`, functions/core/ingest/staging.py), computes what it would change, and only its
-- publish touches `movies`. A completed upload keeps what it changed in `movie_changes`
-- (functions/core/ingest/publish.py), so it can be reverted.

CREATE SCHEMA IF NOT EXISTS staging;

ALTER TABLE uploads DROP CONSTRAINT uploads_status_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_status_check CHECK (
    status IN ('pending', 'processing', 'validated', 'publishing', 'completed', 'failed',
               'cancelled', 'reverted')
);
ALTER TABLE uploads DROP CONSTRAINT uploads_counts_add_up;
ALTER TABLE uploads ADD CONSTRAINT uploads_counts_add_up CHECK (
    status NOT IN ('validated', 'publishing', 'completed', 'reverted')
    OR received = inserted + updated + unchanged + rejected
);

ALTER TABLE uploads
    -- stop at `validated` for a person to review the change set before it is published
    ADD COLUMN review            boolean     NOT NULL DEFAULT false,
    -- the catalogue version the change set was computed against (catalogue_state.version)
    ADD COLUMN validated_version bigint,
    ADD COLUMN validated_at      timestamptz,
    ADD COLUMN published_at      timestamptz,
    ADD COLUMN cancelled_at      timestamptz,
    ADD COLUMN reverted_at       timestamptz,
    -- what a revert undid: movies removed (the upload inserted them), movies restored
    ADD COLUMN removed           bigint,
    ADD COLUMN restored          bigint;

DROP INDEX uploads_unfinished;
CREATE INDEX uploads_unfinished ON uploads (status)
    WHERE status IN ('pending', 'processing', 'publishing');

-- The catalogue's version: every publish and every revert advances it (one row).
CREATE TABLE catalogue_state (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint  NOT NULL
);
INSERT INTO catalogue_state (id, version) VALUES (true, 0);

-- What each completed upload changed: the movies it inserted, and for those it updated the
-- row before and after. Kept for MOVIEDB_HISTORY_DAYS after the publish (a revert needs it).
CREATE TABLE movie_changes (
    upload_id         uuid   NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    movie_id          bigint NOT NULL,
    change            text   NOT NULL CHECK (change IN ('inserted', 'updated')),
    title             text   NOT NULL,
    release_date      date,
    original_language text,
    before            jsonb,  -- updated: the movie's values before the publish
    after             jsonb,  -- updated: the values the publish wrote
    PRIMARY KEY (upload_id, change, movie_id)
);
