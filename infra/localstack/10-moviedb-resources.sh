#!/bin/sh
# LocalStack READY hook (mounted into /etc/localstack/init/ready.d by docker-compose.yml):
# create the bucket, the ingest queue, its dead-letter queue and the bucket notification with
# the same script the local runner uses (infra/s3_resources.py, boto3 only). A failure here
# marks the hook as failed, and the compose health check of `localstack` then stays unhealthy.
set -eu
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
# LocalStack's own interpreter has boto3; fall back to whatever python3 is on PATH.
PYTHON=/opt/code/localstack/.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" /opt/moviedb/infra/s3_resources.py
