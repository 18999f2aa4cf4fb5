-- Telling people when an upload is done: the outbox of upload events, webhooks and their
-- deliveries (functions/core/events/).
-- depends: 0004_staged_uploads
--
-- Every state change people may want to hear about writes its event here in the same
-- transaction as the change (functions/core/uploads/records.py): no event is lost when a
-- process dies, and none is written for a change that rolled back. Senders read from here.

CREATE TABLE upload_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upload_id   uuid        NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    event       text        NOT NULL CHECK (event IN ('upload.validated', 'upload.completed',
                                                       'upload.failed', 'upload.cancelled',
                                                       'upload.reverted')),
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- the upload row as the change left it (shaped as the API's upload at send time)
    upload      jsonb       NOT NULL,
    -- when the sender fanned it out to the webhooks (and SNS): NULL until then
    dispatched_at timestamptz
);
CREATE INDEX upload_events_to_dispatch ON upload_events (id) WHERE dispatched_at IS NULL;

CREATE TABLE webhooks (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    url        text        NOT NULL,
    secret     text        NOT NULL,
    events     text[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One delivery per (webhook, event): its id is the X-Moviedb-Delivery of every attempt.
CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id      uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        bigint      NOT NULL REFERENCES upload_events (id) ON DELETE CASCADE,
    upload_id       uuid        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

-- Every attempt of a delivery (a redelivery starts counting its attempts again).
CREATE TABLE webhook_attempts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    status_code  integer,
    error        text,
    duration_ms  integer     NOT NULL
);
CREATE INDEX webhook_attempts_of_delivery ON webhook_attempts (delivery_id, attempted_at);
