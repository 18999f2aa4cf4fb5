"""The S3 door: the one S3 client (client), S3 event notifications (events), objects that land in
the bucket becoming uploads (intake) and presigned uploads (presign)."""
