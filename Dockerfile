# The pipeline image: `push-consumer run` by default; the same image runs the simulators
# (`simulate azure|responsys`) in docker-compose.yml. Configure it with PUSH_* env vars and
# a settings file named by PUSH_CONFIG (see docs/deploy.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY consumer ./consumer
# consumer/avro/avsc links to schemas/: the wheel carries the schemas as package data.
COPY schemas ./schemas
RUN pip install . \
    && python -c 'from consumer.avro import SchemaSet; SchemaSet.load()' \
    && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /app --create-home push
USER push
WORKDIR /app

EXPOSE 9464
# Liveness of the pipeline's loops; the port follows PUSH_METRICS__PORT (default 9464).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PUSH_METRICS__PORT', '9464'), timeout=4)"]

ENTRYPOINT ["push-consumer"]
CMD ["run"]
