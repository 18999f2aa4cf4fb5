"""Telling people when an upload is done. Every state change people may want to hear about is
written to the outbox (`upload_events`) by functions/core/uploads/records.py in the same
transaction as the change; from there `sender` fans each event out to the registered webhooks
(`webhooks`: the one owner of `webhooks`, `webhook_deliveries`, `webhook_attempts`) and to SNS,
and delivers them with retries. `targets` refuses webhook URLs that point inside the network,
`signing` signs the bodies, `stream` serves an upload's live event stream (SSE)."""
