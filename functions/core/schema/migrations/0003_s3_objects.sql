-- The S3 identity of uploads that arrive through the bucket (presigned or dropped by hand).
-- depends: 0001_schema
--
-- A table beside `uploads` rather than columns on it: every reader of `uploads` maps its rows
-- as they are, and an S3 object's identity is only known to the S3 door. An S3 upload leaves
-- uploads.content_sha256 NULL (nothing has read the object when its event arrives), so the
-- content dedupe of the other doors is untouched; the S3 door recognises an object by bucket,
-- key, ETag and version id instead.

CREATE TABLE s3_objects (
    upload_id   uuid        PRIMARY KEY REFERENCES uploads (id) ON DELETE CASCADE,
    bucket      text        NOT NULL,
    key         text        NOT NULL,
    -- NULL while a presigned upload waits for its object; set by the object's first event.
    etag        text,
    version_id  text,
    size_bytes  bigint      CHECK (size_bytes >= 0),
    event_time  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    arrived_at  timestamptz,
    CONSTRAINT s3_objects_arrival CHECK ((etag IS NULL) = (arrived_at IS NULL))
);

-- One upload per object version: an event delivered twice finds the upload of the first.
-- NULLS NOT DISTINCT: one presigned upload awaits a key at a time, and an unversioned bucket's
-- objects (version_id NULL) are still told apart by ETag.
CREATE UNIQUE INDEX s3_objects_identity
    ON s3_objects (bucket, key, etag, version_id) NULLS NOT DISTINCT;
