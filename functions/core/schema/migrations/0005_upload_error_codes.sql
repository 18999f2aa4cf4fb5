-- A failed upload says why with a stable code and a message for people (issue 15 item 11).
-- depends: 0004_staged_uploads
--
-- `error` used to carry the exception text of an unexpected failure (`DataError: ...`,
-- `OSError: [Errno 28] ...`, hosts and ports): public through GET /uploads. Now `error_code`
-- is a stable name (functions/core/ingest/pipeline.py `failure_of`), `error` a message for
-- people, and the details go to the log only.

ALTER TABLE uploads ADD COLUMN error_code text;

-- Failures recorded before: the two a person can act on keep their message; any other
-- message was an exception's text, and is replaced (it was logged when it happened).
UPDATE uploads
   SET error_code = CASE
           WHEN error LIKE 'invalid CSV header:%' THEN 'invalid_csv_header'
           WHEN error LIKE 'the file''s lines end with CR alone%' THEN 'unsupported_line_endings'
           WHEN error LIKE '% rows rejected (%), over the allowed error rate of %'
               THEN 'too_many_rejected_rows'
           ELSE 'internal_error'
       END
 WHERE error IS NOT NULL;
UPDATE uploads
   SET error = 'the upload could not be processed because of an internal error'
 WHERE error_code = 'internal_error';
