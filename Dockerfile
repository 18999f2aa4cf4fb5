# syntax=docker/dockerfile:1
# The one image for every long-running process of the docker-compose stack: the API (uvicorn),
# the Celery worker, the S3-event poller and the one-shot migration. Two stages: `build` installs
# the dependencies listed in pyproject.toml into a virtualenv; `runtime` is python-slim with that
# virtualenv with the package installed in it (code, SQL migrations), running as an
# unprivileged user. No secret is baked in: configuration comes from
# the environment (see .env.example).

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself, installed as a wheel (not editable): what runs is what the package
# carries, the SQL migrations (package data) and the poller included, exactly as
# `pip install .` gives it. pip compiles its bytecode: the unprivileged user could not write it.
COPY README.md ./
COPY functions ./functions
RUN pip install --no-deps --no-cache-dir . \
    && rm -rf /app/functions /app/build


FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="moviedb" \
      org.opencontainers.image.description="Movie database service: API, Celery worker, S3-event poller"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MOVIEDB_DATA_DIR=/data
RUN groupadd --system --gid 10001 moviedb \
    && useradd --system --uid 10001 --gid moviedb --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin moviedb \
    && mkdir -p /data \
    && chown moviedb:moviedb /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/ping', timeout=4)"]
CMD ["moviedb", "serve", "--host", "0.0.0.0", "--port", "8000"]
