"""The upload lifecycle: the one owner of the tables `uploads`, `upload_rejections` and
`s3_objects` (records), the statuses an upload moves through (status), and the recovery of
uploads whose worker stopped (recovery)."""
