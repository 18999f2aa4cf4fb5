-- The movie catalogue, the upload records and the per-row rejections.
-- depends:

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE uploads (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    filename         text        NOT NULL,
    source           text        NOT NULL CHECK (source IN ('cli', 'api', 's3')),
    content_sha256   text        CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes       bigint      CHECK (size_bytes >= 0),
    storage_uri      text,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    max_error_rate   real        CHECK (max_error_rate BETWEEN 0 AND 1),
    -- outcome: received = inserted + updated + unchanged + rejected once completed
    received         bigint,
    inserted         bigint,
    updated          bigint,
    unchanged        bigint,
    rejected         bigint,
    ignored_columns  text[]      NOT NULL DEFAULT '{}',
    error            text,
    -- progress while processing, written outside the publishing transaction
    rows_read        bigint      NOT NULL DEFAULT 0,
    bytes_read       bigint      NOT NULL DEFAULT 0,
    -- who works on it: a lease renewed by heartbeats, taken over once expired
    attempts         integer     NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uploads_counts_add_up CHECK (
        status <> 'completed'
        OR received = inserted + updated + unchanged + rejected
    )
);

-- The same content is recognised and not processed twice.
CREATE UNIQUE INDEX uploads_content_sha256_key ON uploads (content_sha256);
CREATE INDEX uploads_newest_first ON uploads (created_at DESC, id DESC);
CREATE INDEX uploads_unfinished ON uploads (status) WHERE status IN ('pending', 'processing');

CREATE TABLE movies (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title                 text     NOT NULL CHECK (title <> '' AND length(title) <= 500),
    original_title        text,
    original_language     text,
    overview              text,
    release_date          date,
    release_year          smallint GENERATED ALWAYS AS (date_part('year', release_date)::smallint) STORED,
    budget                bigint   CHECK (budget > 0),
    revenue               bigint   CHECK (revenue > 0),
    runtime               integer  CHECK (runtime >= 0),
    status                text,
    vote_average          real     CHECK (vote_average BETWEEN 0 AND 10),
    vote_count            integer  CHECK (vote_count >= 0),
    production_company_id bigint   CHECK (production_company_id >= 0),
    genre_id              bigint   CHECK (genre_id >= 0),
    homepage              text,
    languages             text[]   NOT NULL DEFAULT '{}',
    last_upload_id        uuid     REFERENCES uploads (id),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- The natural key: overlapping files update rather than duplicate (docs/data.md).
    CONSTRAINT movies_natural_key UNIQUE NULLS NOT DISTINCT (title, release_date, original_language)
);

CREATE TABLE upload_rejections (
    upload_id   uuid   NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    line        bigint NOT NULL,
    column_name text,
    reason      text   NOT NULL,
    raw_record  text   NOT NULL,
    PRIMARY KEY (upload_id, line)
);
